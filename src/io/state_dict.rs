//! PyTorch's state_dict names for a recurrent model, written down once: every reader and writer
//! of model files (FP32, FP16, int8, reference cases) walks [`StateDictLayout::linear_maps`].
//!
//! Today that is an `nn.LSTM` saved bare (`weight_ih_l0`, ...) or as a module's `lstm` field
//! (`lstm.weight_ih_l0`, ...), with or without biases, and an optional `nn.Linear` head `fc`.
//! The types leave room for what is coming without changing their users: other prefixes
//! (`rnn.` and a `decoder.` head for RNNModel), other cells ([`Cell`] fixes the gate count:
//! GRU's rows are `3H`) and bidirectional layers ([`Direction`], whose names end `_reverse`).

use super::tensor_file::TensorFile;
use crate::error::Result;

/// The recurrent cell, which fixes how many gates each weight stacks in its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cell {
    /// `nn.LSTM`: gates i, f, g, o.
    Lstm,
}

impl Cell {
    /// Gates stacked in the rows of each weight (`rows = gates × hidden_size`).
    pub fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
        }
    }
}

/// Which way a layer reads the sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// First to last step; PyTorch's names carry no suffix.
    Forward,
}

impl Direction {
    /// What PyTorch appends to the names of this direction's tensors.
    fn suffix(self) -> &'static str {
        match self {
            Direction::Forward => "",
        }
    }
}

/// One of a recurrent layer's two linear maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Projection {
    /// `W_ih`: from the layer's input.
    Input,
    /// `W_hh`: from the previous hidden state.
    Hidden,
}

impl Projection {
    /// The projection's part of PyTorch's names (`weight_ih_l0`).
    fn short_name(self) -> &'static str {
        match self {
            Projection::Input => "ih",
            Projection::Hidden => "hh",
        }
    }
}

/// One linear map of a recurrent layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LayerMap {
    /// The layer, 0 first.
    pub layer: usize,
    /// The direction it belongs to.
    pub direction: Direction,
    /// Which of its projections.
    pub projection: Projection,
}

/// Which linear map of the model a [`LinearName`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinearRole {
    /// A projection of a recurrent layer.
    Layer(LayerMap),
    /// The Linear head applied to every output.
    Head,
}

/// The state_dict names of one linear map's tensors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinearName {
    /// Which map it is.
    pub role: LinearRole,
    /// The weight's name (`lstm.weight_ih_l0`, `fc.weight`).
    pub weight: String,
    /// The bias's name, `None` when the model has none (`nn.LSTM(bias=False)`).
    pub bias: Option<String>,
}

/// The sizes a state_dict's weight shapes give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StateDictSizes {
    /// Features of the first layer's input.
    pub input_size: usize,
    /// Features of every hidden state.
    pub hidden_size: usize,
    /// Recurrent layers.
    pub num_layers: usize,
    /// Outputs of the head, 0 without one.
    pub head: usize,
}

/// How a recurrent model's tensors are named in a state_dict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StateDictLayout {
    cell: Cell,
    /// Prefix of the recurrent layers' tensors: `"lstm."` or `""`.
    rnn_prefix: &'static str,
    /// Prefix of the head's tensors (`"fc."`), `None` without a head.
    head_prefix: Option<&'static str>,
    /// Whether the recurrent layers have bias tensors.
    has_bias: bool,
}

/// The prefix dynq writes and PyTorch gives a module's `lstm` field.
const LSTM_PREFIX: &str = "lstm.";
/// The prefix of the head's tensors, a module's `fc` field.
const HEAD_PREFIX: &str = "fc.";

impl StateDictLayout {
    /// The layout dynq writes: an LSTM under `lstm.` with biases, and the head under `fc.`.
    pub fn lstm(has_head: bool) -> Self {
        StateDictLayout {
            cell: Cell::Lstm,
            rnn_prefix: LSTM_PREFIX,
            head_prefix: has_head.then_some(HEAD_PREFIX),
            has_bias: true,
        }
    }

    /// The recurrent cell.
    pub fn cell(&self) -> Cell {
        self.cell
    }

    /// Every linear map's names in PyTorch's order: layer by layer, `ih` then `hh`, then the
    /// head.
    pub fn linear_maps(&self, num_layers: usize) -> impl Iterator<Item = LinearName> + use<> {
        let layout = *self;
        let layers = (0..num_layers).flat_map(move |layer| {
            [Projection::Input, Projection::Hidden].map(move |projection| {
                layout.layer_map(LayerMap {
                    layer,
                    direction: Direction::Forward,
                    projection,
                })
            })
        });
        let head = self.head_prefix.map(|prefix| LinearName {
            role: LinearRole::Head,
            weight: format!("{prefix}weight"),
            bias: Some(format!("{prefix}bias")),
        });
        layers.chain(head)
    }

    fn layer_map(&self, map: LayerMap) -> LinearName {
        let name = |kind: &str| {
            format!(
                "{}{kind}_{}_l{}{}",
                self.rnn_prefix,
                map.projection.short_name(),
                map.layer,
                map.direction.suffix()
            )
        };
        LinearName {
            role: LinearRole::Layer(map),
            weight: name("weight"),
            bias: self.has_bias.then(|| name("bias")),
        }
    }

