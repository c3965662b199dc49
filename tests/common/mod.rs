//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// Every reference case produced by PyTorch (copied from shared/reference).
pub const CASES: [&str; 7] = [
    "recipe_dim8",
    "odd_shapes",
    "head_dim64",
    "dim256",
    "zero_state",
    "large_input",
    "tiny_input",
];

/// Path of a fixture by case name.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}.safetensors"))
}
