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
        assert_eq!(run["config"]["cell"], "lstm");
        assert_eq!(run["config"]["bidirectional"], false);
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

    #[test]
    fn task_figures_appear_only_for_a_language_model_on_text() {
        let plain: serde_json::Value =
            serde_json::from_str(&to_json(&super::super::tests::sample())).unwrap();
        let run = &plain["runs"][0];
        for absent in [
            &run["task"],
            &run["config"]["data"],
            &run["variants"][1]["task"],
        ] {
            assert!(absent.is_null(), "{run}");
        }
        let v: serde_json::Value =
            serde_json::from_str(&to_json(&super::super::tests::sample_with_task())).unwrap();
        let run = &v["runs"][0];
        assert_eq!(run["config"]["data"], "val.txt");
        assert_eq!(run["config"]["eval_batch"], 1);
        assert_eq!(run["config"]["bptt"], 25);
        assert_eq!(run["config"]["prompt"], "ROMEO:");
        assert_eq!(run["task"]["tokens_total"], 1000);
        let int8 = &run["variants"][1];
        assert_eq!(int8["task"]["loss"], 1.5012);
        assert_eq!(int8["task"]["top1_agree"], 987);
        for key in [
            "perplexity",
            "bits_per_token",
            "top1_accuracy",
            "top1_agreement",
            "delta_loss",
            "tokens_per_second",
        ] {
            assert!(int8["task"][key].is_f64(), "{key}");
        }
        assert_eq!(int8["generated"], "\nI will not see the seasons");
    }
}
