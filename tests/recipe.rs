//! The recipe's own comparison, reproduced on the `recipe_dim8` case and held to PyTorch's.

mod common;

use common::fixture;
use dynq::check::ReferenceCase;
use dynq::metrics::{mean_abs, mean_abs_diff, percent_diff};
use dynq::recipe;
use dynq::{Model, Scheme, quantize_dynamic};

fn pytorch_output(case: &ReferenceCase, scheme: Scheme) -> Vec<f32> {
    let expected = case
        .expectations
        .iter()
        .find(|e| e.scheme == scheme)
        .unwrap();
    expected.outputs[0].1.iter().copied().collect()
}

#[test]
fn the_recipe_figures_match_pytorchs() {
    let case = ReferenceCase::load(&fixture("recipe_dim8")).unwrap();
    assert_eq!(case.metadata["seed"], "29592");
    assert_eq!(case.input.shape(), &[20, 1, 8]);
    let figures = recipe::compare(&case.model, &case.input, &case.state).unwrap();

    let torch_fp32 = pytorch_output(&case, Scheme::Fp32);
    let torch_int8 = pytorch_output(&case, Scheme::Int8);
    let torch_percent = percent_diff(&torch_fp32, &torch_int8);
    assert!(
        (1.1..1.3).contains(&torch_percent),
        "PyTorch's own figure: {torch_percent}"
    );

    let int8 = &figures.int8;
    assert!((figures.fp32.output_mean_abs - mean_abs(&torch_fp32)).abs() < 1e-7);
    assert!((int8.output_mean_abs - mean_abs(&torch_int8)).abs() < 1e-7);
    assert!((int8.diff_mean_abs - mean_abs_diff(&torch_fp32, &torch_int8)).abs() < 1e-7);
    assert!(
        (int8.diff_pct - torch_percent).abs() < 1e-4,
        "{figures:?} vs {torch_percent}"
    );

    // The sizes are those of the files the models serialize to.
    let dir = tempfile::tempdir().unwrap();
    for (scheme, bytes) in [
        (Scheme::Fp32, figures.fp32_bytes),
        (Scheme::Int8, figures.int8_bytes),
    ] {
        let path = dir.path().join(format!("{scheme}.safetensors"));
        assert_eq!(
            quantize_dynamic(&case.model, scheme).save(&path).unwrap(),
            bytes
        );
        assert_eq!(Model::load(&path).unwrap().scheme(), scheme);
    }
    assert!(figures.size_ratio().is_some_and(|r| r > 1.5));

    let text = figures.to_text();
    assert!(
        text.contains(&format!("{:.2} percent", torch_percent)),
        "{text}"
    );
    assert!(text.contains("Size (KB)"), "{text}");
}

#[test]
fn dynqs_own_recipe_run_is_reproducible_and_close_to_pytorchs_error_level() {
    let a = recipe::run_recipe().unwrap();
    assert_eq!(a, recipe::run_recipe().unwrap());
    // Different weights than PyTorch's RNG, same order of quantization error.
    assert!(a.int8.diff_pct > 0.05 && a.int8.diff_pct < 5.0, "{a:?}");
    assert!(a.fp32.output_mean_abs > 0.05);
}
