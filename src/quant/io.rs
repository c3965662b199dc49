//! Safetensors layout of every variant, with PyTorch's state_dict names:
//! - fp32: `lstm.weight_ih_l{k}` ... f32, `fc.weight`, `fc.bias`;
//! - fp16: the same names, weights in f16, biases in f32;
//! - int8 / int8_per_channel: `NAME.int8` (i8), `NAME.scale` (f32, `[1]` or `[rows]`) for every
//!   weight, biases in f32.
//!
//! The `__metadata__` key `dynq_scheme` names the scheme.

use std::collections::HashMap;

use super::model::Model;
use super::qlinear::QLinear;
use super::scheme::Scheme;
use crate::error::Result;
use crate::model::io::{LstmStructure, OwnedTensor, TensorFile, serialize};
use crate::model::{Linear, LinearOp, Lstm, LstmLayer, fp32_tensors, parse_fp32};

/// Metadata key holding the scheme's name.
const SCHEME_KEY: &str = "dynq_scheme";

/// The tensors of any linear map of a model, named after its weight tensor (`lstm.weight_ih_l0`,
/// `fc.weight`) and its bias tensor.
fn linear_names<L: LinearOp>(model: &Lstm<L>) -> Vec<(String, String, &L)> {
    let mut out = Vec::new();
    for (k, layer) in model.layers().iter().enumerate() {
        for (kind, linear) in [("ih", &layer.ih), ("hh", &layer.hh)] {
            out.push((
                format!("lstm.weight_{kind}_l{k}"),
                format!("lstm.bias_{kind}_l{k}"),
                linear,
            ));
        }
    }
    if let Some(head) = model.head() {
        out.push(("fc.weight".into(), "fc.bias".into(), head));
    }
    out
}

pub(super) fn to_safetensors(model: &Model) -> Vec<u8> {
    let tensors = match model {
        Model::Fp32(m) => fp32_tensors(m),
        Model::Fp16(m) => linear_names(m)
            .into_iter()
            .flat_map(|(weight_name, bias_name, l)| {
                let halves: Vec<half::f16> =
                    l.weight().iter().map(|&w| half::f16::from_f32(w)).collect();
                [
                    (
                        weight_name,
                        OwnedTensor::f16(&halves, &[l.out_features(), l.in_features()]),
                    ),
                    (bias_name, OwnedTensor::f32(&l.bias, &[l.out_features()])),
                ]
            })
            .collect(),
        Model::Int8(m) => linear_names(m)
            .into_iter()
            .flat_map(|(weight_name, bias_name, q)| {
                [
                    (
                        format!("{weight_name}.int8"),
                        OwnedTensor::i8(&q.weights(), &[q.out_features(), q.in_features()]),
                    ),
                    (
                        format!("{weight_name}.scale"),
                        OwnedTensor::f32(q.scales(), &[q.scales().len()]),
                    ),
                    (bias_name, OwnedTensor::f32(q.bias(), &[q.out_features()])),
                ]
            })
            .collect(),
    };
    let metadata = HashMap::from([(SCHEME_KEY.to_string(), model.scheme().name().to_string())]);
    serialize(&tensors, metadata)
}

pub(super) fn from_safetensors(bytes: &[u8], origin: &str) -> Result<Model> {
    let file = TensorFile::parse(bytes, origin)?;
    let scheme = match file.metadata.get(SCHEME_KEY) {
        Some(name) => name.parse::<Scheme>().map_err(|e| {
            crate::DynqError::weights(origin, format!("metadata '{SCHEME_KEY}': {e}"))
        })?,
        None => Scheme::Fp32,
    };
    match scheme {
        Scheme::Fp32 => Ok(Model::Fp32(parse_fp32(bytes, origin)?)),
        Scheme::Fp16 => {
            let structure = file.lstm_structure()?;
            Ok(Model::Fp16(read_layers(
                &file,
                &structure,
                |name, rows, cols, bias| {
                    let w = file.f16_as_f32(name, &[rows, cols])?;
                    Ok(Linear::new(w, bias, cols, rows))
                },
            )?))
        }
        Scheme::Int8 | Scheme::Int8PerChannel => {
            let per_channel = scheme == Scheme::Int8PerChannel;
            let structure = file.lstm_structure()?;
            Ok(Model::Int8(read_layers(
                &file,
                &structure,
                |name, rows, cols, bias| {
                    let w = file.i8(&format!("{name}.int8"), &[rows, cols])?;
                    let scale_len = if per_channel { rows } else { 1 };
                    let scales = file.f32(&format!("{name}.scale"), &[scale_len])?;
                    Ok(QLinear::from_parts(
                        &w,
                        rows,
                        cols,
                        scales,
                        per_channel,
                        bias,
                    ))
                },
            )?))
        }
    }
}

/// Reads every layer and the head, building each linear map with `make(weight_name, rows, cols,
/// bias)`.
fn read_layers<L: LinearOp>(
    file: &TensorFile<'_>,
    structure: &LstmStructure,
    make: impl Fn(&str, usize, usize, Vec<f32>) -> Result<L>,
) -> Result<Lstm<L>> {
    let dims = structure.dims;
    let h = dims.hidden_size;
    let mut layers = Vec::with_capacity(dims.num_layers);
    for k in 0..dims.num_layers {
        let linear = |kind: &str, cols: usize| {
            let bias = file.f32(&structure.name(&format!("bias_{kind}_l{k}")), &[4 * h])?;
            make(
                &structure.name(&format!("weight_{kind}_l{k}")),
                4 * h,
                cols,
                bias,
            )
        };
        layers.push(LstmLayer {
            ih: linear("ih", structure.layer_input(k))?,
            hh: linear("hh", h)?,
        });
    }
    let head = if dims.head > 0 {
        let bias = file.f32("fc.bias", &[dims.head])?;
        Some(make("fc.weight", dims.head, h, bias)?)
    } else {
        None
    };
    Ok(Lstm::from_parts(layers, head, dims))
}
