//! The CSV exporter: a header row, then one row per (step, variant) with the JSON's fields
//! flattened.

use std::fmt::Write;

use super::Report;

/// The header row's columns.
pub const COLUMNS: [&str; 25] = [
    "step",
    "input_size",
    "hidden_size",
    "seq_len",
    "batch",
    "num_layers",
    "head",
    "threads",
    "seed",
    "kernel",
    "variant",
    "size_bytes",
    "size_ratio",
    "latency_us_min",
    "latency_us_p50",
    "latency_us_p90",
    "latency_us_p99",
    "latency_us_max",
    "latency_us_mean",
    "samples",
    "speedup_p50",
    "output_mean_abs",
    "diff_mean_abs",
    "diff_pct",
    "diff_max_abs",
];

/// `report` as CSV (every field is a number or a variant name: nothing needs quoting).
pub fn to_csv(report: &Report) -> String {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    for (k, run) in report.runs.iter().enumerate() {
        let c = &run.config;
        for v in &run.variants {
            let l = &v.latency_us;
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                k + 1,
                c.input_size,
                c.hidden_size,
                c.seq_len,
                c.batch,
                c.num_layers,
                c.head,
                c.threads,
                c.seed,
                c.kernel,
                v.name,
                v.size_bytes,
                v.size_ratio,
                l.min,
                l.p50,
                l.p90,
                l.p99,
                l.max,
                l.mean,
                l.samples,
                v.speedup_p50,
                v.accuracy.output_mean_abs,
                v.accuracy.diff_mean_abs,
                v.accuracy.diff_pct,
                v.accuracy.diff_max_abs,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_step_and_variant_under_a_header() {
        let text = to_csv(&super::super::tests::sample());
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), 1 + 2 * 2);
        assert_eq!(rows[0], COLUMNS);
        assert!(rows.iter().all(|r| r.len() == COLUMNS.len()));
        assert_eq!(&rows[4][..3], ["2", "16", "16"]);
        assert_eq!(rows[4][10], "int8");
        assert_eq!(rows[4][12], "4");
        assert_eq!(rows[4][14], "8");
    }
}
