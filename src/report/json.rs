//! The JSON exporter: the [`Report`] serialized as it is, pretty-printed.

use super::Report;

/// `report` as one pretty-printed JSON object, newline-terminated.
pub fn to_json(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("a report is plain data");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contracts_fields_are_present() {
        let v: serde_json::Value =
            serde_json::from_str(&to_json(&super::super::tests::sample())).unwrap();
        assert!(v["dynq_version"].is_string());
        for key in ["cpu", "kernel"] {
            assert!(v["machine"][key].is_string(), "{key}");
        }
        assert!(v["machine"]["cores"].is_u64());
        let run = &v["runs"][1];
        for key in [
            "input_size",
            "hidden_size",
            "seq_len",
            "batch",
            "num_layers",
            "threads",
            "seed",
        ] {
            assert!(run["config"][key].is_u64(), "{key}");
        }
        let int8 = &run["variants"][1];
        assert_eq!(int8["name"], "int8");
        assert!(int8["size_bytes"].is_u64());
        for key in ["min", "p50", "p90", "p99", "max", "mean"] {
            assert!(int8["latency_us"][key].is_f64(), "{key}");
        }
        assert!(int8["latency_us"]["samples"].is_u64());
        for key in [
            "output_mean_abs",
            "diff_mean_abs",
            "diff_pct",
            "diff_max_abs",
        ] {
            assert!(int8[key].is_f64(), "{key}");
        }
    }
}
