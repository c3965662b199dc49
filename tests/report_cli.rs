//! The headless `--report` through the binary: JSON contract, Markdown layout (timings
//! redacted), CSV, and the errors for bad presets and flags. No test asserts a timing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

/// Two tiny steps with every variant; the tests shorten them further with --duration.
const TINY_PRESET: &str = r#"
name = "tiny"
description = "Two tiny steps for the tests"

[defaults]
seed = 29592
seq_len = 5
schemes = ["fp32", "int8", "int8_per_channel", "fp16", "int8_qnnpack"]
seconds = 1

[[steps]]
dim = 8

[[steps]]
dim = 24
batch = 2
"#;

fn dynq(args: &[&str]) -> Output {
    common::dynq_command()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

fn write_preset(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("tiny.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn json_report_has_every_field_and_sensible_figures() {
    let dir = tempfile::tempdir().unwrap();
    let preset = write_preset(dir.path(), TINY_PRESET);
    let path = dir.path().join("report.json");
    let out = dynq(&[
        "--preset",
        preset.to_str().unwrap(),
        "--duration",
        "0.2",
        "--report",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();

    assert_eq!(json["dynq_version"], env!("CARGO_PKG_VERSION"));
    assert!(!json["machine"]["cpu"].as_str().unwrap().is_empty());
    assert!(json["machine"]["cores"].as_u64().unwrap() >= 1);
    assert!(json["machine"]["kernel"].is_string());
    // The machine's limits, as `dynq roofline` measures them.
    let roofline = &json["roofline"];
    assert_eq!(roofline["levels"].as_array().unwrap().len(), 4);
    for level in roofline["levels"].as_array().unwrap() {
        assert!(level["one_core_gbs"].as_f64().unwrap() > 0.0, "{level}");
    }
    assert!(roofline["int8_gmacs"][0].as_f64().unwrap() > 0.0);
    // The handoff between cores, before the runs (the roofline's) and again after them.
    let multi_core = roofline["cores"].as_u64().unwrap() > 1;
    for handoff in [&roofline["handoff_ns"], &json["handoff_after_ns"]] {
        let ns = handoff.as_f64().unwrap();
        assert!((ns > 0.0) == multi_core && ns < 1e6, "{ns}");
    }

    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let config = &runs[1]["config"];
    let expected = [
        ("input_size", 24),
        ("hidden_size", 24),
        ("seq_len", 5),
        ("batch", 2),
        ("num_layers", 1),
        ("seed", 29592),
    ];
    for (key, value) in expected {
        assert_eq!(config[key], value, "{key}");
    }
    assert!(config["threads"].as_u64().unwrap() >= 1);

    for run in runs {
        let variants = run["variants"].as_array().unwrap();
        let names: Vec<&str> = variants
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["fp32", "int8", "int8_per_channel", "fp16", "int8_qnnpack"]
        );
        // x86's and ARM's answers differ, a little.
        let gap = &run["engine_gap"];
        let (max, mean) = (gap["max_abs_diff"].as_f64(), gap["mean_abs_diff"].as_f64());
        let (max, mean) = (max.unwrap(), mean.unwrap());
        assert!(0.0 < mean && mean <= max && max < 0.1, "{gap}");
        let fp32_size = variants[0]["size_bytes"].as_u64().unwrap();
        for v in variants {
            let name = v["name"].as_str().unwrap();
            let l = &v["latency_us"];
            let p = |k: &str| {
                l[k].as_f64()
                    .unwrap_or_else(|| panic!("{name}: latency_us.{k}"))
            };
            assert!(p("min") > 0.0, "{name}: {l}");
            assert!(p("min") <= p("p50") && p("p50") <= p("p90"), "{name}: {l}");
            assert!(p("p90") <= p("p99") && p("p99") <= p("max"), "{name}: {l}");
            assert!(
                p("min") <= p("mean") && p("mean") <= p("max"),
                "{name}: {l}"
            );
            assert!(l["samples"].as_u64().unwrap() > 0, "{name}: {l}");
            for key in [
                "output_mean_abs",
                "diff_mean_abs",
                "diff_pct",
                "diff_max_abs",
            ] {
                assert!(v[key].as_f64().is_some(), "{name}: {key}");
            }
            assert!(v["output_mean_abs"].as_f64().unwrap() > 0.01, "{name}");
            let size = v["size_bytes"].as_u64().unwrap();
            // The modules (the LSTM layer and the file's header) are the whole file.
            let modules = v["modules"].as_array().unwrap();
            let names: Vec<&str> = modules
                .iter()
                .map(|m| m["name"].as_str().unwrap())
                .collect();
            assert_eq!(names, ["lstm layer 0", "file header"], "{name}");
            let bytes: u64 = modules.iter().map(|m| m["bytes"].as_u64().unwrap()).sum();
            assert_eq!(bytes, size, "{name}");
            let fp32_bytes: u64 = modules
                .iter()
                .map(|m| m["fp32_bytes"].as_u64().unwrap())
                .sum();
            assert_eq!(fp32_bytes, fp32_size, "{name}");
            assert!(modules.iter().all(|m| m["dtype"].is_string()), "{name}");
            // Every variant's floor, what bounds it, and how close the median came to it.
            let floor = v["floor_us"].as_f64().unwrap();
            let p50 = v["latency_us"]["p50"].as_f64().unwrap();
            assert!(floor > 0.0, "{name}: floor {floor}");
            let percent = v["percent_of_limit"].as_f64().unwrap();
            assert!(
                (percent - 100.0 * floor / p50).abs() < 1e-9,
                "{name}: {percent}"
            );
            assert!(v["bound_by"].as_str().unwrap().contains(' '), "{name}");
            let batch = run["config"]["batch"].as_f64().unwrap();
            let rate = v["sequences_per_second"].as_f64().unwrap();
            assert!(
                (rate - batch / (p50 / 1e6)).abs() <= 1e-6 * rate,
                "{name}: {rate}"
            );
            let diff_pct = v["diff_pct"].as_f64().unwrap();
            if name == "fp32" {
                assert_eq!(diff_pct, 0.0);
            } else {
                assert!(
                    fp32_size as f64 / size as f64 > 1.0,
                    "{name}: {size} vs {fp32_size}"
                );
                assert!(diff_pct > 0.0 && diff_pct < 5.0, "{name}: {diff_pct}");
                assert!(
                    v["diff_max_abs"].as_f64().unwrap() >= v["diff_mean_abs"].as_f64().unwrap()
                );
            }
        }
    }
}

/// Replaces what depends on the machine or on timing with placeholders.
fn redact(markdown: &str) -> String {
    let machine = [
        "- CPU",
        "- Kernel",
        "- Threads",
        "- OS",
        "- Limits (`dynq roofline`, all cores)",
    ];
    // The section of the table being read: its rows are redacted by their own columns.
    let mut section = "";
    let mut out = Vec::new();
    for line in markdown.lines() {
        if line.starts_with('#') {
            section = line;
        }
        let mut cells: Vec<&str> = line.split(" | ").collect();
        let row = line.starts_with("| ") && !line.starts_with("| Variant");
        let redacted =
            if let Some((key, _)) = line.split_once(": ").filter(|(k, _)| machine.contains(k)) {
                format!("{key}: [machine]")
            } else if row && section.starts_with("## Step") && cells.len() == 11 {
                // Columns: variant, size, smaller, p50, p90, p99, speed-up, |out|, |diff|, %, samples.
                for k in [3, 4, 5, 6, 10] {
                    cells[k] = "[t]";
                }
                cells.join(" | ") + " |"
            } else if row && section == "### Against this machine's limits" {
                // Columns: variant, p50, floor, % of limit, bound by, sequences/s.
                for cell in &mut cells[1..] {
                    *cell = "[t]";
                }
                cells.join(" | ") + " |"
            } else {
                line.to_string()
            };
        out.push(redacted);
    }
    out.join("\n")
}

#[test]
fn markdown_report_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let preset = write_preset(dir.path(), TINY_PRESET);
    let preset = preset.to_str().unwrap();
    let out = dynq(&["--preset", preset, "--duration", "0.2", "--report", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let markdown = String::from_utf8(out.stdout).unwrap();
    insta::assert_snapshot!(redact(&markdown));
}

#[test]
fn csv_report_and_the_headless_default() {
    let dir = tempfile::tempdir().unwrap();
    let preset = write_preset(dir.path(), TINY_PRESET);
    let preset = preset.to_str().unwrap();
    let path = dir.path().join("r.csv");
    let out = dynq(&[
        "--preset",
        preset,
        "--duration",
        "0.1",
        "--report",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let csv = std::fs::read_to_string(&path).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 1 + 2 * 5);
    assert!(rows[0].starts_with("step,input_size,hidden_size,"));
    assert!(rows[10].starts_with("2,24,24,5,2,1,0,"), "{}", rows[10]);
    assert!(rows[10].contains(",int8_qnnpack,"), "{}", rows[10]);

    // Without --report and with stdout not a terminal: the report, on stdout.
    let out = dynq(&[
        "--dim",
        "4",
        "--seq",
        "3",
        "--duration",
        "0.1",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["preset"], "recipe");
    assert_eq!(json["runs"][0]["config"]["hidden_size"], 4);
    assert_eq!(json["runs"][0]["variants"][1]["name"], "int8");
}

#[test]
fn list_presets_names_every_shipped_preset() {
    let out = dynq(&["--list-presets"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for name in [
        "recipe",
        "dim-sweep",
        "batch-sweep",
        "seq-sweep",
        "depth-sweep",
        "schemes",
        "gru",
        "bidirectional",
    ] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name}: {text}");
    }
    assert!(text.contains("seed 29592"), "{text}");
}

fn assert_usage_error(out: &Output, wanted: &[&str]) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    let err = stderr(out);
    assert!(!err.contains("panicked"), "{err}");
    for w in wanted {
        assert!(err.contains(w), "{w}: {err}");
    }
}

#[test]
fn bad_presets_are_refused_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_preset(
        dir.path(),
        &TINY_PRESET.replace("batch = 2", "batch = \"two\""),
    );
    let out = dynq(&["--preset", bad.to_str().unwrap(), "--report", "-"]);
    assert_usage_error(&out, &["tiny.toml:16:9:", "expected usize"]);
    assert_eq!(stderr(&out).lines().count(), 1);

    let bad = write_preset(dir.path(), &TINY_PRESET.replace("dim = 24", "dims = 24"));
    let out = dynq(&["--preset", bad.to_str().unwrap()]);
    assert_usage_error(
        &out,
        &["tiny.toml:15:1:", "unknown field `dims`", "hidden_size"],
    );

    let out = dynq(&["--preset", "dim-swep"]);
    assert_usage_error(&out, &["unknown preset 'dim-swep'", "dim-sweep"]);

    let missing = dir.path().join("missing.toml");
    let out = dynq(&["--preset", missing.to_str().unwrap()]);
    assert_usage_error(&out, &["missing.toml"]);
}

#[test]
fn bad_flags_are_refused_before_anything_runs() {
    assert_usage_error(&dynq(&["--dim", "0"]), &["--dim", "1 to 16384"]);
    assert_usage_error(
        &dynq(&["--schemes", "int8,int4"]),
        &["--schemes", "int4", "fp16"],
    );
    assert_usage_error(&dynq(&["--duration", "soon"]), &["--duration", "seconds"]);
    assert_usage_error(
        &dynq(&["--duration", "86401"]),
        &["--duration", "above 0 and at most 86400"],
    );
    assert_usage_error(&dynq(&["--seq", "100001"]), &["--seq", "1 to 100000"]);
    assert_usage_error(&dynq(&["--threads", "0"]), &["--threads", "1 to 1024"]);
    assert_usage_error(&dynq(&["--depth", "65"]), &["--depth", "1 to 64"]);
    assert_usage_error(&dynq(&["--format", "xml"]), &["--format", "md"]);
    assert_usage_error(
        &dynq(&["--report", "/no/such/folder/r.md"]),
        &["--report", "/no/such/folder"],
    );
    assert_usage_error(
        &dynq(&["--dim", "16384", "--depth", "64"]),
        &["parameter count"],
    );
    assert_usage_error(
        &dynq(&["--kernel", "neon"]),
        &["--kernel", "neon", "avx512-vnni"],
    );
    assert_usage_error(
        &dynq(&["--schemes", "int8,int4"]),
        &["int4", "int8_qnnpack, int8_embedding"],
    );
}

#[test]
fn int8_embedding_is_refused_for_a_model_without_an_embedding() {
    assert_usage_error(
        &dynq(&["--schemes", "int8_embedding", "--report", "-"]),
        &["int8_embedding", "the random model has none", "--weights"],
    );
    // A weight file of a bare LSTM, which has no `encoder.weight`.
    let weights =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recipe_dim8.safetensors");
    let out = dynq(&[
        "--weights",
        weights.to_str().unwrap(),
        "--schemes",
        "int8,int8_embedding",
        "--report",
        "-",
    ]);
    assert_usage_error(
        &out,
        &["recipe_dim8.safetensors has none", "encoder.weight"],
    );
}

#[test]
fn a_forced_kernel_is_the_one_reported() {
    let out = dynq(&[
        "--kernel",
        "scalar",
        "--dim",
        "8",
        "--seq",
        "3",
        "--duration",
        "0.1",
        "--report",
        "-",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["machine"]["kernel"], "scalar");
    assert_eq!(json["runs"][0]["config"]["kernel"], "scalar");
}

#[test]
fn a_failed_run_leaves_an_existing_report_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.md");
    std::fs::write(&path, "previous report").unwrap();
    let weights = dir.path().join("broken.safetensors");
    std::fs::write(&weights, b"not a safetensors file").unwrap();
    let out = dynq(&[
        "--weights",
        weights.to_str().unwrap(),
        "--report",
        path.to_str().unwrap(),
    ]);
    assert_usage_error(&out, &["broken.safetensors"]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "previous report");
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 2, "no temporary file is left behind");
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    let mut child = common::dynq_command()
        .args(["--report", "-", "--duration", "0.05"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"));
}

#[test]
fn the_crossover_preset_says_where_int8_starts_to_win() {
    // One thread keeps it to 18 points, a hundredth of a second each.
    let sweep = |format| {
        let args = [
            "--preset",
            "crossover",
            "--threads",
            "1",
            "--duration",
            "0.01",
        ];
        dynq(&[&args[..], &["--report", "-", "--format", format]].concat())
    };
    let out = sweep("json");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["runs"].as_array().unwrap().len(),
        18,
        "9 dims × 2 batches"
    );
    let crossover = json["crossover"].as_array().unwrap();
    let keys: Vec<(u64, u64)> = crossover
        .iter()
        .map(|c| (c["threads"].as_u64().unwrap(), c["batch"].as_u64().unwrap()))
        .collect();
    assert_eq!(keys, [(1, 1), (1, 64)]);
    for c in crossover {
        assert_eq!(c["scheme"], "int8");
        assert_eq!(c["shape"], "LSTM, 1 layer, seq 20");
        let points = c["points"].as_array().unwrap();
        let dims: Vec<u64> = points.iter().map(|p| p["dim"].as_u64().unwrap()).collect();
        assert_eq!(dims, [8, 16, 32, 64, 80, 128, 256, 512, 1024]);
        for p in points {
            let (fp32, int8) = (
                p["fp32_p50_us"].as_f64().unwrap(),
                p["p50_us"].as_f64().unwrap(),
            );
            assert!(
                (p["speedup"].as_f64().unwrap() - fp32 / int8).abs() < 1e-9,
                "{p}"
            );
        }
        // From the first dim after the last one where INT8 is not faster, or null.
        let last_slower = points
            .iter()
            .rposition(|p| p["speedup"].as_f64().unwrap() <= 1.0);
        let want = match last_slower {
            None => Some(8),
            Some(k) => points.get(k + 1).map(|p| p["dim"].as_u64().unwrap()),
        };
        assert_eq!(c["from_dim"].as_u64(), want, "{c}");
    }
    let out = sweep("md");
    let markdown = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = markdown
        .lines()
        .filter(|l| l.starts_with("- INT8 (int8) is"))
        .collect();
    assert_eq!(lines.len(), 2, "{markdown}");
    assert!(lines[0].contains("than FP32") && lines[0].contains("at 1 thread, batch 1 "));
    assert!(lines[1].contains("at 1 thread, batch 64 "), "{}", lines[1]);
}
