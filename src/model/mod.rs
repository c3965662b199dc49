//! The FP32 model with PyTorch's `nn.LSTM` / `nn.Linear` / `nn.Embedding` semantics, its seeded initialisation,
//! and its safetensors format with PyTorch's state_dict names.

mod dims;
mod embedding;
mod init;
mod io;
mod linear;
mod recurrent;
mod timed_choice;

pub use crate::io::Cell;
pub use dims::{
    FEATURE_LIMIT, HEAD_LIMIT, LAYER_LIMIT, Limit, MAX_FEATURES, MAX_LAYERS, MAX_PARAMETERS,
    ModelDims,
};
pub use embedding::Embedding;
pub use init::{random_inputs, random_model};
pub(crate) use io::{
    fp32_tensors, lstm_tensors, named_linear_maps, read_float_lstm, read_fp32, read_lstm,
};
pub use io::{load_fp32, parse_fp32};
pub use linear::{Linear, LinearOp, LinearScratch, StepAhead};
pub use recurrent::{Recurrent, RecurrentLayer, RecurrentOutput, RecurrentState, Workspace};

/// The FP32 model: an LSTM whose every linear map is an f32 [`Linear`].
pub type FloatModel = Recurrent<Linear>;