    /// Finds the layout of the model in `file` and the sizes its weights give, refusing what
    /// PyTorch models dynq does not run. `weight_suffix` is what the file's format appends to
    /// weight names (`""` for float weights).
    pub fn find(file: &TensorFile<'_>, weight_suffix: &str) -> Result<(Self, StateDictSizes)> {
        let stored = |name: &str| format!("{name}{weight_suffix}");
        let rnn_prefix = find_rnn_prefix(file, &stored)?;
        let names = file.names();
        if names
            .iter()
            .any(|n| n.starts_with(rnn_prefix) && n.contains("_reverse"))
        {
            return Err(
                file.error("bidirectional LSTMs are not supported (found '_reverse' tensors)")
            );
        }
        if names
            .iter()
            .any(|n| n.starts_with(&format!("{rnn_prefix}weight_hr_l")))
        {
            return Err(
                file.error("LSTMs with proj_size are not supported (found 'weight_hr' tensors)")
            );
        }
        let cell = Cell::Lstm;
        let gates = cell.gates();
        let first_name = format!("{rnn_prefix}weight_ih_l0");
        let first = file
            .shape(&stored(&first_name))
            .ok_or_else(|| file.error(format!("missing tensor '{first_name}'")))?;
        if first.len() != 2 || first[0] == 0 || first[0] % gates != 0 {
            return Err(file.error(format!(
                "tensor '{first_name}' has shape {first:?}, expected [{gates}*hidden_size, input_size]"
            )));
        }
        let (hidden_size, input_size) = (first[0] / gates, first[1]);
        let num_layers = (1..)
            .find(|k| !file.has(&stored(&format!("{rnn_prefix}weight_ih_l{k}"))))
            .expect("a file holds finitely many tensors");
        let head_weight = format!("{HEAD_PREFIX}weight");
        let head = match file.shape(&stored(&head_weight)) {
            Some(shape) if shape.len() == 2 && shape[1] == hidden_size && shape[0] > 0 => shape[0],
            Some(shape) => {
                return Err(file.error(format!(
                    "tensor '{head_weight}' has shape {shape:?}, expected [head, {hidden_size}]"
                )));
            }
            None => 0,
        };
        let layout = StateDictLayout {
            cell,
            rnn_prefix,
            head_prefix: (head > 0).then_some(HEAD_PREFIX),
            has_bias: file.has(&format!("{rnn_prefix}bias_ih_l0")),
        };
        let sizes = StateDictSizes {
            input_size,
            hidden_size,
            num_layers,
            head,
        };
        Ok((layout, sizes))
    }
}

/// `lstm.` when the file holds `lstm.weight_ih_l0` in any format, `""` when it holds a bare
/// `weight_ih_l0` in the format `stored` spells.
fn find_rnn_prefix(file: &TensorFile<'_>, stored: &dyn Fn(&str) -> String) -> Result<&'static str> {
    let first = format!("{LSTM_PREFIX}weight_ih_l0");
    let in_any_format = |name: &str| name == first || name.starts_with(&format!("{first}."));
    if file.has(&stored(&first)) || file.names().into_iter().any(in_any_format) {
        Ok(LSTM_PREFIX)
    } else if file.has(&stored("weight_ih_l0")) {
        Ok("")
    } else {
        Err(file.error(
            "missing tensor 'lstm.weight_ih_l0' (or 'weight_ih_l0'): not an nn.LSTM state_dict",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(layout: &StateDictLayout, num_layers: usize) -> Vec<(String, Option<String>)> {
        layout
            .linear_maps(num_layers)
            .map(|n| (n.weight, n.bias))
            .collect()
    }

    #[test]
    fn the_written_layout_lists_layers_ih_then_hh_then_the_head() {
        let got = names(&StateDictLayout::lstm(true), 2);
        let expected = [
            ("lstm.weight_ih_l0", "lstm.bias_ih_l0"),
            ("lstm.weight_hh_l0", "lstm.bias_hh_l0"),
            ("lstm.weight_ih_l1", "lstm.bias_ih_l1"),
            ("lstm.weight_hh_l1", "lstm.bias_hh_l1"),
            ("fc.weight", "fc.bias"),
        ]
        .map(|(w, b)| (w.to_string(), Some(b.to_string())));
        assert_eq!(got, expected);
        assert_eq!(StateDictLayout::lstm(false).linear_maps(1).count(), 2);
    }

    #[test]
    fn a_layout_without_biases_names_none_for_the_layers_but_keeps_the_head_bias() {
        let layout = StateDictLayout {
            has_bias: false,
            rnn_prefix: "",
            ..StateDictLayout::lstm(true)
        };
        let got = names(&layout, 1);
        assert_eq!(got[0], ("weight_ih_l0".to_string(), None));
        assert_eq!(got[1], ("weight_hh_l0".to_string(), None));
        assert_eq!(
            got[2],
            ("fc.weight".to_string(), Some("fc.bias".to_string()))
        );
    }

    #[test]
    fn roles_follow_the_names() {
        let roles: Vec<LinearRole> = StateDictLayout::lstm(true)
            .linear_maps(1)
            .map(|n| n.role)
            .collect();
        let layer = |projection| {
            LinearRole::Layer(LayerMap {
                layer: 0,
                direction: Direction::Forward,
                projection,
            })
        };
        assert_eq!(
            roles,
            [
                layer(Projection::Input),
                layer(Projection::Hidden),
                LinearRole::Head
            ]
        );
    }
}
