//! Every reference case and variant, through the library, against PyTorch's outputs.

use std::path::PathBuf;

use dynq::Scheme;
use dynq::check::ReferenceCase;

const CASES: [&str; 7] = [
    "recipe_dim8",
    "odd_shapes",
    "head_dim64",
    "dim256",
    "zero_state",
    "large_input",
    "tiny_input",
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}.safetensors"))
}

#[test]
fn every_case_has_all_four_variants_and_passes() {
    for case_name in CASES {
        let case = ReferenceCase::load(&fixture(case_name)).unwrap();
        let schemes: Vec<Scheme> = case.expectations.iter().map(|e| e.scheme).collect();
        assert_eq!(schemes, Scheme::ALL, "{case_name}");
        let report = case.check().unwrap();
        for v in &report.variants {
            eprintln!(
                "{case_name:12} {:18} max {:.3e} mean {:.3e} weights {:?}",
                v.name, v.max_abs_diff, v.mean_abs_diff, v.weights_equal
            );
        }
        for v in &report.variants {
            assert!(v.pass, "{case_name}/{}: {v:?}", v.name);
        }
    }
}
