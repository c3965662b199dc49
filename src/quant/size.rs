//! What every module of a model weighs in each variant, from its dimensions alone (no model is
//! built): the bytes of its tensors as the variant's safetensors file stores them, beside
//! their FP32 bytes. The file adds only its JSON header to the sum ([`file_modules`] counts
//! it as one more module).

use super::scheme::Scheme;
use crate::model::ModelDims;

/// One module's share of a variant's file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModuleSize {
    /// `embedding`, `lstm layer 0`, `gru layer 1 reverse`, `head` or `decoder`.
    pub name: String,
    /// How its weights are stored: `float32`, `float16`, `qint8` or `quint8` (biases, scales
    /// and zero points stay float32).
    pub dtype: String,
    /// Its bytes in the FP32 model.
    pub fp32_bytes: u64,
    /// Its bytes in this variant.
    pub bytes: u64,
}

impl ModuleSize {
    /// How many times smaller the module is than in FP32.
    pub fn ratio(&self) -> f64 {
        self.fp32_bytes as f64 / self.bytes.max(1) as f64
    }

    /// The bytes it weighs beyond a quarter of its FP32 size: what keeps it from 4x.
    fn excess_over_quarter(&self) -> f64 {
        self.bytes as f64 - self.fp32_bytes as f64 / 4.0
    }
}

/// The modules of a model of `dims` (with an embedding of `embedding_rows` rows, for a
/// language model) in `scheme`, in file order: embedding, layers (forward then reverse), head.
pub fn module_sizes(
    dims: &ModelDims,
    scheme: Scheme,
    embedding_rows: Option<usize>,
) -> Vec<ModuleSize> {
    let mut modules = Vec::new();
    if let Some(rows) = embedding_rows {
        let values = (rows * dims.input_size) as u64;
        let (dtype, bytes) = if scheme.quantizes_embedding() {
            // One byte per value, and a float32 scale and zero point per row.
            ("quint8", values + 8 * rows as u64)
        } else {
            ("float32", 4 * values)
        };
        modules.push(ModuleSize {
            name: "embedding".into(),
            dtype: dtype.into(),
            fp32_bytes: 4 * values,
            bytes,
        });
    }
    let rows = dims.cell.gates() * dims.hidden_size;
    let cell = dims.cell.name();
    for layer in 0..dims.num_layers {
        for direction in 0..dims.directions() {
            let suffix = if direction == 1 { " reverse" } else { "" };
            let ih = linear_bytes(scheme, rows, dims.layer_input_size(layer));
            let hh = linear_bytes(scheme, rows, dims.hidden_size);
            modules.push(ModuleSize {
                name: format!("{cell} layer {layer}{suffix}"),
                dtype: weight_dtype(scheme).into(),
                fp32_bytes: ih.0 + hh.0,
                bytes: ih.1 + hh.1,
            });
        }
    }
    if dims.head > 0 {
        let (fp32_bytes, bytes) = linear_bytes(scheme, dims.head, dims.output_size());
        modules.push(ModuleSize {
            name: if embedding_rows.is_some() {
                "decoder"
            } else {
                "head"
            }
            .into(),
            dtype: weight_dtype(scheme).into(),
            fp32_bytes,
            bytes,
        });
    }
    modules
}

/// [`module_sizes`] and, last, the `file header` (its JSON: tensor names, shapes, offsets),
/// so that the bytes add up to the file's `file_bytes` (and the FP32 bytes to
/// `fp32_file_bytes`, the FP32 variant's file).
pub fn file_modules(
    dims: &ModelDims,
    scheme: Scheme,
    embedding_rows: Option<usize>,
    file_bytes: u64,
    fp32_file_bytes: u64,
) -> Vec<ModuleSize> {
    let mut modules = module_sizes(dims, scheme, embedding_rows);
    let tensors: u64 = modules.iter().map(|m| m.bytes).sum();
    let fp32_tensors: u64 = modules.iter().map(|m| m.fp32_bytes).sum();
    modules.push(ModuleSize {
        name: "file header".into(),
        dtype: "json".into(),
        fp32_bytes: fp32_file_bytes.saturating_sub(fp32_tensors),
        bytes: file_bytes.saturating_sub(tensors),
    });
    modules
}

/// The module that keeps a variant furthest from 4x smaller: the one weighing most beyond a
/// quarter of its FP32 bytes (`None` when nothing does).
pub fn heaviest_unshrunk(modules: &[ModuleSize]) -> Option<&ModuleSize> {
    modules
        .iter()
        .filter(|m| m.excess_over_quarter() > 0.0)
        .max_by(|a, b| a.excess_over_quarter().total_cmp(&b.excess_over_quarter()))
}

/// The dtype a scheme stores a linear map's weight in.
fn weight_dtype(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Fp32 => "float32",
        Scheme::Fp16 => "float16",
        _ => "qint8",
    }
}

/// FP32 and `scheme` bytes of one linear map of `out × in` with its float32 bias.
fn linear_bytes(scheme: Scheme, out_features: usize, in_features: usize) -> (u64, u64) {
    let (weights, bias) = ((out_features * in_features) as u64, 4 * out_features as u64);
    let stored = match scheme {
        Scheme::Fp32 => 4 * weights,
        Scheme::Fp16 => 2 * weights,
        // One float32 scale per output row, or one for the whole tensor.
        Scheme::Int8PerChannel => weights + 4 * out_features as u64,
        Scheme::Int8 | Scheme::Int8Qnnpack | Scheme::Int8Embedding => weights + 4,
    };
    (4 * weights + bias, stored + bias)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::Cell;

    #[test]
    fn a_language_model_is_held_back_by_its_fp32_embedding() {
        let dims = ModelDims {
            head: 65,
            ..ModelDims::square(128)
        };
        let int8 = module_sizes(&dims, Scheme::Int8, Some(65));
        let names: Vec<&str> = int8.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["embedding", "lstm layer 0", "decoder"]);
        assert_eq!(int8[0].bytes, 65 * 128 * 4);
        // 512 × 128 weights twice, a scale each, two biases of 512.
        assert_eq!(int8[1].bytes, 2 * (512 * 128 + 4 + 512 * 4));
        assert_eq!(int8[1].fp32_bytes, 2 * (512 * 128 * 4 + 512 * 4));
        assert_eq!(heaviest_unshrunk(&int8).unwrap().name, "embedding");
        let quantized = module_sizes(&dims, Scheme::Int8Embedding, Some(65));
        assert_eq!(quantized[0].dtype, "quint8");
        assert_eq!(quantized[0].bytes, 65 * 128 + 65 * 8);
    }

    #[test]
    fn every_direction_of_every_layer_is_its_own_module() {
        let dims = ModelDims {
            num_layers: 2,
            cell: Cell::Gru,
            bidirectional: true,
            ..ModelDims::square(16)
        };
        let modules = module_sizes(&dims, Scheme::Int8PerChannel, None);
        let names: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "gru layer 0",
                "gru layer 0 reverse",
                "gru layer 1",
                "gru layer 1 reverse"
            ]
        );
        // Layer 1 reads both directions' 16 features: 48 × 32 input weights.
        assert_eq!(
            modules[2].bytes,
            (48 * 32 + 48 * 4) + (48 * 16 + 48 * 4) + 2 * 48 * 4
        );
        assert!(modules.iter().all(|m| m.dtype == "qint8"));
    }
}
