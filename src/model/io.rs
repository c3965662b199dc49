//! The FP32 model in safetensors with PyTorch's state_dict names (see [`crate::io`] for the
//! names), and the walk over a recurrent model's linear maps that every format's reader and writer shares.

use std::path::Path;

use super::dims::ModelDims;
use super::linear::{Linear, LinearOp};
use super::recurrent::{Recurrent, RecurrentLayer};
use crate::error::Result;
use crate::io::{
    LinearName, LinearRole, OwnedTensor, Projection, StateDictLayout, TensorFile, read_file,
};

/// Loads an FP32 `nn.LSTM` (and optional `fc` head) from a safetensors file.
pub fn load_fp32(path: &Path) -> Result<Recurrent<Linear>> {
    let bytes = read_file(path)?;
    parse_fp32(&bytes, &path.display().to_string())
}

/// Parses an FP32 model from safetensors bytes; `origin` names the source in errors.
/// Tensors that are not model weights are ignored.
pub fn parse_fp32(bytes: &[u8], origin: &str) -> Result<Recurrent<Linear>> {
    let file = TensorFile::parse(bytes, origin)?;
    Ok(read_fp32(&file)?.0)
}

/// Reads the FP32 model in `file`, with the layout its names were found in.
pub(crate) fn read_fp32(file: &TensorFile<'_>) -> Result<(Recurrent<Linear>, StateDictLayout)> {
    read_float_lstm(file, |name, shape| file.f32(name, shape))
}

/// Reads an LSTM of f32 linear maps from a file whose weights `read_weight(name, shape)`
/// converts to f32 (FP32 and FP16 files).
pub(crate) fn read_float_lstm(
    file: &TensorFile<'_>,
    read_weight: impl Fn(&str, &[usize]) -> Result<Vec<f32>>,
) -> Result<(Recurrent<Linear>, StateDictLayout)> {
    read_lstm(file, "", |stored| {
        let [rows, cols] = stored.shape;
        let weight = read_weight(&stored.name.weight, &stored.shape)?;
        Ok(Linear::new(weight, stored.bias()?, cols, rows))
    })
}

/// The tensors of an FP32 model under PyTorch's names, ready for [`crate::io::serialize`].
pub(crate) fn fp32_tensors(model: &Recurrent<Linear>) -> Vec<(String, OwnedTensor)> {
    lstm_tensors(
        model,
        |name, linear| {
            let shape = [linear.out_features(), linear.in_features()];
            vec![(name.to_string(), OwnedTensor::f32(&linear.weight(), &shape))]
        },
        |linear| &linear.bias,
    )
}

/// One linear map of a file being read: its names, its weight's `[rows, cols]`, and its bias
/// on request.
pub(crate) struct StoredLinear<'a> {
    file: &'a TensorFile<'a>,
    /// The map's state_dict names.
    pub name: LinearName,
    /// The weight's shape, `[out_features, in_features]`.
    pub shape: [usize; 2],
}

impl StoredLinear<'_> {
    /// The bias, all zeros when the model has none (`nn.LSTM(bias=False)`).
    pub fn bias(&self) -> Result<Vec<f32>> {
        let rows = self.shape[0];
        match &self.name.bias {
            Some(name) => self.file.f32(name, &[rows]),
            None => Ok(vec![0.0; rows]),
        }
    }
}

/// Finds the LSTM in `file` and reads every linear map with `read_linear`, in PyTorch's order.
/// `weight_suffix` is what the file's format appends to weight names (see
/// [`StateDictLayout::find`]).
pub(crate) fn read_lstm<'a, L: LinearOp>(
    file: &'a TensorFile<'a>,
    weight_suffix: &str,
    read_linear: impl Fn(&StoredLinear<'a>) -> Result<L>,
) -> Result<(Recurrent<L>, StateDictLayout)> {
    let (layout, sizes) = StateDictLayout::find(file, weight_suffix)?;
    let dims = ModelDims {
        input_size: sizes.input_size,
        hidden_size: sizes.hidden_size,
        num_layers: sizes.num_layers,
        head: sizes.head,
        cell: sizes.cell,
        bidirectional: sizes.bidirectional,
    };
    dims.validate().map_err(|e| file.error(e.to_string()))?;
    let (mut input, mut hidden, mut head) = (Vec::new(), Vec::new(), None);
    for name in layout.linear_maps(dims.num_layers) {
        let stored = StoredLinear {
            file,
            shape: weight_shape(&layout, dims, name.role),
            name,
        };
        let linear = read_linear(&stored)?;
        match stored.name.role {
            LinearRole::Layer(map) => match map.projection {
                Projection::Input => input.push(linear),
                Projection::Hidden => hidden.push(linear),
            },
            LinearRole::Head => head = Some(linear),
        }
    }
    let layers = input
        .into_iter()
        .zip(hidden)
        .map(|(ih, hh)| RecurrentLayer { ih, hh })
        .collect();
    Ok((Recurrent::from_parts(layers, head, dims), layout))
}

/// `[rows, cols]` of the weight of the linear map `role` in a model of `dims`.
fn weight_shape(layout: &StateDictLayout, dims: ModelDims, role: LinearRole) -> [usize; 2] {
    let rows = layout.cell().gates() * dims.hidden_size;
    match role {
        LinearRole::Layer(map) => match map.projection {
            Projection::Input => [rows, dims.layer_input_size(map.layer)],
            Projection::Hidden => [rows, dims.hidden_size],
        },
        LinearRole::Head => [dims.head, dims.output_size()],
    }
}

/// Every linear map of `model` with its names in `layout`, in PyTorch's order.
pub(crate) fn named_linear_maps<'m, L: LinearOp>(
    layout: &StateDictLayout,
    model: &'m Recurrent<L>,
) -> impl Iterator<Item = (LinearName, &'m L)> {
    layout
        .linear_maps(model.dims().num_layers)
        .filter_map(|name| {
            let linear = match name.role {
                LinearRole::Layer(map) => {
                    let directions = model.dims().directions();
                    let layer = &model.layers()[map.layer * directions + map.direction.index()];
                    match map.projection {
                        Projection::Input => &layer.ih,
                        Projection::Hidden => &layer.hh,
                    }
                }
                LinearRole::Head => model.head()?,
            };
            Some((name, linear))
        })
}

/// The tensors of every linear map of `model` under the names dynq writes
/// ([`StateDictLayout::written`]): each map's `weight_tensors(weight_name, map)`, then its f32
/// `bias`.
pub(crate) fn lstm_tensors<L: LinearOp>(
    model: &Recurrent<L>,
    weight_tensors: impl Fn(&str, &L) -> Vec<(String, OwnedTensor)>,
    bias: impl Fn(&L) -> &[f32],
) -> Vec<(String, OwnedTensor)> {
    let dims = model.dims();
    let layout = StateDictLayout::written(dims.cell, dims.bidirectional, model.head().is_some());
    let mut tensors = Vec::new();
    for (name, linear) in named_linear_maps(&layout, model) {
        tensors.extend(weight_tensors(&name.weight, linear));
        if let Some(bias_name) = name.bias {
            let values = bias(linear);
            tensors.push((bias_name, OwnedTensor::f32(values, &[values.len()])));
        }
    }
    tensors
}
