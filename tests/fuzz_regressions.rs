//! Inputs the fuzzers in `fuzz/` found (minimised where libFuzzer could), kept so the normal
//! test run holds every fix: each must be refused with an error or handled, never a panic.

use std::path::PathBuf;

use dynq::check::ReferenceCase;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `odd_shapes` with inputs and `h0` near f32::MAX: the activation range `max − min` is
/// finite in f64 but the quantized input once rounded past the 7-bit range and tripped the
/// kernels' bound on activations.
#[test]
fn a_reference_case_with_inputs_near_f32_max_runs_without_panicking() {
    let case = ReferenceCase::parse(&fixture("reference_huge_input.safetensors"), "fuzz case")
        .expect("the file is a well-formed reference case");
    let report = case.check().expect("finite inputs run");
    assert!(!report.pass(), "PyTorch's outputs were for other inputs");
}
