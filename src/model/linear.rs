//! The linear map `y = x Wᵀ + b` and the trait the LSTM is generic over.

use crate::kernels;

/// Reusable buffers for one linear map call (quantized activations, i32 accumulators), so that
/// a forward pass allocates nothing once they have grown to size.
#[derive(Debug, Default, Clone)]
pub struct LinearScratch {
    /// Quantized activations.
    pub quantized: Vec<u8>,
    /// Integer accumulators.
    pub accumulators: Vec<i32>,
}

/// A linear map applied to a batch of rows: the FP32 [`Linear`] or the dynamically quantized
/// [`crate::QLinear`].
pub trait LinearOp: Clone + Send + Sync {
    /// Features of each input row.
    fn in_features(&self) -> usize;
    /// Features of each output row.
    fn out_features(&self) -> usize;
    /// `y[rows × out] = x[rows × in] · Wᵀ + b`. Slices must have exactly those lengths.
    fn forward(&self, x: &[f32], rows: usize, y: &mut [f32], scratch: &mut LinearScratch);
}

/// An f32 linear map with PyTorch's `nn.Linear` layout: `weight` is `out × in` row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    /// `out_features × in_features`, row-major.
    pub weight: Vec<f32>,
    /// `out_features` values.
    pub bias: Vec<f32>,
    in_features: usize,
    out_features: usize,
}

impl Linear {
    /// Builds a linear map; `weight` must hold `out_features × in_features` values and `bias`
    /// `out_features`.
    ///
    /// # Panics
    /// On a length mismatch (callers validate shapes first).
    pub fn new(weight: Vec<f32>, bias: Vec<f32>, in_features: usize, out_features: usize) -> Self {
        assert_eq!(
            weight.len(),
            in_features * out_features,
            "Linear: weight shape"
        );
        assert_eq!(bias.len(), out_features, "Linear: bias shape");
        Linear {
            weight,
            bias,
            in_features,
            out_features,
        }
    }
}

impl LinearOp for Linear {
    fn in_features(&self) -> usize {
        self.in_features
    }

    fn out_features(&self) -> usize {
        self.out_features
    }

    fn forward(&self, x: &[f32], rows: usize, y: &mut [f32], _scratch: &mut LinearScratch) {
        kernels::gemm_f32(
            x,
            rows,
            &self.weight,
            self.out_features,
            self.in_features,
            y,
        );
        for row in y.chunks_exact_mut(self.out_features) {
            for (v, b) in row.iter_mut().zip(&self.bias) {
                *v += b;
            }
        }
    }
}
