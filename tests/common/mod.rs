//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// Every reference case produced by PyTorch: the LSTM cases copied from shared/reference, and
/// the GRU and bidirectional ones `tools/gen_reference.py` wrote.
pub const CASES: [&str; 18] = [
    "recipe_dim8",
    "odd_shapes",
    "head_dim64",
    "dim256",
    "zero_state",
    "large_input",
    "tiny_input",
    "gru_dim8",
    "gru_odd_shapes",
    "gru_zero_state",
    "gru_large_input",
    "gru_tiny_input",
    "gru_dim64_head",
    "bilstm_odd_shapes",
    "bilstm_zero_state",
    "bilstm_deep",
    "bigru_odd_shapes",
    "bigru_large_input",
];

/// Path of a fixture by case name.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}.safetensors"))
}

/// The dynq binary, its roofline cache in the build folder (measured once there) rather than
/// in the user's cache.
pub fn dynq_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dynq"));
    command.env(
        "DYNQ_CACHE_DIR",
        concat!(env!("CARGO_TARGET_TMPDIR"), "/roofline"),
    );
    command
}
