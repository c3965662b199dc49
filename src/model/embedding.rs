//! `nn.Embedding`: a table of rows, one per token, looked up by index. `quantize_dynamic` with
//! `{nn.LSTM, nn.Linear}` leaves it in FP32, so every variant of a language model shares it.

use crate::error::{DynqError, Result};

/// An FP32 embedding table, `[rows, features]` row-major, as PyTorch's `encoder.weight`.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    weight: Vec<f32>,
    rows: usize,
    features: usize,
}

impl Embedding {
    /// A table of `rows` rows of `features` values each; fails when the sizes disagree.
    pub fn new(weight: Vec<f32>, rows: usize, features: usize) -> Result<Self> {
        if rows == 0 || features == 0 || weight.len() != rows * features {
            return Err(DynqError::ShapeMismatch {
                what: "embedding weight [rows, features]".into(),
                got: vec![weight.len()],
                expected: vec![rows, features],
            });
        }
        Ok(Embedding {
            weight,
            rows,
            features,
        })
    }

    /// Tokens it has a row for (the vocabulary's size).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Values per row (the LSTM's input size).
    pub fn features(&self) -> usize {
        self.features
    }

    /// The whole table, row-major.
    pub fn weight(&self) -> &[f32] {
        &self.weight
    }

    /// The row of `token`; panics when `token >= rows` (tokens come from the vocabulary, which
    /// has exactly `rows` entries).
    pub fn row(&self, token: u32) -> &[f32] {
        let start = token as usize * self.features;
        &self.weight[start..start + self.features]
    }

    /// Writes the rows of `tokens`, one after the other, into `out`
    /// (`tokens.len() × features` values).
    pub fn lookup_into(&self, tokens: &[u32], out: &mut [f32]) {
        debug_assert_eq!(out.len(), tokens.len() * self.features);
        for (&token, dst) in tokens.iter().zip(out.chunks_exact_mut(self.features)) {
            dst.copy_from_slice(self.row(token));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_copies_each_tokens_row_in_order() {
        let table = Embedding::new(vec![0.0, 1.0, 10.0, 11.0, 20.0, 21.0], 3, 2).unwrap();
        let mut out = vec![0.0; 6];
        table.lookup_into(&[2, 0, 2], &mut out);
        assert_eq!(out, [20.0, 21.0, 0.0, 1.0, 20.0, 21.0]);
        assert_eq!((table.rows(), table.features()), (3, 2));
    }

    #[test]
    fn sizes_that_disagree_are_refused() {
        assert!(Embedding::new(vec![0.0; 5], 3, 2).is_err());
        assert!(Embedding::new(vec![], 0, 2).is_err());
    }
}
