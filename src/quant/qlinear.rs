//! The dynamically quantized linear map (PyTorch's `nn.quantized.dynamic.Linear`).

use super::params::{choose_activation_params, quantize_weight, weight_scale};
use crate::kernels::{self, PackedI8};
use crate::model::{Linear, LinearOp, LinearScratch};

/// Int8 weights (per-tensor or per-row symmetric scales), f32 bias; activations are quantized
/// to uint8 from their own range on every call, products accumulate exactly in i32.
#[derive(Debug, Clone, PartialEq)]
pub struct QLinear {
    weight: PackedI8,
    /// One scale (per-tensor) or one per output row (per-channel).
    scales: Vec<f32>,
    per_channel: bool,
    bias: Vec<f32>,
}

impl QLinear {
    /// Quantizes an f32 linear map, per tensor or per output row.
    pub fn quantize(linear: &Linear, per_channel: bool) -> Self {
        let (rows, cols) = (linear.out_features(), linear.in_features());
        let scales: Vec<f32> = if per_channel {
            linear.weight.chunks_exact(cols).map(weight_scale).collect()
        } else {
            vec![weight_scale(&linear.weight)]
        };
        let quantized: Vec<i8> = linear
            .weight
            .chunks_exact(cols)
            .enumerate()
            .flat_map(|(row, values)| {
                let inv_scale = 1.0 / scales[if per_channel { row } else { 0 }];
                values.iter().map(move |&w| quantize_weight(w, inv_scale))
            })
            .collect();
        QLinear::from_parts(
            &quantized,
            rows,
            cols,
            scales,
            per_channel,
            linear.bias.clone(),
        )
    }

    /// Builds a quantized map from int8 weights (`rows × cols`), its scales (one, or one per
    /// row when `per_channel`) and an f32 bias.
    ///
    /// # Panics
    /// On inconsistent lengths (callers validate shapes first).
    pub fn from_parts(
        weights: &[i8],
        rows: usize,
        cols: usize,
        scales: Vec<f32>,
        per_channel: bool,
        bias: Vec<f32>,
    ) -> Self {
        assert_eq!(
            scales.len(),
            if per_channel { rows } else { 1 },
            "QLinear: scales"
        );
        assert_eq!(bias.len(), rows, "QLinear: bias");
        QLinear {
            weight: PackedI8::pack(weights, rows, cols),
            scales,
            per_channel,
            bias,
        }
    }

    /// Whether there is one scale per output row.
    pub fn per_channel(&self) -> bool {
        self.per_channel
    }

    /// The int8 weights, `rows × cols` row-major.
    pub fn weights(&self) -> Vec<i8> {
        self.weight.unpack()
    }

    /// The weight scales (1 or one per row).
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// The f32 bias.
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }
}

impl LinearOp for QLinear {
    fn in_features(&self) -> usize {
        self.weight.cols()
    }

    fn out_features(&self) -> usize {
        self.weight.rows()
    }

    fn forward(&self, x: &[f32], rows: usize, y: &mut [f32], scratch: &mut LinearScratch) {
        let (min, max) = kernels::min_max(x);
        let params = choose_activation_params(min, max);
        scratch.quantized.resize(x.len(), 0);
        kernels::quantize_u8(
            x,
            1.0 / params.scale,
            params.zero_point,
            &mut scratch.quantized,
        );

        let out = self.out_features();
        scratch.accumulators.resize(rows * out, 0);
        kernels::gemm_u8i8(
            &scratch.quantized,
            rows,
            params.zero_point,
            &self.weight,
            &mut scratch.accumulators,
        );
        let per_channel = self.per_channel;
        for (y_row, acc_row) in y
            .chunks_exact_mut(out)
            .zip(scratch.accumulators.chunks_exact(out))
        {
            for j in 0..out {
                let w_scale = self.scales[if per_channel { j } else { 0 }];
                y_row[j] = acc_row[j] as f32 * (params.scale * w_scale) + self.bias[j];
            }
        }
    }
}
