//! Model dimensions, their limits and their validation. [`Limit`] is also how the run's own
//! limits (`bench`) are written, so that the command line, presets and `Config::validate`
//! accept the same values and say so in the same words.

use crate::error::{DynqError, Result};
use crate::io::Cell;

/// Largest accepted input or hidden size.
pub const MAX_FEATURES: usize = 16_384;
/// Largest accepted number of stacked layers.
pub const MAX_LAYERS: usize = 64;
/// Largest accepted total number of parameters (4 GB of f32 weights).
pub const MAX_PARAMETERS: usize = 1 << 30;

/// Accepted input and hidden sizes.
pub const FEATURE_LIMIT: Limit = Limit::up_to(MAX_FEATURES);
/// Accepted Linear head sizes (0: no head).
pub const HEAD_LIMIT: Limit = Limit {
    min: 0,
    max: MAX_FEATURES,
};
/// Accepted numbers of stacked layers.
pub const LAYER_LIMIT: Limit = Limit::up_to(MAX_LAYERS);

/// The accepted range of one whole-number setting, `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Smallest accepted value.
    pub min: usize,
    /// Largest accepted value.
    pub max: usize,
}

impl Limit {
    /// From 1 to `max`.
    pub const fn up_to(max: usize) -> Limit {
        Limit { min: 1, max }
    }

    /// Whether `value` is accepted.
    pub fn contains(self, value: usize) -> bool {
        (self.min..=self.max).contains(&value)
    }

    /// An [`DynqError::InvalidDimension`] naming `what` unless `value` is accepted.
    pub fn check(self, what: &'static str, value: usize) -> Result<()> {
        if self.contains(value) {
            Ok(())
        } else {
            Err(DynqError::InvalidDimension {
                what,
                value,
                expected: format!("expected {} to {}", self.min, self.max),
            })
        }
    }

    /// A command-line value (for clap's `value_parser`), refused with what is expected.
    pub fn parse(self, text: &str) -> std::result::Result<usize, String> {
        match text.trim().parse::<usize>() {
            Ok(n) if self.contains(n) => Ok(n),
            _ => Err(format!(
                "expected a whole number from {} to {}",
                self.min, self.max
            )),
        }
    }
}

/// The shape of a model: `nn.LSTM(input_size, hidden_size, num_layers, bidirectional=...)`
/// (or `nn.GRU`) plus an optional `nn.Linear(directions × hidden_size, head)` applied to
/// every output (`head == 0`: none).
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
    /// The recurrent cell.
    #[serde(default)]
    pub cell: Cell,
    /// Whether every layer also reads the sequence backwards (`bidirectional=True`).
    #[serde(default)]
    pub bidirectional: bool,
}

impl ModelDims {
    /// A single-layer unidirectional LSTM without head where input and hidden size are both
    /// `dim`.
    pub fn square(dim: usize) -> Self {
        ModelDims {
            input_size: dim,
            hidden_size: dim,
            num_layers: 1,
            head: 0,
            cell: Cell::Lstm,
            bidirectional: false,
        }
    }

    /// 2 for a bidirectional model, else 1.
    pub fn directions(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }

    /// Features of every output step (and of every layer's input above the first):
    /// `directions × hidden_size`.
    pub fn output_size(&self) -> usize {
        self.directions() * self.hidden_size
    }

    /// Features of layer `layer`'s input.
    pub fn layer_input_size(&self, layer: usize) -> usize {
        if layer == 0 {
            self.input_size
        } else {
            self.output_size()
        }
    }

    /// Rows of `h_n` (and `c_n`): `num_layers × directions`.
    pub fn state_rows(&self) -> usize {
        self.num_layers * self.directions()
    }

    /// Number of learnable parameters (weights and biases).
    pub fn parameter_count(&self) -> usize {
        let (h, rows) = (self.hidden_size, self.cell.gates() * self.hidden_size);
        let layers: usize = (0..self.num_layers)
            .map(|k| rows * (self.layer_input_size(k) + h) + 2 * rows)
            .sum();
        let head = if self.head > 0 {
            self.head * self.output_size() + self.head
        } else {
            0
        };
        layers * self.directions() + head
    }

    /// Checks that every size is non-zero and not absurdly large.
    pub fn validate(&self) -> Result<()> {
        FEATURE_LIMIT.check("input_size", self.input_size)?;
        FEATURE_LIMIT.check("hidden_size", self.hidden_size)?;
        LAYER_LIMIT.check("num_layers", self.num_layers)?;
        HEAD_LIMIT.check("head", self.head)?;
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
            ..ModelDims::square(1)
        };
        assert_eq!(d.parameter_count(), 840);
        let d = ModelDims { head: 3, ..d };
        assert_eq!(d.parameter_count(), 840 + 24);
        // nn.GRU(5, 7, 2): layer0 21*5+21*7+42 = 294, layer1 21*14+42 = 336.
        let gru = ModelDims {
            cell: Cell::Gru,
            head: 0,
            ..d
        };
        assert_eq!(gru.parameter_count(), 630);
        // Bidirectional: layer0 twice (294 each), layer1 reads 14 features: 21*14+21*7+42 =
        // 483 each; the head reads 14 features.
        let bi = ModelDims {
            bidirectional: true,
            head: 3,
            ..gru
        };
        assert_eq!(bi.parameter_count(), 2 * (294 + 483) + 3 * 14 + 3);
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

    #[test]
    fn limits_check_and_parse_with_the_same_bounds() {
        let err = FEATURE_LIMIT
            .check("hidden_size", 0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("hidden_size") && err.contains("expected 1 to 16384"),
            "{err}"
        );
        assert!(HEAD_LIMIT.check("head", 0).is_ok());
        assert_eq!(LAYER_LIMIT.parse(" 64 "), Ok(64));
        assert_eq!(
            LAYER_LIMIT.parse("65"),
            Err("expected a whole number from 1 to 64".into())
        );
        assert!(FEATURE_LIMIT.parse("-1").is_err());
    }
}
