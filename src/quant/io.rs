//! Safetensors layout of every variant, with PyTorch's state_dict names:
//! - fp32: `lstm.weight_ih_l{k}` ... f32, `fc.weight`, `fc.bias`;
//! - fp16: the same names, weights in f16, biases in f32;
//! - int8 / int8_per_channel / int8_qnnpack: `NAME.int8` (i8), `NAME.scale` (f32, `[1]` or
//!   `[rows]`) for every weight, biases in f32.
//!
//! The `__metadata__` key `dynq_scheme` names the scheme. Files without biases
//! (`nn.LSTM(bias=False)`) read as zero biases; dynq always writes them.

use std::collections::HashMap;
use std::path::Path;

use super::model::Model;
use super::qlinear::QLinear;
use super::scheme::Scheme;
use crate::error::Result;
use crate::io::{OwnedTensor, TensorFile, read_file, serialize, write_atomically};
use crate::kernels::Engine;
use crate::model::{
    FloatModel, Linear, LinearOp, Recurrent, fp32_tensors, lstm_tensors, read_float_lstm,
    read_fp32, read_lstm,
};

/// Metadata key holding the scheme's name.
const SCHEME_KEY: &str = "dynq_scheme";

/// What int8 files append to a weight's name for its int8 values and for its scales.
const INT8_SUFFIX: &str = ".int8";
const SCALE_SUFFIX: &str = ".scale";

impl Model {
    /// The model as safetensors bytes (see [`Model::from_safetensors`] for the layout).
    pub fn to_safetensors(&self) -> Vec<u8> {
        serialize(&self.tensors(), HashMap::from([self.scheme_metadata()]))
    }

    /// The model's tensors under the names [`Model::to_safetensors`] writes.
    pub(crate) fn tensors(&self) -> Vec<(String, OwnedTensor)> {
        match self {
            Model::Fp32(m) => fp32_tensors(m),
            Model::Fp16(m) => lstm_tensors(m, f16_weight, |l| &l.bias),
            Model::Int8(m) | Model::Int8Embedding(m) => lstm_tensors(m, int8_weight, QLinear::bias),
        }
    }

    /// The metadata entry that names the model's scheme.
    pub(crate) fn scheme_metadata(&self) -> (String, String) {
        (SCHEME_KEY.to_string(), self.scheme().name().to_string())
    }

    /// Reads a model written by [`Model::to_safetensors`], or a plain FP32 PyTorch state_dict.
    pub fn from_safetensors(bytes: &[u8], origin: &str) -> Result<Model> {
        let file = TensorFile::parse(bytes, origin)?;
        let scheme = match file.metadata.get(SCHEME_KEY) {
            Some(name) => name
                .parse::<Scheme>()
                .map_err(|e| file.error(format!("metadata '{SCHEME_KEY}': {e}")))?,
            None => Scheme::Fp32,
        };
        let model = match scheme {
            Scheme::Fp32 => Model::Fp32(read_fp32(&file)?.0),
            Scheme::Fp16 => Model::Fp16(read_fp16(&file)?),
            Scheme::Int8 | Scheme::Int8PerChannel => {
                Model::Int8(read_int8(&file, scheme == Scheme::Int8PerChannel)?)
            }
            // qnnpack's weights are x86's; only the run-time numerics differ.
            Scheme::Int8Qnnpack => Model::Int8(
                read_int8(&file, false)?.map_linear(|q| q.clone().with_engine(Engine::Qnnpack)),
            ),
            Scheme::Int8Embedding => Model::Int8Embedding(read_int8(&file, false)?),
        };
        Ok(model)
    }

    /// Writes the model to `path` atomically (temporary file, then rename); returns its size.
    pub fn save(&self, path: &Path) -> Result<u64> {
        let bytes = self.to_safetensors();
        write_atomically(path, &bytes)?;
        Ok(bytes.len() as u64)
    }

    /// Reads a model file; see [`Model::from_safetensors`].
    pub fn load(path: &Path) -> Result<Model> {
        let bytes = read_file(path)?;
        Model::from_safetensors(&bytes, &path.display().to_string())
    }
}

/// An fp16 file's weight tensor: the (already f16-exact) weights in f16.
fn f16_weight(name: &str, linear: &Linear) -> Vec<(String, OwnedTensor)> {
    let halves: Vec<half::f16> = linear
        .weight()
        .iter()
        .map(|&w| half::f16::from_f32(w))
        .collect();
    let shape = [linear.out_features(), linear.in_features()];
    vec![(name.to_string(), OwnedTensor::f16(&halves, &shape))]
}

/// An int8 file's weight tensors: `NAME.int8` and `NAME.scale`.
fn int8_weight(name: &str, q: &QLinear) -> Vec<(String, OwnedTensor)> {
    let shape = [q.out_features(), q.in_features()];
    vec![
        (
            format!("{name}{INT8_SUFFIX}"),
            OwnedTensor::i8(&q.weights(), &shape),
        ),
        (
            format!("{name}{SCALE_SUFFIX}"),
            OwnedTensor::f32(q.scales(), &[q.scales().len()]),
        ),
    ]
}

/// Reads an fp16 file's model: f16 weights, f32 biases.
fn read_fp16(file: &TensorFile<'_>) -> Result<FloatModel> {
    let (model, _) = read_float_lstm(file, |name, shape| file.f16_as_f32(name, shape))?;
    Ok(model)
}

/// Reads an int8 file's model: `NAME.int8` weights, `NAME.scale` scales, f32 biases.
fn read_int8(file: &TensorFile<'_>, per_channel: bool) -> Result<Recurrent<QLinear>> {
    let (model, _) = read_lstm(file, INT8_SUFFIX, |stored| {
        let [rows, cols] = stored.shape;
        let name = &stored.name.weight;
        let weights = file.i8(&format!("{name}{INT8_SUFFIX}"), &stored.shape)?;
        let scale_len = if per_channel { rows } else { 1 };
        let scales = file.f32(&format!("{name}{SCALE_SUFFIX}"), &[scale_len])?;
        let bias = stored.bias()?;
        Ok(QLinear::from_parts(
            &weights,
            rows,
            cols,
            scales,
            per_channel,
            bias,
        ))
    })?;
    Ok(model)
}
