//! PyTorch's state_dict names for a recurrent model, written down once: every reader and writer
//! of model files (FP32, FP16, int8, reference cases) walks [`StateDictLayout::linear_maps`].
//!
//! That is an `nn.LSTM` or `nn.GRU` (one direction or two) saved bare (`weight_ih_l0`, ...),
//! as a module's `lstm` or `gru` field (`lstm.weight_ih_l0`, `gru.weight_hh_l1_reverse`, ...)
//! with an optional `nn.Linear` head `fc`, or as PyTorch's word_language_model `RNNModel`
//! (`encoder.weight`, `rnn.weight_ih_l0`, ..., `decoder.weight`, `decoder.bias`, the decoder's
//! weight possibly tied to the encoder's), with or without biases. The cell ([`Cell`] fixes
//! the gate count: a GRU's rows are `3H`) is the prefix's, else the one `weight_hh_l0`'s shape
//! gives; a bidirectional model's reverse layers are named with `_reverse` ([`Direction`]).

use super::cell::Cell;
use super::tensor_file::TensorFile;
use crate::error::Result;

/// Which way a layer reads the sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// First to last step; PyTorch's names carry no suffix.
    Forward,
    /// Last to first step (`bidirectional=True`); names end `_reverse`.
    Reverse,
}

impl Direction {
    /// What PyTorch appends to the names of this direction's tensors.
    fn suffix(self) -> &'static str {
        match self {
            Direction::Forward => "",
            Direction::Reverse => "_reverse",
        }
    }

    /// The directions of a model, forward first.
    fn of(bidirectional: bool) -> &'static [Direction] {
        if bidirectional {
            &[Direction::Forward, Direction::Reverse]
        } else {
            &[Direction::Forward]
        }
    }

    /// 0 forward, 1 reverse: the direction's place among a layer's.
    pub fn index(self) -> usize {
        self as usize
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
    /// The recurrent cell.
    pub cell: Cell,
    /// Whether the layers have reverse directions.
    pub bidirectional: bool,
}

/// How a recurrent model's tensors are named in a state_dict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StateDictLayout {
    cell: Cell,
    bidirectional: bool,
    /// Prefix of the recurrent layers' tensors: `"lstm."`, `"gru."`, `"rnn."` or `""`.
    rnn_prefix: &'static str,
    /// The head's names, `None` without a head.
    head: Option<HeadNames>,
    /// Whether the recurrent layers have bias tensors.
    has_bias: bool,
}

/// Where a model's head keeps its weight and its bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HeadNames {
    /// The weight's name (`fc.weight`; `encoder.weight` when the decoder is tied to it).
    weight: &'static str,
    /// The bias's name.
    bias: &'static str,
}

/// The prefix dynq writes for an LSTM, and PyTorch gives a module's `lstm` field.
const LSTM_PREFIX: &str = "lstm.";
/// The prefix dynq writes for a GRU, a module's `gru` field.
const GRU_PREFIX: &str = "gru.";
/// The prefix of RNNModel's recurrent layers, its `rnn` field.
const RNN_MODEL_PREFIX: &str = "rnn.";
/// The head dynq writes, a module's `fc` field.
const FC_HEAD: HeadNames = HeadNames {
    weight: "fc.weight",
    bias: "fc.bias",
};
/// RNNModel's head, its `decoder` field.
const DECODER_HEAD: HeadNames = HeadNames {
    weight: "decoder.weight",
    bias: "decoder.bias",
};
/// RNNModel's embedding table, its `encoder` field (`[vocabulary, features]`).
pub(crate) const ENCODER_WEIGHT: &str = "encoder.weight";
/// A decoder tied to the encoder (`decoder.weight is encoder.weight`): safetensors keeps one
/// of two shared tensors, and this names the one that stays.
const TIED_DECODER_HEAD: HeadNames = HeadNames {
    weight: ENCODER_WEIGHT,
    bias: "decoder.bias",
};

impl StateDictLayout {
    /// The layout dynq writes: the layers under `lstm.` (a GRU's under `gru.`) with biases,
    /// and the head under `fc.`.
    pub fn written(cell: Cell, bidirectional: bool, has_head: bool) -> Self {
        StateDictLayout {
            cell,
            bidirectional,
            rnn_prefix: match cell {
                Cell::Lstm => LSTM_PREFIX,
                Cell::Gru => GRU_PREFIX,
            },
            head: has_head.then_some(FC_HEAD),
            has_bias: true,
        }
    }

