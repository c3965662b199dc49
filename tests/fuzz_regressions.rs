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

/// A safetensors file: an 8-byte header length, the JSON header, then `data`.
fn safetensors_bytes(header_len: u64, header: &str, data: &[u8]) -> Vec<u8> {
    [&header_len.to_le_bytes()[..], header.as_bytes(), data].concat()
}

/// Files that claim far more than they hold are refused from their header, before anything
/// of the claimed size is allocated (the fuzzers run under a 512 MB allocation limit).
#[test]
fn files_claiming_huge_sizes_are_refused_before_allocating_them() {
    let huge_shape =
        r#"{"weight_ih_l0":{"dtype":"F32","shape":[4000000000,4000000000],"data_offsets":[0,16]}}"#;
    let huge_offsets =
        r#"{"weight_ih_l0":{"dtype":"F32","shape":[65536,65536],"data_offsets":[0,17179869184]}}"#;
    let cases = [
        (
            "a header length of 2^60",
            safetensors_bytes(1 << 60, "{}", &[]),
        ),
        (
            "a shape of 4e9 x 4e9",
            safetensors_bytes(huge_shape.len() as u64, huge_shape, &[0; 16]),
        ),
        (
            "16 GiB of data in 16 bytes",
            safetensors_bytes(huge_offsets.len() as u64, huge_offsets, &[0; 16]),
        ),
    ];
    for (what, bytes) in cases {
        let error = dynq::lm::ModelFile::parse(&bytes, "huge.safetensors")
            .expect_err(what)
            .to_string();
        assert!(error.contains("huge.safetensors"), "{what}: {error}");
        assert!(
            ReferenceCase::parse(&bytes, "huge.safetensors").is_err(),
            "{what}"
        );
        assert!(
            dynq::Model::from_safetensors(&bytes, "huge.safetensors").is_err(),
            "{what}"
        );
    }
}
