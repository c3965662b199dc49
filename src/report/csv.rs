//! The CSV exporter: a header row, then one row per (step, variant) with the JSON's fields
//! flattened.

use std::fmt::Write;

use super::Report;
use crate::metrics::TaskAccuracy;

/// The header row's columns.
pub const COLUMNS: [&str; 38] = [
    "step",
    "input_size",
    "hidden_size",
    "seq_len",
    "batch",
    "num_layers",
    "head",
    "cell",
    "bidirectional",
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
    "sequences_per_second",
    "floor_us",
    "percent_of_limit",
    "bound_by",
    "loss",
    "delta_loss",
    "perplexity",
    "bits_per_token",
    "top1_accuracy",
    "top1_agreement",
    "tokens_per_second",
];

/// `report` as CSV (every field is a number or a variant name: nothing needs quoting). The
/// task columns (a language model on text) are empty for runs without them.
pub fn to_csv(report: &Report) -> String {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    for (k, run) in report.runs.iter().enumerate() {
        let c = &run.config;
        for v in &run.variants {
            let l = &v.latency_us;
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                k + 1,
                c.input_size,
                c.hidden_size,
                c.seq_len,
                c.batch,
                c.num_layers,
                c.head,
                c.cell,
                c.bidirectional,
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
                v.sequences_per_second,
                v.floor_us,
                v.percent_of_limit,
                v.bound_by,
                task_columns(v.task.as_ref()),
            );
        }
    }
    out
}

/// The task columns, comma-separated: empty fields without figures.
fn task_columns(task: Option<&TaskAccuracy>) -> String {
    match task {
        Some(t) => [
            t.loss,
            t.delta_loss,
            t.perplexity,
            t.bits_per_token,
            t.top1_accuracy,
            t.top1_agreement,
            t.tokens_per_second,
        ]
        .map(|x| x.to_string())
        .join(","),
        None => ",".repeat(6),
    }
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
        assert_eq!(&rows[4][7..9], ["lstm", "false"]);
        assert_eq!(rows[4][12], "int8");
        assert_eq!(rows[4][14], "4");
        assert_eq!(rows[4][16], "8");
    }

    #[test]
    fn task_columns_are_filled_for_a_language_model_and_empty_otherwise() {
        let text = to_csv(&super::super::tests::sample_with_task());
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
        assert!(rows.iter().all(|r| r.len() == COLUMNS.len()));
        let loss = COLUMNS.iter().position(|&c| c == "loss").unwrap();
        assert_eq!(rows[2][loss], "1.5012");
        assert_eq!(rows[2][loss + 5], "0.987");
        let plain = to_csv(&super::super::tests::sample());
        let row: Vec<&str> = plain.lines().nth(1).unwrap().split(',').collect();
        assert!(row[loss..].iter().all(|f| f.is_empty()));
    }
}