    /// The name of the first layer's `W_hh`, whose shape gives the cell.
    pub fn first_recurrent_weight(&self) -> String {
        format!("{}weight_hh_l0", self.rnn_prefix)
    }

    /// Whether the names are those of PyTorch's word_language_model `RNNModel`.
    pub fn is_rnn_model(&self) -> bool {
        self.rnn_prefix == RNN_MODEL_PREFIX
    }

    /// The recurrent cell.
    pub fn cell(&self) -> Cell {
        self.cell
    }

    /// Every linear map's names in PyTorch's order: layer by layer, each direction (forward
    /// first), `ih` then `hh`, then the head.
    pub fn linear_maps(&self, num_layers: usize) -> impl Iterator<Item = LinearName> + use<> {
        let layout = *self;
        let layers = (0..num_layers).flat_map(move |layer| {
            Direction::of(layout.bidirectional)
                .iter()
                .flat_map(move |&direction| {
                    [Projection::Input, Projection::Hidden].map(move |projection| {
                        layout.layer_map(LayerMap {
                            layer,
                            direction,
                            projection,
                        })
                    })
                })
        });
        let head = self.head.map(|names| LinearName {
            role: LinearRole::Head,
            weight: names.weight.to_string(),
            bias: Some(names.bias.to_string()),
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
        let bidirectional = names
            .iter()
            .any(|n| n.starts_with(rnn_prefix) && n.contains("_reverse"));
        if names
            .iter()
            .any(|n| n.starts_with(&format!("{rnn_prefix}weight_hr_l")))
        {
            return Err(
                file.error("LSTMs with proj_size are not supported (found 'weight_hr' tensors)")
            );
        }
        let cell = find_cell(file, &stored, rnn_prefix);
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
        let outputs = if bidirectional { 2 } else { 1 } * hidden_size;
        let (head_names, head) = find_head(file, &stored, rnn_prefix, outputs)?;
        let layout = StateDictLayout {
            cell,
            bidirectional,
            rnn_prefix,
            head: head_names,
            has_bias: file.has(&format!("{rnn_prefix}bias_ih_l0")),
        };
        let sizes = StateDictSizes {
            input_size,
            hidden_size,
            num_layers,
            head,
            cell,
            bidirectional,
        };
        Ok((layout, sizes))
    }
}

/// The cell of the layers under `rnn_prefix`: `lstm.`'s and `gru.`'s are their names', and
/// any other's the one whose gate count `weight_hh_l0`'s `[gates × hidden, hidden]` gives
/// (an LSTM when it gives none: reading the tensor then says what shape was expected).
fn find_cell(file: &TensorFile<'_>, stored: &dyn Fn(&str) -> String, rnn_prefix: &str) -> Cell {
    match rnn_prefix {
        LSTM_PREFIX => return Cell::Lstm,
        GRU_PREFIX => return Cell::Gru,
        _ => {}
    }
    let shape = file.shape(&stored(&format!("{rnn_prefix}weight_hh_l0")));
    let gates = match shape.as_deref() {
        Some(&[rows, cols]) if cols > 0 && rows % cols == 0 => rows / cols,
        _ => 0,
    };
    Cell::with_gates(gates).unwrap_or(Cell::Lstm)
}

/// `lstm.` (or `gru.`, `rnn.`) when the file holds `lstm.weight_ih_l0` (...) in any format,
/// `""` when it holds a bare `weight_ih_l0` in the format `stored` spells; an error when it
/// holds more than one model's layers.
fn find_rnn_prefix(file: &TensorFile<'_>, stored: &dyn Fn(&str) -> String) -> Result<&'static str> {
    let found: Vec<&'static str> = [LSTM_PREFIX, GRU_PREFIX, RNN_MODEL_PREFIX]
        .into_iter()
        .filter(|prefix| {
            let first = format!("{prefix}weight_ih_l0");
            let in_any_format =
                |name: &str| name == first || name.starts_with(&format!("{first}."));
            file.has(&stored(&first)) || file.names().into_iter().any(in_any_format)
        })
        .collect();
    match found[..] {
        [prefix] => Ok(prefix),
        [] if file.has(&stored("weight_ih_l0")) => Ok(""),
        [] => Err(file.error(
            "missing tensor 'lstm.weight_ih_l0' (or 'gru.weight_ih_l0', 'rnn.weight_ih_l0', \
             'weight_ih_l0'): not an nn.LSTM or nn.GRU state_dict",
        )),
        _ => Err(file.error(format!(
            "holds the layers of more than one model ('{}weight_ih_l0' and '{}weight_ih_l0'): \
             save one nn.LSTM or nn.GRU per file",
            found[0], found[1]
        ))),
    }
}

/// The head's names and its output count (0 without a head): `fc` beside `lstm.` or bare
/// names, RNNModel's `decoder` beside `rnn.`, whose weight may be the encoder's (tied).
fn find_head(
    file: &TensorFile<'_>,
    stored: &dyn Fn(&str) -> String,
    rnn_prefix: &str,
    outputs: usize,
) -> Result<(Option<HeadNames>, usize)> {
    let names = if rnn_prefix == RNN_MODEL_PREFIX {
        let untied = file.has(&stored(DECODER_HEAD.weight));
        if !untied && !file.has(DECODER_HEAD.bias) {
            return Ok((None, 0));
        }
        if untied {
            DECODER_HEAD
        } else {
            TIED_DECODER_HEAD
        }
    } else {
        FC_HEAD
    };
    let weight = stored(names.weight);
    match file.shape(&weight) {
        Some(shape) if shape.len() == 2 && shape[1] == outputs && shape[0] > 0 => {
            Ok((Some(names), shape[0]))
        }
        Some(shape) => Err(file.error(format!(
            "tensor '{weight}' has shape {shape:?}, expected [{}, {outputs}]{}",
            if names == TIED_DECODER_HEAD {
                "vocabulary"
            } else {
                "head"
            },
            if names == TIED_DECODER_HEAD {
                " (the decoder is tied to it: 'decoder.weight' is missing)"
            } else {
                ""
            }
        ))),
        None if names == TIED_DECODER_HEAD => Err(file.error(format!(
            "'{}' is present but neither 'decoder.weight' nor '{ENCODER_WEIGHT}' is",
            names.bias
        ))),
        None => Ok((None, 0)),
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
        let got = names(&StateDictLayout::written(Cell::Lstm, false, true), 2);
        let expected = [
            ("lstm.weight_ih_l0", "lstm.bias_ih_l0"),
            ("lstm.weight_hh_l0", "lstm.bias_hh_l0"),
            ("lstm.weight_ih_l1", "lstm.bias_ih_l1"),
            ("lstm.weight_hh_l1", "lstm.bias_hh_l1"),
            ("fc.weight", "fc.bias"),
        ]
        .map(|(w, b)| (w.to_string(), Some(b.to_string())));
        assert_eq!(got, expected);
        assert_eq!(
            StateDictLayout::written(Cell::Lstm, false, false)
                .linear_maps(1)
                .count(),
            2
        );
    }

    #[test]
    fn a_layout_without_biases_names_none_for_the_layers_but_keeps_the_head_bias() {
        let layout = StateDictLayout {
            has_bias: false,
            rnn_prefix: "",
            ..StateDictLayout::written(Cell::Lstm, false, true)
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
    fn a_bidirectional_gru_lists_each_layers_reverse_direction_after_its_forward_one() {
        let got = names(&StateDictLayout::written(Cell::Gru, true, false), 2);
        let weights: Vec<&str> = got.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(
            weights,
            [
                "gru.weight_ih_l0",
                "gru.weight_hh_l0",
                "gru.weight_ih_l0_reverse",
                "gru.weight_hh_l0_reverse",
                "gru.weight_ih_l1",
                "gru.weight_hh_l1",
                "gru.weight_ih_l1_reverse",
                "gru.weight_hh_l1_reverse",
            ]
        );
        assert_eq!(got[3].1.as_deref(), Some("gru.bias_hh_l0_reverse"));
    }

    #[test]
    fn roles_follow_the_names() {
        let roles: Vec<LinearRole> = StateDictLayout::written(Cell::Lstm, false, true)
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
