//! A model in any of the [`Scheme`]s, and `quantize_dynamic` (its file format: `io.rs`).

use ndarray::ArrayView3;

use super::qlinear::QLinear;
use super::scheme::Scheme;
use crate::error::Result;
use crate::kernels::{Engine, Execution, RunOptions};
use crate::model::{
    FloatModel, Linear, ModelDims, Recurrent, RecurrentOutput, RecurrentState, Workspace,
};

/// A runnable model variant: the FP32 original or one of its dynamically quantized twins.
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    /// The f32 model.
    Fp32(FloatModel),
    /// Weights rounded to f16 and computed in f32, as PyTorch's FP16 dynamic quantization does.
    Fp16(FloatModel),
    /// Int8 weights, per tensor or per channel.
    Int8(Recurrent<QLinear>),
    /// [`Model::Int8`]'s LSTM and head beside a language model's quantized embedding
    /// ([`Scheme::Int8Embedding`]; the embedding itself lives with the language model).
    Int8Embedding(Recurrent<QLinear>),
}

/// Converts an FP32 model the way `quantize_dynamic(model, {nn.LSTM, nn.Linear}, dtype)` does
/// for `scheme` (for [`Scheme::Fp32`], a copy; for [`Scheme::Int8Qnnpack`], under
/// `torch.backends.quantized.engine = "qnnpack"`).
pub fn quantize_dynamic(model: &FloatModel, scheme: Scheme) -> Model {
    match scheme {
        Scheme::Fp32 => Model::Fp32(model.clone()),
        Scheme::Int8 => Model::Int8(model.map_linear(|l| QLinear::quantize(l, false))),
        Scheme::Int8PerChannel => Model::Int8(model.map_linear(|l| QLinear::quantize(l, true))),
        Scheme::Int8Qnnpack => Model::Int8(
            model.map_linear(|l| QLinear::quantize(l, false).with_engine(Engine::Qnnpack)),
        ),
        Scheme::Int8Embedding => {
            Model::Int8Embedding(model.map_linear(|l| QLinear::quantize(l, false)))
        }
        Scheme::Fp16 => Model::Fp16(model.map_linear(round_to_f16)),
    }
}

/// PyTorch's FP16 weight conversion: clamp to ±65504, round to f16, use as f32. Biases stay f32.
fn round_to_f16(linear: &Linear) -> Linear {
    use crate::model::LinearOp;
    let weight = linear
        .weight()
        .iter()
        .map(|&w| half::f16::from_f32(w.clamp(-65504.0, 65504.0)).to_f32())
        .collect();
    Linear::new(
        weight,
        linear.bias.clone(),
        linear.in_features(),
        linear.out_features(),
    )
}

impl Model {
    /// Which scheme this model computes with.
    pub fn scheme(&self) -> Scheme {
        match self {
            Model::Fp32(_) => Scheme::Fp32,
            Model::Fp16(_) => Scheme::Fp16,
            Model::Int8(m) => {
                let ih = &m.layers()[0].ih;
                match (ih.per_channel(), ih.engine()) {
                    (true, _) => Scheme::Int8PerChannel,
                    (false, Engine::Qnnpack) => Scheme::Int8Qnnpack,
                    (false, Engine::X86) => Scheme::Int8,
                }
            }
            Model::Int8Embedding(_) => Scheme::Int8Embedding,
        }
    }

    /// The model's dimensions.
    pub fn dims(&self) -> ModelDims {
        match self {
            Model::Fp32(m) | Model::Fp16(m) => m.dims(),
            Model::Int8(m) | Model::Int8Embedding(m) => m.dims(),
        }
    }

    /// Chooses the kernel and thread limit; see [`Recurrent::set_run_options`].
    pub fn set_run_options(&mut self, options: RunOptions) -> Result<()> {
        match self {
            Model::Fp32(m) | Model::Fp16(m) => m.set_run_options(options),
            Model::Int8(m) | Model::Int8Embedding(m) => m.set_run_options(options),
        }
    }

    /// This model with [`Model::set_run_options`] applied.
    pub fn with_run_options(mut self, options: RunOptions) -> Result<Self> {
        self.set_run_options(options)?;
        Ok(self)
    }

    /// The kernel and thread limit in use.
    pub fn execution(&self) -> Execution {
        match self {
            Model::Fp32(m) | Model::Fp16(m) => m.execution(),
            Model::Int8(m) | Model::Int8Embedding(m) => m.execution(),
        }
    }

    /// The name of the kernel in use, for reports.
    pub fn kernel_name(&self) -> &'static str {
        self.execution().kernel.name()
    }

    /// Runs the model; see [`Recurrent::forward`].
    pub fn forward(
        &self,
        input: ArrayView3<f32>,
        state: Option<&RecurrentState>,
    ) -> Result<RecurrentOutput> {
        match self {
            Model::Fp32(m) | Model::Fp16(m) => m.forward(input, state),
            Model::Int8(m) | Model::Int8Embedding(m) => m.forward(input, state),
        }
    }

    /// Runs the model reusing buffers; see [`Recurrent::forward_into`].
    pub fn forward_into(
        &self,
        input: ArrayView3<f32>,
        state: Option<&RecurrentState>,
        workspace: &mut Workspace,
        out: &mut RecurrentOutput,
    ) -> Result<()> {
        match self {
            Model::Fp32(m) | Model::Fp16(m) => m.forward_into(input, state, workspace, out),
            Model::Int8(m) | Model::Int8Embedding(m) => {
                m.forward_into(input, state, workspace, out)
            }
        }
    }
}
