//! The 8-bit embedding `quantize_dynamic` makes with `{nn.Embedding:
//! float_qparams_weight_only_qconfig}`: each row quantized to uint8 with its own float scale
//! and zero point, looked up by dequantizing the row.
//!
//! PyTorch's rules, followed exactly:
//! - `PerChannelMinMaxObserver` (`per_channel_affine_float_qparams`, `quint8`, axis 0): per
//!   row, `scale = (max − min) / 255` in f32 (min and max of the row itself, 0 not included),
//!   1.0 where it is not above `f32::EPSILON`; `zero_point = −min / scale`, a float;
//! - ATen's `quantize_val_float_qparams`: `q = clamp(lrintf(w · (1 / scale) + zero_point),
//!   0, 255)`, the product and the sum each rounded (no FMA), ties to even;
//! - `embedding_bag_prepack` keeps per row `scale` and `bias = zero_point · scale · −1`;
//! - the lookup (fbgemm's `EmbeddingSpMDM`, one index per bag) writes
//!   `fma(scale, q, 0 + bias)` for every value of the row.

use std::sync::Arc;

use crate::model::Embedding;

/// Largest quantized value of a row.
const QMAX: f32 = 255.0;

/// An embedding table in 8 bits per value, with a float scale and zero point per row.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedEmbedding {
    values: Vec<u8>,
    scales: Vec<f32>,
    zero_points: Vec<f32>,
    features: usize,
    /// The table the lookup reads: every row dequantized once, exactly as the lookup
    /// dequantizes it (the per-value `fma(scale, q, bias)` does not depend on the token).
    dequantized: Arc<Embedding>,
}

impl QuantizedEmbedding {
    /// Quantizes `table` row by row as PyTorch does (see the module doc).
    pub fn quantize(table: &Embedding) -> Self {
        let features = table.features();
        let (mut values, mut scales, mut zero_points) = (Vec::new(), Vec::new(), Vec::new());
        for row in table.weight().chunks_exact(features) {
            let (min, max) = row
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &w| {
                    (lo.min(w), hi.max(w))
                });
            let scale = (max - min) / QMAX;
            let scale = if scale > f32::EPSILON { scale } else { 1.0 };
            let zero_point = -min / scale;
            let inv_scale = 1.0 / scale;
            values.extend(row.iter().map(|&w| {
                (w * inv_scale + zero_point)
                    .round_ties_even()
                    .clamp(0.0, QMAX) as u8
            }));
            scales.push(scale);
            zero_points.push(zero_point);
        }
        let dequantized: Vec<f32> = values
            .chunks_exact(features)
            .zip(scales.iter().zip(&zero_points))
            .flat_map(|(row, (&scale, &zero_point))| {
                // PyTorch writes `zero_point * scale * -1`: the same value, negation is exact.
                let bias = -(zero_point * scale);
                row.iter()
                    .map(move |&q| f32::mul_add(scale, f32::from(q), bias))
            })
            .collect();
        let dequantized = Embedding::new(dequantized, table.rows(), features)
            .expect("the same shape as the table quantized");
        QuantizedEmbedding {
            values,
            scales,
            zero_points,
            features,
            dequantized: Arc::new(dequantized),
        }
    }

    /// The uint8 values, `rows × features` row-major.
    pub fn values(&self) -> &[u8] {
        &self.values
    }

    /// One scale per row.
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// One float zero point per row.
    pub fn zero_points(&self) -> &[f32] {
        &self.zero_points
    }

    /// Rows (tokens) and values per row.
    pub fn shape(&self) -> [usize; 2] {
        [self.scales.len(), self.features]
    }

    /// The rows as the lookup returns them.
    pub fn dequantized(&self) -> &Arc<Embedding> {
        &self.dequantized
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_spans_its_own_range() {
        let table = Embedding::new(vec![-1.0, 0.0, 1.55, 2.0, 2.0, 2.0], 2, 3).unwrap();
        let q = QuantizedEmbedding::quantize(&table);
        assert_eq!(q.scales()[0], 2.55f32 / 255.0);
        assert_eq!(q.zero_points()[0], 1.0 / (2.55f32 / 255.0));
        assert_eq!(&q.values()[..3], &[0, 100, 255]);
        // A constant row: scale 1, zero point −2, every value 0 → dequantized exactly.
        assert_eq!((q.scales()[1], q.zero_points()[1]), (1.0, -2.0));
        assert_eq!(&q.values()[3..], &[0, 0, 0]);
        assert_eq!(q.dequantized().row(1), &[2.0, 2.0, 2.0]);
        let back = q.dequantized().row(0);
        for (got, want) in back.iter().zip([-1.0, 0.0, 1.55]) {
            assert!((got - want).abs() <= q.scales()[0] / 2.0, "{got} vs {want}");
        }
    }
}
