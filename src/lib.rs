//! dynq: an FP32 LSTM and its dynamically quantized twins, computed exactly as PyTorch computes
//! them, plus the benchmarking engine, reports and dashboard built on top.
//!
//! The engine (`model`, `quant`, `kernels`) never touches the terminal.
//!
//! The modules form one acyclic order; each uses only modules to its left, never one on its
//! own layer (`tests/module_order.rs` holds the code to it):
//!
//! ```text
//! error → io → kernels → model → quant → metrics → lm → recipe → check, bench → format
//!       → scenario, report → tui
//! ```
//!
//! - `io`: file reading, atomic writes, the safetensors reader and writer, and the one
//!   description of PyTorch's state_dict names that every loader walks;
//! - `kernels`: the SIMD and scalar kernels, activation-parameter arithmetic and the threads
//!   of a forward pass (the only module allowed `unsafe`);
//! - `model`, `quant`: the FP32 model and its quantized twins;
//! - `metrics`: accuracy figures, task figures and every derived ratio;
//! - `lm`: language models (embedding, LSTM, decoder, vocabulary), their evaluation on text;
//! - `recipe`, `check`, `bench`: the recipe's figures, parity with PyTorch, the worker;
//! - `format`, `scenario`, `report`, `tui`: human units, presets, exporters, the dashboard.

pub mod bench;
pub mod check;
pub mod error;
pub mod format;
pub mod io;
// The one module that may use `unsafe` (Cargo.toml denies it everywhere else).
#[allow(unsafe_code)]
pub mod kernels;
pub mod lm;
pub mod metrics;
pub mod model;
pub mod quant;
pub mod recipe;
pub mod report;
pub mod scenario;
pub mod tui;

pub use error::{DynqError, Result};
pub use kernels::{Execution, Kernel, KernelChoice, RunOptions};
pub use model::{
    FloatModel, Linear, ModelDims, Recurrent, RecurrentOutput, RecurrentState, Workspace,
};
pub use quant::{Model, QLinear, Scheme, quantize_dynamic};
