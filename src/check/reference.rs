//! Reference cases: a safetensors file holding a model (`nn.LSTM` or `nn.GRU`, one direction or
//! two), its inputs and PyTorch's outputs for each variant (`{V}.lstm_output` or
//! `{V}.gru_output`, `{V}.h_n`, `{V}.c_n` for an LSTM, `{V}.output` with a head) and, for the
//! int8 variants, PyTorch's quantized weights (`{V}.lstm.weight_ih_l0.int8` / `.scale`, ...).

use std::path::Path;

use ndarray::Array3;

use crate::error::{DynqError, Result};
use crate::io::{Cell, StateDictLayout, TensorFile, read_file};
use crate::metrics::{max_abs_diff, mean_abs_diff};
use crate::model::{FloatModel, Recurrent, RecurrentState, named_linear_maps, read_fp32};
use crate::quant::{Model, QLinear, Scheme, quantize_dynamic};

/// The bar a variant must clear to count as computing what PyTorch computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Largest allowed |dynq − PyTorch| over every output value.
    pub max_abs: f64,
    /// Largest allowed mean |dynq − PyTorch|.
    pub mean_abs: f64,
}

impl Tolerance {
    /// fp32 and fp16: max 1e-5; int8 variants: max 1e-4 and mean 1e-6.
    pub fn for_scheme(scheme: Scheme) -> Tolerance {
        if scheme.is_int8() {
            Tolerance {
                max_abs: 1e-4,
                mean_abs: 1e-6,
            }
        } else {
            Tolerance {
                max_abs: 1e-5,
                mean_abs: 1e-5,
            }
        }
    }
}

/// PyTorch's results for one variant.
#[derive(Debug, Clone)]
pub struct VariantExpectation {
    /// The variant.
    pub scheme: Scheme,
    /// `sequence_output`, `h_n`, `c_n` (LSTM) and, with a head, `output`, by name.
    pub outputs: Vec<(&'static str, Array3<f32>)>,
    /// PyTorch's int8 weights and scales per linear map, named as the model's weights are in
    /// the file (`lstm.weight_ih_l0`, ..., `fc.weight`).
    pub quantized_weights: Vec<(String, Vec<i8>, Vec<f64>)>,
}

/// One reference case read from a file.
#[derive(Debug, Clone)]
pub struct ReferenceCase {
    /// Where it came from.
    pub origin: String,
    /// The FP32 model.
    pub model: FloatModel,
    /// `[T, B, I]`.
    pub input: Array3<f32>,
    /// `(h0, c0)`.
    pub state: RecurrentState,
    /// The variants the file has outputs for.
    pub expectations: Vec<VariantExpectation>,
    /// The file's metadata (seed, sizes, torch version...).
    pub metadata: std::collections::HashMap<String, String>,
    /// How the model's tensors are named in the file, which names its quantized weights too.
    layout: StateDictLayout,
}

/// The comparison of one variant with PyTorch.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VariantCheck {
    /// Variant name (`fp32`, `int8`, `int8_per_channel`, `fp16`, `int8_qnnpack`).
    pub name: Scheme,
    /// Largest |dynq − PyTorch| over every compared output value.
    pub max_abs_diff: f64,
    /// Mean |dynq − PyTorch| over every compared output value.
    pub mean_abs_diff: f64,
    /// Whether dynq's int8 weights and scales equal PyTorch's exactly; `None` when the variant
    /// has no quantized weights in the file (fp32, fp16).
    pub weights_equal: Option<bool>,
    /// Within [`Tolerance::for_scheme`] and, where present, weights equal.
    pub pass: bool,
}

/// The result of `dynq check` on one file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CheckReport {
    /// The file checked.
    pub file: String,
    /// One entry per variant found in the file.
    pub variants: Vec<VariantCheck>,
}

impl CheckReport {
    /// Whether every variant passed.
    pub fn pass(&self) -> bool {
        !self.variants.is_empty() && self.variants.iter().all(|v| v.pass)
    }

    /// A human-readable table.
    pub fn to_text(&self) -> String {
        let mut s = format!("{}\n", self.file);
        s += &format!(
            "  {:<18} {:>12} {:>12} {:>14}  {}\n",
            "variant", "max |diff|", "mean |diff|", "weights equal", "result"
        );
        for v in &self.variants {
            let weights = match v.weights_equal {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            };
            s += &format!(
                "  {:<18} {:>12.3e} {:>12.3e} {:>14}  {}\n",
                v.name.name(),
                v.max_abs_diff,
                v.mean_abs_diff,
                weights,
                if v.pass { "pass" } else { "FAIL" }
            );
        }
        s
    }
}

fn array3(file: &TensorFile<'_>, name: &str) -> Result<Array3<f32>> {
    let (shape, values) = file.f32_any(name)?;
    let shape: [usize; 3] = shape.as_slice().try_into().map_err(|_| {
        DynqError::weights(
            "reference",
            format!("tensor '{name}' has shape {shape:?}, expected 3 dimensions"),
        )
    })?;
    Ok(Array3::from_shape_vec(shape, values).expect("safetensors checked the length"))
}

impl ReferenceCase {
    /// Reads a reference case from a file.
    pub fn load(path: &Path) -> Result<ReferenceCase> {
        let bytes = read_file(path)?;
        ReferenceCase::parse(&bytes, &path.display().to_string())
    }

