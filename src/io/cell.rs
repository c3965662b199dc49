//! The recurrent cell a model's layers use: PyTorch's `nn.LSTM` or `nn.GRU`.

use std::fmt;
use std::str::FromStr;

use crate::error::DynqError;

/// The recurrent cell, which fixes the gates stacked in each weight's rows and the state.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Cell {
    /// `nn.LSTM`: gates i, f, g, o; state `h` and `c`.
    #[default]
    Lstm,
    /// `nn.GRU`: gates r, z, n; state `h` only.
    Gru,
}

impl Cell {
    /// Every cell, in the order `--help` lists them.
    pub const ALL: [Cell; 2] = [Cell::Lstm, Cell::Gru];

    /// Gates stacked in the rows of each weight (`rows = gates × hidden_size`).
    pub fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }

    /// The name used on the command line, in presets and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Cell::Lstm => "lstm",
            Cell::Gru => "gru",
        }
    }

    /// PyTorch's module name (`nn.LSTM`).
    pub fn module(self) -> &'static str {
        match self {
            Cell::Lstm => "nn.LSTM",
            Cell::Gru => "nn.GRU",
        }
    }

    /// Whether the cell carries a cell state `c` beside `h`.
    pub fn has_cell_state(self) -> bool {
        self == Cell::Lstm
    }

    /// The cell whose weights stack `gates` gates, if any.
    pub fn with_gates(gates: usize) -> Option<Cell> {
        Cell::ALL.into_iter().find(|c| c.gates() == gates)
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Cell {
    type Err = DynqError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normalized = s.trim().to_ascii_lowercase();
        Cell::ALL
            .into_iter()
            .find(|c| c.name() == normalized)
            .ok_or_else(|| {
                DynqError::Unsupported(format!("unknown cell '{s}': expected one of lstm, gru"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_gates_identify_the_cell() {
        for cell in Cell::ALL {
            assert_eq!(cell.name().parse::<Cell>().unwrap(), cell);
            assert_eq!(Cell::with_gates(cell.gates()), Some(cell));
        }
        assert_eq!(" GRU ".parse::<Cell>().unwrap(), Cell::Gru);
        let err = "rnn".parse::<Cell>().unwrap_err().to_string();
        assert!(err.contains("'rnn'") && err.contains("lstm, gru"), "{err}");
        assert_eq!(Cell::with_gates(2), None);
    }
}
