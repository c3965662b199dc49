//! Dynamic quantization as `torch.ao.quantization.quantize_dynamic` does it: weights converted
//! once ahead of time, activations quantized from their observed range on every call.

mod embedding;
mod io;
mod model;
mod params;
mod qlinear;
mod scheme;
mod size;

pub use crate::kernels::{ACTIVATION_QMAX, ActivationParams, choose_activation_params};
pub use embedding::QuantizedEmbedding;
pub use model::{Model, quantize_dynamic};
pub use params::{quantize_weight, weight_scale};
pub use qlinear::QLinear;
pub use scheme::Scheme;
pub use size::{ModuleSize, file_modules, heaviest_unshrunk, module_sizes};
