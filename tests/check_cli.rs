//! `dynq check` on every reference case, its JSON, and its exit codes.

mod common;

use common::{CASES, fixture};
use safetensors::SafeTensors;
use safetensors::tensor::TensorView;

fn dynq(args: &[&str]) -> std::process::Output {
    common::dynq_command()
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn every_case_passes_and_the_json_lists_every_variant() {
    for case in CASES {
        let path = fixture(case);
        let out = dynq(&["check", path.to_str().unwrap(), "--json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let variants = json["variants"].as_array().unwrap();
        let names: Vec<&str> = variants
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["fp32", "int8", "int8_per_channel", "fp16", "int8_qnnpack"],
            "{case}"
        );
        for v in variants {
            assert_eq!(v["pass"], true, "{case}: {v}");
            let max = v["max_abs_diff"].as_f64().unwrap();
            let mean = v["mean_abs_diff"].as_f64().unwrap();
            assert!((0.0..1e-4).contains(&max) && mean <= max, "{case}: {v}");
            let int8 = v["name"].as_str().unwrap().starts_with("int8");
            assert_eq!(
                v["weights_equal"],
                if int8 {
                    serde_json::json!(true)
                } else {
                    serde_json::Value::Null
                }
            );
        }
    }
}

#[test]
fn the_table_names_each_variant_and_its_result() {
    let out = dynq(&["check", fixture("odd_shapes").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for name in ["fp32", "int8", "int8_per_channel", "fp16", "int8_qnnpack"] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(name) && l.ends_with("pass")),
            "{text}"
        );
    }
}

#[test]
fn unreadable_files_exit_2_with_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.safetensors");
    let out = dynq(&["check", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("missing.safetensors") && err.lines().count() == 1,
        "{err}"
    );

    let bytes = std::fs::read(fixture("recipe_dim8")).unwrap();
    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let out = dynq(&["check", truncated.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("truncated.safetensors") && err.contains("safetensors"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_case_that_disagrees_with_pytorch_exits_1() {
    // x86's int8 and ARM's int8_qnnpack, each failing alone.
    for (variant, expected) in [
        ("int8", [true, false, true, true, true]),
        ("int8_qnnpack", [true, true, true, true, false]),
    ] {
        disagreeing_variant_fails_alone(variant, expected);
    }
}

/// Rewrites the fixture with PyTorch's output of `variant` nudged by 1e-3 in one place, and
/// checks that `dynq check` fails that variant only.
fn disagreeing_variant_fails_alone(variant: &str, expected: [bool; 5]) {
    let bytes = std::fs::read(fixture("recipe_dim8")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .map(|(name, t)| (name, t.dtype(), t.shape().to_vec(), t.data().to_vec()))
        .collect();
    let target = owned
        .iter_mut()
        .find(|t| t.0 == format!("{variant}.lstm_output"))
        .unwrap();
    let v = f32::from_le_bytes(target.3[..4].try_into().unwrap()) + 1e-3;
    target.3[..4].copy_from_slice(&v.to_le_bytes());
    let views: Vec<(String, TensorView<'_>)> = owned
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tampered.safetensors");
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();

    let out = dynq(&["check", path.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pass: Vec<bool> = json["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["pass"].as_bool().unwrap())
        .collect();
    assert_eq!(pass, expected, "{variant}");
}
