//! The variants a model can be run as.

use std::fmt;
use std::str::FromStr;

use crate::error::DynqError;

/// How a model's weights are stored and its linear maps computed.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// The original f32 model.
    #[default]
    Fp32,
    /// Int8 weights with one symmetric scale per tensor (PyTorch's `default_dynamic_qconfig`).
    Int8,
    /// Int8 weights with one scale per output row (`per_channel_dynamic_qconfig`).
    Int8PerChannel,
    /// Weights rounded to f16, activations in f32 (`float16_dynamic_qconfig`).
    Fp16,
    /// [`Scheme::Int8`]'s weights computed as PyTorch's ARM engine, qnnpack, computes them:
    /// activations over the whole byte, products rescaled without a fused multiply-add.
    Int8Qnnpack,
    /// [`Scheme::Int8`] with a language model's embedding quantized too, 8 bits per value with
    /// a float scale and zero point per row (`float_qparams_weight_only_qconfig`).
    Int8Embedding,
}

impl Scheme {
    /// Every scheme that applies to any model (all but [`Scheme::Int8Embedding`], which needs
    /// a language model's embedding), in display order.
    pub const RECURRENT: [Scheme; 5] = [
        Scheme::Fp32,
        Scheme::Int8,
        Scheme::Int8PerChannel,
        Scheme::Fp16,
        Scheme::Int8Qnnpack,
    ];

    /// Every scheme, in display order.
    pub const ALL: [Scheme; 6] = [
        Scheme::Fp32,
        Scheme::Int8,
        Scheme::Int8PerChannel,
        Scheme::Fp16,
        Scheme::Int8Qnnpack,
        Scheme::Int8Embedding,
    ];

    /// The name used on the command line, in files and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Fp32 => "fp32",
            Scheme::Int8 => "int8",
            Scheme::Int8PerChannel => "int8_per_channel",
            Scheme::Fp16 => "fp16",
            Scheme::Int8Qnnpack => "int8_qnnpack",
            Scheme::Int8Embedding => "int8_embedding",
        }
    }

    /// Whether the weights are int8 (any engine, per tensor or per channel).
    pub fn is_int8(self) -> bool {
        matches!(
            self,
            Scheme::Int8 | Scheme::Int8PerChannel | Scheme::Int8Qnnpack | Scheme::Int8Embedding
        )
    }

    /// Whether a language model's embedding is quantized too (the other schemes leave it in
    /// FP32, as `quantize_dynamic` with `{nn.LSTM, nn.Linear}` does).
    pub fn quantizes_embedding(self) -> bool {
        self == Scheme::Int8Embedding
    }

    /// Every scheme's name, comma-separated, for error messages.
    pub fn names() -> String {
        Scheme::ALL.map(Scheme::name).join(", ")
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheme {
    type Err = DynqError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normalized = s.trim().to_ascii_lowercase().replace('-', "_");
        Scheme::ALL
            .into_iter()
            .find(|scheme| scheme.name() == normalized)
            .ok_or_else(|| {
                DynqError::Unsupported(format!(
                    "unknown scheme '{s}': expected one of {}",
                    Scheme::names()
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for scheme in Scheme::ALL {
            assert_eq!(scheme.name().parse::<Scheme>().unwrap(), scheme);
        }
        assert_eq!(
            "INT8-per-channel".parse::<Scheme>().unwrap(),
            Scheme::Int8PerChannel
        );
        let err = "int4".parse::<Scheme>().unwrap_err().to_string();
        assert!(
            err.contains("int4")
                && err.contains("int8_per_channel, fp16, int8_qnnpack, int8_embedding"),
            "{err}"
        );
    }
}
