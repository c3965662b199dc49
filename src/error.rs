//! The library's error type.

use std::path::PathBuf;

/// Everything the engine can refuse, each naming what was wrong and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum DynqError {
    /// A dimension is zero or too large to be a sensible model.
    #[error("invalid {what}: {value} ({expected})")]
    InvalidDimension {
        what: &'static str,
        value: usize,
        expected: String,
    },
    /// An input or state tensor does not match the model.
    #[error("shape mismatch for {what}: got {got:?}, expected {expected:?}")]
    ShapeMismatch {
        what: String,
        got: Vec<usize>,
        expected: Vec<usize>,
    },
    /// A tensor holds NaN or infinity where finite values are required.
    #[error("{what} contains a non-finite value (NaN or infinity) at index {index}")]
    NonFinite { what: String, index: usize },
    /// A weight file could not be interpreted.
    #[error("{path}: {message}")]
    WeightFile { path: String, message: String },
    /// A weight file could not be read from disk.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A benchmark run could not go on.
    #[error("benchmark failed: {0}")]
    Benchmark(String),
    /// An option value that is not one of the accepted ones.
    #[error("{0}")]
    Unsupported(String),
    /// The caller asked a run to stop before it finished (a signal, in the binary).
    #[error("interrupted")]
    Interrupted,
}

impl DynqError {
    /// A weight-file error for `path` (a file name, or a description such as `<memory>`).
    pub fn weights(path: impl Into<String>, message: impl Into<String>) -> Self {
        DynqError::WeightFile {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Result with [`DynqError`].
pub type Result<T> = std::result::Result<T, DynqError>;
