//! The FP32 model with PyTorch's `nn.LSTM` / `nn.Linear` semantics, its seeded initialisation,
//! and safetensors loading with PyTorch's state_dict names.

mod dims;
mod init;
pub(crate) mod io;
mod linear;
mod lstm;

pub use dims::{
    FEATURE_LIMIT, HEAD_LIMIT, LAYER_LIMIT, Limit, MAX_FEATURES, MAX_LAYERS, MAX_PARAMETERS,
    ModelDims,
};
pub use init::{random_inputs, random_model};
pub(crate) use io::read_file;
pub use io::{fp32_tensors, load_fp32, parse_fp32, write_atomically};
pub use linear::{Linear, LinearOp, LinearScratch};
pub use lstm::{Lstm, LstmLayer, LstmOutput, LstmState, Workspace};

/// The FP32 model: an LSTM whose every linear map is an f32 [`Linear`].
pub type LstmModel = Lstm<Linear>;
