//! GRUs and bidirectional layers where a user meets them: weight files under every naming
//! scheme, their errors, and the command line.

mod common;

use std::process::Output;

use common::fixture;
use dynq::check::ReferenceCase;
use dynq::model::{Cell, load_fp32, parse_fp32, random_inputs, random_model};
use dynq::{Model, ModelDims, Scheme, quantize_dynamic};
use safetensors::tensor::TensorView;

fn dynq(args: &[&str]) -> Output {
    common::dynq_command()
        .args(args)
        .output()
        .expect("dynq runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The fixture `case`'s FP32 model tensors, renamed by `rename` (`None` drops a tensor).
fn renamed(case: &str, rename: impl Fn(&str) -> Option<String>) -> Vec<u8> {
    let bytes = std::fs::read(fixture(case)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let model_tensor = |n: &str| {
        ["lstm.", "gru.", "fc."].iter().any(|p| n.starts_with(p)) && !n.ends_with(".int8")
    };
    let kept: Vec<(String, TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| model_tensor(n))
        .filter_map(|(n, t)| rename(&n).map(|n| (n, t)))
        .collect();
    safetensors::serialize(kept, None).unwrap()
}

fn error_of(bytes: &[u8]) -> String {
    parse_fp32(bytes, "model.safetensors")
        .unwrap_err()
        .to_string()
}

#[test]
fn gru_and_bidirectional_models_load_under_every_naming_scheme() {
    for case in ["gru_odd_shapes", "bigru_odd_shapes", "bilstm_odd_shapes"] {
        let original = load_fp32(&fixture(case)).unwrap();
        let dims = original.dims();
        // Bare names (the cell then comes from weight_hh_l0's shape) and RNNModel's `rnn.`.
        let prefix = format!("{}.", dims.cell.name());
        for new_prefix in ["", "rnn."] {
            let bytes = renamed(case, |n| {
                let n = n.replacen(&prefix, new_prefix, 1);
                // RNNModel names its head `decoder`; a bare state_dict has none.
                match (new_prefix, n.strip_prefix("fc.")) {
                    ("", Some(_)) => None,
                    ("rnn.", Some(rest)) => Some(format!("decoder.{rest}")),
                    _ => Some(n),
                }
            });
            let model = parse_fp32(&bytes, case).unwrap();
            let expected_head = if new_prefix.is_empty() { 0 } else { dims.head };
            assert_eq!(
                model.dims(),
                ModelDims {
                    head: expected_head,
                    ..dims
                },
                "{case} as '{new_prefix}'"
            );
            assert_eq!(model.layers(), original.layers(), "{case}");
        }
    }
}

#[test]
fn a_reverse_direction_missing_a_tensor_is_named() {
    let bytes = renamed("bigru_odd_shapes", |n| {
        (n != "gru.weight_hh_l1_reverse").then(|| n.to_string())
    });
    let err = error_of(&bytes);
    assert!(
        err.contains("model.safetensors") && err.contains("'gru.weight_hh_l1_reverse'"),
        "{err}"
    );
}

#[test]
fn a_state_dict_mixing_cells_is_refused_naming_the_tensor() {
    // Two models' layers in one file.
    let lstm = std::fs::read(fixture("odd_shapes")).unwrap();
    let lstm = safetensors::SafeTensors::deserialize(&lstm).unwrap();
    let gru = std::fs::read(fixture("gru_odd_shapes")).unwrap();
    let gru = safetensors::SafeTensors::deserialize(&gru).unwrap();
    let both: Vec<(String, TensorView<'_>)> = lstm
        .tensors()
        .into_iter()
        .chain(gru.tensors())
        .filter(|(n, _)| n.starts_with("lstm.") || n.starts_with("gru."))
        .filter(|(n, _)| !n.ends_with(".int8"))
        .collect();
    let err = error_of(&safetensors::serialize(both, None).unwrap());
    assert!(
        err.contains("more than one model")
            && err.contains("'lstm.weight_ih_l0'")
            && err.contains("'gru.weight_ih_l0'"),
        "{err}"
    );
    // A GRU's second layer under an LSTM's names: its shape gives it away.
    let mixed = renamed("gru_odd_shapes", |n| {
        if n.contains("_l0") || n.starts_with("fc.") {
            None
        } else {
            Some(n.replacen("gru.", "lstm.", 1).replace("_l1", "_l0"))
        }
    });
    // lstm.weight_ih_l0 [21, 7] reads as 4 gates of 5 units (21 is not a multiple of 4).
    let err = error_of(&mixed);
    assert!(
        err.contains("'lstm.weight_ih_l0'") && err.contains("[21, 7]"),
        "{err}"
    );
}

#[test]
fn every_variant_of_a_gru_and_a_bidirectional_model_round_trips_through_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    for (cell, bidirectional) in [(Cell::Gru, false), (Cell::Lstm, true), (Cell::Gru, true)] {
        let dims = ModelDims {
            input_size: 6,
            hidden_size: 5,
            num_layers: 2,
            head: 3,
            cell,
            bidirectional,
        };
        let fp32 = random_model(dims, 11).unwrap();
        let (input, state) = random_inputs(dims, 4, 2, 11);
        for scheme in Scheme::ALL {
            let model = quantize_dynamic(&fp32, scheme);
            let path = dir
                .path()
                .join(format!("{cell}-{bidirectional}-{scheme}.safetensors"));
            model.save(&path).unwrap();
            let loaded = Model::load(&path).unwrap();
            assert_eq!(loaded, model, "{cell} {bidirectional} {scheme}");
            let (a, b) = (
                model.forward(input.view(), Some(&state)).unwrap(),
                loaded.forward(input.view(), Some(&state)).unwrap(),
            );
            assert_eq!(a, b);
            assert_eq!(a.h_n.dim(), (2 * dims.directions(), 2, 5));
            assert_eq!(a.c_n.dim().2, if cell == Cell::Gru { 0 } else { 5 });
        }
    }
}

#[test]
fn a_gru_file_run_as_an_lstm_is_a_usage_error_naming_the_tensor() {
    let weights = fixture("gru_dim8");
    let weights = weights.to_str().unwrap();
    let out = dynq(&["--weights", weights, "--cell", "lstm", "--report", "-"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("gru_dim8.safetensors")
            && err.contains("'gru.weight_hh_l0'")
            && err.contains("nn.GRU")
            && err.contains("use gru"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let unknown = dynq(&["--cell", "rnn"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("expected one of lstm, gru"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn a_report_of_a_bidirectional_gru_names_its_config_and_file() {
    let args = [
        "--cell",
        "gru",
        "--bidirectional",
        "--dim",
        "12",
        "--seq",
        "4",
        "--duration",
        "0.1",
        "--report",
        "-",
        "--format",
        "json",
    ];
    let out = dynq(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let config = &json["runs"][0]["config"];
    assert_eq!(
        (&config["cell"], &config["bidirectional"]),
        (&"gru".into(), &true.into())
    );
    // A GRU of 12 both ways: 2 directions × (36×12 + 36×12 + 72) f32 weights.
    let fp32 = &json["runs"][0]["variants"][0];
    assert!(fp32["size_bytes"].as_u64().unwrap() > 2 * 936 * 4, "{fp32}");
    // The file's cell is used when --cell is left out.
    let weights = fixture("bigru_odd_shapes");
    let out = dynq(&[
        "--weights",
        weights.to_str().unwrap(),
        "--duration",
        "0.1",
        "--report",
        "-",
        "--format",
        "csv",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.lines().nth(1).unwrap().contains(",gru,true,"), "{csv}");
}

#[test]
fn the_reference_cases_check_from_the_command_line() {
    for case in ["gru_dim8", "bilstm_zero_state", "bigru_large_input"] {
        let path = fixture(case);
        let out = dynq(&["check", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{case}: {}", stderr(&out));
        let table = String::from_utf8(out.stdout).unwrap();
        assert_eq!(table.matches("pass").count(), 5, "{table}");
        let case = ReferenceCase::load(&path).unwrap();
        assert!(case.check().unwrap().pass());
    }
}
