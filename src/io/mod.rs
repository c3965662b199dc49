//! Files and tensors, below everything else: whole-file reads and atomic writes, safetensors
//! reading and writing, checks on flat buffers, and the one description of PyTorch's
//! state_dict names that every model reader and writer uses.

mod cell;
mod checks;
mod files;
mod state_dict;
mod tensor_file;
mod tensor_writer;

pub use cell::Cell;
pub(crate) use checks::{ensure_finite, ensure_shape};
pub(crate) use files::read_file;
pub use files::write_atomically;
pub(crate) use state_dict::{ENCODER_WEIGHT, LinearName, LinearRole, Projection, StateDictLayout};
pub(crate) use tensor_file::TensorFile;
pub(crate) use tensor_writer::{OwnedTensor, serialize};
