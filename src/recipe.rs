//! The PyTorch "Dynamic Quantization" recipe's comparison: sizes, mean |output| and the
//! percent difference between the FP32 model and its INT8 twin.

use crate::error::Result;
use crate::metrics::{Accuracy, times_smaller};
use crate::model::{FloatModel, ModelDims, RecurrentState, random_inputs, random_model};
use crate::quant::{Scheme, quantize_dynamic};
use ndarray::Array3;

/// The recipe's set-up: seed 29592, dimension 8, sequence 20, batch 1, one layer.
pub const RECIPE_SEED: u64 = 29592;
/// The recipe's model dimension (input = hidden).
pub const RECIPE_DIM: usize = 8;
/// The recipe's sequence length.
pub const RECIPE_SEQ_LEN: usize = 20;
/// The recipe's batch size.
pub const RECIPE_BATCH: usize = 1;

/// What the recipe prints.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecipeFigures {
    /// Serialized FP32 model, bytes.
    pub fp32_bytes: u64,
    /// Serialized INT8 model, bytes.
    pub int8_bytes: u64,
    /// The FP32 output against itself: `output_mean_abs` is `mean(|FP32 output|)`.
    pub fp32: Accuracy,
    /// The INT8 output against FP32's: `mean(|INT8 output|)`, `mean(|FP32 − INT8|)`, the
    /// percent difference and the largest difference.
    pub int8: Accuracy,
}

impl RecipeFigures {
    /// How many times smaller the INT8 model is (`None` if a size were 0).
    pub fn size_ratio(&self) -> Option<f64> {
        times_smaller(self.fp32_bytes, self.int8_bytes)
    }

    /// The recipe's printout.
    pub fn to_text(&self) -> String {
        format!(
            "model:  fp32  \t Size (KB): {:.3}\n\
             model:  int8  \t Size (KB): {:.3}\n\
             {} times smaller\n\
             mean absolute value of output tensor values in the FP32 model is {:.5}\n\
             mean absolute value of output tensor values in the INT8 model is {:.5}\n\
             mean absolute value of the difference between the output tensors is {:.5} or {:.2} percent\n",
            self.fp32_bytes as f64 / 1e3,
            self.int8_bytes as f64 / 1e3,
            self.size_ratio()
                .map_or("n/a".into(), |r| format!("{r:.2}")),
            self.fp32.output_mean_abs,
            self.int8.output_mean_abs,
            self.int8.diff_mean_abs,
            self.int8.diff_pct,
        )
    }
}

/// Quantizes `model` to INT8, runs both on `input` from `state` and measures what the recipe
/// prints (on the LSTM's output sequence).
pub fn compare(
    model: &FloatModel,
    input: &Array3<f32>,
    state: &RecurrentState,
) -> Result<RecipeFigures> {
    let fp32 = quantize_dynamic(model, Scheme::Fp32);
    let int8 = quantize_dynamic(model, Scheme::Int8);
    let a = fp32.forward(input.view(), Some(state))?.lstm_output;
    let b = int8.forward(input.view(), Some(state))?.lstm_output;
    let (a, b) = (a.as_slice().expect("owned"), b.as_slice().expect("owned"));
    Ok(RecipeFigures {
        fp32_bytes: fp32.to_safetensors().len() as u64,
        int8_bytes: int8.to_safetensors().len() as u64,
        fp32: Accuracy::compare(a, a),
        int8: Accuracy::compare(a, b),
    })
}

/// The recipe's own run with dynq's seeded weights and inputs.
pub fn run_recipe() -> Result<RecipeFigures> {
    let dims = ModelDims::square(RECIPE_DIM);
    let model = random_model(dims, RECIPE_SEED)?;
    let (input, state) = random_inputs(dims, RECIPE_SEQ_LEN, RECIPE_BATCH, RECIPE_SEED);
    compare(&model, &input, &state)
}
