//! Model dimensions and their validation.

use crate::error::{DynqError, Result};

/// Largest accepted input or hidden size.
pub const MAX_FEATURES: usize = 16_384;
/// Largest accepted number of stacked layers.
pub const MAX_LAYERS: usize = 64;
/// Largest accepted total number of parameters (4 GB of f32 weights).
pub const MAX_PARAMETERS: usize = 1 << 30;

/// The shape of a model: `nn.LSTM(input_size, hidden_size, num_layers)` plus an optional
/// `nn.Linear(hidden_size, head)` applied to every output (`head == 0`: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ModelDims {
    /// Features of each input time step.
    pub input_size: usize,
    /// Features of the hidden and cell state.
    pub hidden_size: usize,
    /// Number of stacked LSTM layers.
    pub num_layers: usize,
    /// Output features of the Linear head, 0 for no head.
    pub head: usize,
}

impl ModelDims {
    /// A single-layer LSTM without head where input and hidden size are both `dim`.
    pub fn square(dim: usize) -> Self {
        ModelDims {
            input_size: dim,
            hidden_size: dim,
            num_layers: 1,
            head: 0,
        }
    }

    /// Number of learnable parameters (weights and biases).
    pub fn parameter_count(&self) -> usize {
        let h = self.hidden_size;
        let first = 4 * h * (self.input_size + h) + 8 * h;
        let rest = (self.num_layers.saturating_sub(1)) * (4 * h * 2 * h + 8 * h);
        let head = if self.head > 0 {
            self.head * h + self.head
        } else {
            0
        };
        first + rest + head
    }

    /// Checks that every size is non-zero and not absurdly large.
    pub fn validate(&self) -> Result<()> {
        let check = |what: &'static str, value: usize, min: usize, max: usize| {
            if value < min || value > max {
                Err(DynqError::InvalidDimension {
                    what,
                    value,
                    expected: format!("expected {min} to {max}"),
                })
            } else {
                Ok(())
            }
        };
        check("input_size", self.input_size, 1, MAX_FEATURES)?;
        check("hidden_size", self.hidden_size, 1, MAX_FEATURES)?;
        check("num_layers", self.num_layers, 1, MAX_LAYERS)?;
        check("head", self.head, 0, MAX_FEATURES)?;
        let params = self.parameter_count();
        if params > MAX_PARAMETERS {
            return Err(DynqError::InvalidDimension {
                what: "parameter count",
                value: params,
                expected: format!("expected at most {MAX_PARAMETERS}; use smaller sizes"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_count_matches_pytorch() {
        // nn.LSTM(8, 8): 4*8*8*2 + 2*32 = 576.
        assert_eq!(ModelDims::square(8).parameter_count(), 576);
        // nn.LSTM(5, 7, 2): layer0 28*5+28*7+56 = 392, layer1 28*14+56 = 448.
        let d = ModelDims {
            input_size: 5,
            hidden_size: 7,
            num_layers: 2,
            head: 0,
        };
        assert_eq!(d.parameter_count(), 840);
        let d = ModelDims { head: 3, ..d };
        assert_eq!(d.parameter_count(), 840 + 24);
    }

    #[test]
    fn zero_and_absurd_sizes_are_rejected() {
        assert!(ModelDims::square(0).validate().is_err());
        assert!(
            ModelDims {
                num_layers: 0,
                ..ModelDims::square(8)
            }
            .validate()
            .is_err()
        );
        assert!(ModelDims::square(1 << 20).validate().is_err());
        let err = ModelDims {
            num_layers: 60,
            ..ModelDims::square(16_000)
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("parameter count"), "{err}");
        assert!(ModelDims::square(1024).validate().is_ok());
    }
}