    /// Parses a reference case; `origin` names it in errors.
    pub fn parse(bytes: &[u8], origin: &str) -> Result<ReferenceCase> {
        let file = TensorFile::parse(bytes, origin)?;
        let (model, layout) = read_fp32(&file)?;
        let input = array3(&file, "input")?;
        let dims = model.dims();
        let h = array3(&file, "h0")?;
        let c = match dims.cell {
            Cell::Lstm => array3(&file, "c0")?,
            Cell::Gru => Array3::zeros(RecurrentState::shapes(dims, input.dim().1)[1]),
        };
        let state = RecurrentState { h, c };
        // `{V}.lstm_output` or `{V}.gru_output`: the recurrent module's output.
        let sequence_output = format!("{}_output", dims.cell.name());
        let mut expectations = Vec::new();
        for scheme in Scheme::ALL {
            let v = scheme.name();
            if !file.has(&format!("{v}.{sequence_output}")) {
                continue;
            }
            let mut outputs = vec![
                (
                    "sequence_output",
                    array3(&file, &format!("{v}.{sequence_output}"))?,
                ),
                ("h_n", array3(&file, &format!("{v}.h_n"))?),
            ];
            if dims.cell.has_cell_state() {
                outputs.push(("c_n", array3(&file, &format!("{v}.c_n"))?));
            }
            if model.head().is_some() {
                outputs.push(("output", array3(&file, &format!("{v}.output"))?));
            }
            let mut quantized_weights = Vec::new();
            for name in layout.linear_maps(dims.num_layers) {
                let key = format!("{v}.{}.int8", name.weight);
                if file.has(&key) {
                    let shape = file.shape(&key).unwrap_or_default();
                    let weights = file.i8(&key, &shape)?;
                    let scales = file.f64_any(&format!("{v}.{}.scale", name.weight))?.1;
                    quantized_weights.push((name.weight, weights, scales));
                }
            }
            expectations.push(VariantExpectation {
                scheme,
                outputs,
                quantized_weights,
            });
        }
        if expectations.is_empty() {
            return Err(DynqError::weights(
                origin,
                format!(
                    "no PyTorch outputs found (expected tensors such as 'fp32.{sequence_output}')"
                ),
            ));
        }
        Ok(ReferenceCase {
            origin: origin.to_string(),
            model,
            input,
            state,
            expectations,
            metadata: file.metadata.clone(),
            layout,
        })
    }

    /// Runs every variant the file has outputs for and compares it with PyTorch.
    pub fn check(&self) -> Result<CheckReport> {
        let mut variants = Vec::new();
        for expected in &self.expectations {
            let model = quantize_dynamic(&self.model, expected.scheme);
            variants.push(self.check_variant(&model, expected)?);
        }
        Ok(CheckReport {
            file: self.origin.clone(),
            variants,
        })
    }

    /// Compares one (already quantized) model with PyTorch's results for its variant.
    pub fn check_variant(
        &self,
        model: &Model,
        expected: &VariantExpectation,
    ) -> Result<VariantCheck> {
        let out = model.forward(self.input.view(), Some(&self.state))?;
        let mut ours: Vec<f32> = Vec::new();
        let mut theirs: Vec<f32> = Vec::new();
        for (name, reference) in &expected.outputs {
            let actual = match *name {
                "sequence_output" => &out.lstm_output,
                "h_n" => &out.h_n,
                "c_n" => &out.c_n,
                _ => out.head_output.as_ref().expect("the model has a head"),
            };
            if actual.shape() != reference.shape() {
                return Err(DynqError::ShapeMismatch {
                    what: format!("{}.{name}", expected.scheme),
                    got: actual.shape().to_vec(),
                    expected: reference.shape().to_vec(),
                });
            }
            ours.extend(actual.iter());
            theirs.extend(reference.iter());
        }
        let max = max_abs_diff(&ours, &theirs);
        let mean = mean_abs_diff(&ours, &theirs);
        let weights_equal = match model {
            Model::Int8(q) if !expected.quantized_weights.is_empty() => Some(weights_match(
                &self.quantized_maps(q),
                &expected.quantized_weights,
            )),
            _ => None,
        };
        let tolerance = Tolerance::for_scheme(expected.scheme);
        let pass =
            max <= tolerance.max_abs && mean <= tolerance.mean_abs && weights_equal != Some(false);
        Ok(VariantCheck {
            name: expected.scheme,
            max_abs_diff: max,
            mean_abs_diff: mean,
            weights_equal,
            pass,
        })
    }

    /// The int8 maps of `model`, named as this case's file names its weights.
    fn quantized_maps<'m>(&self, model: &'m Recurrent<QLinear>) -> Vec<(String, &'m QLinear)> {
        named_linear_maps(&self.layout, model)
            .map(|(name, q)| (name.weight, q))
            .collect()
    }
}

fn weights_match(ours: &[(String, &QLinear)], theirs: &[(String, Vec<i8>, Vec<f64>)]) -> bool {
    theirs.iter().all(|(name, weights, scales)| {
        ours.iter().find(|(n, _)| n == name).is_some_and(|(_, q)| {
            q.weights() == *weights
                && q.scales().len() == scales.len()
                && q.scales()
                    .iter()
                    .zip(scales)
                    .all(|(a, b)| f64::from(*a) == *b)
        })
    })
}
