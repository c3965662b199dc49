//! dynq: an FP32 LSTM and its dynamically quantized twins, computed exactly as PyTorch computes
//! them, plus the benchmarking engine, reports and dashboard built on top.
//!
//! The engine (`model`, `quant`, `kernels`) never touches the terminal.

pub mod bench;
pub mod check;
pub mod error;
pub mod format;
pub mod kernels;
pub mod metrics;
pub mod model;
pub mod quant;
pub mod recipe;
pub mod report;
pub mod scenario;
pub mod tensor;
pub mod tui;

pub use error::{DynqError, Result};
pub use kernels::{Execution, Kernel, KernelChoice, RunOptions};
pub use model::{Linear, Lstm, LstmModel, LstmOutput, LstmState, ModelDims, Workspace};
pub use quant::{Model, QLinear, Scheme, quantize_dynamic};
