//! The sliders over the Config: which field each one moves and the values it steps through.
//! Two rows are switches rather than sliders: the recurrent cell and whether the layers are
//! bidirectional; left and right cycle through their choices.

use crate::bench::Config;
use crate::model::Cell;

/// Model dimensions, log-spaced by half octaves from 8 to 4096.
pub const DIM_STEPS: [usize; 19] = [
    8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096,
];
/// Sequence lengths, 1-2-5 steps.
pub const SEQ_STEPS: [usize; 10] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
/// Batch sizes, powers of two.
pub const BATCH_STEPS: [usize; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];
/// Stacked layers.
pub const LAYER_STEPS: [usize; 4] = [1, 2, 3, 4];

/// One slider row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slider {
    /// Input and hidden size together.
    Dim,
    /// Input size alone (when separated from the hidden size).
    Input,
    /// Hidden size alone (when separated from the input size).
    Hidden,
    /// Sequence length.
    SeqLen,
    /// Batch size.
    Batch,
    /// Stacked layers.
    Layers,
    /// The recurrent cell, LSTM or GRU (a switch).
    Cell,
    /// Whether every layer also reads the sequence backwards (a switch).
    Bidirectional,
    /// Worker threads.
    Threads,
}

impl Slider {
    /// The rows shown, top to bottom; `linked` means input = hidden, one dimension slider.
    pub fn rows(linked: bool) -> &'static [Slider] {
        use Slider::*;
        if linked {
            &[Dim, SeqLen, Batch, Layers, Cell, Bidirectional, Threads]
        } else {
            &[
                Input,
                Hidden,
                SeqLen,
                Batch,
                Layers,
                Cell,
                Bidirectional,
                Threads,
            ]
        }
    }

    /// The row's label.
    pub fn label(self) -> &'static str {
        match self {
            Slider::Dim => "dimension",
            Slider::Input => "input",
            Slider::Hidden => "hidden",
            Slider::SeqLen => "sequence",
            Slider::Batch => "batch",
            Slider::Layers => "layers",
            Slider::Cell => "cell",
            Slider::Bidirectional => "bidirectional",
            Slider::Threads => "threads",
        }
    }

    /// A switch's choices, in the order left/right cycles through them (the value is the
    /// index of the current one); empty for a slider.
    pub fn choices(self) -> &'static [&'static str] {
        match self {
            Slider::Cell => &CELL_CHOICES,
            Slider::Bidirectional => &["off", "on"],
            _ => &[],
        }
    }

    /// Whether this row is a switch (cell, bidirectional) rather than a slider.
    pub fn is_switch(self) -> bool {
        !self.choices().is_empty()
    }

    /// Whether a weight file, when the Config has one, decides this row's value: the file's
    /// tensors fix the cell and the directions.
    pub fn set_by_weight_file(self) -> bool {
        self.is_switch()
    }

    /// The Config value this slider shows; a switch's current choice (see [`Slider::choices`]).
    pub fn value(self, config: &Config) -> usize {
        match self {
            Slider::Cell => cell_index(config.cell.unwrap_or_default()),
            Slider::Bidirectional => usize::from(config.bidirectional),
            Slider::Dim | Slider::Hidden => config.hidden_size,
            Slider::Input => config.input_size,
            Slider::SeqLen => config.seq_len,
            Slider::Batch => config.batch,
            Slider::Layers => config.num_layers,
            Slider::Threads => config.threads,
        }
    }

    /// The values this slider steps through; threads go from 1 to `max_threads`.
    pub fn steps(self, max_threads: usize) -> Vec<usize> {
        match self {
            Slider::Dim | Slider::Input | Slider::Hidden => DIM_STEPS.to_vec(),
            Slider::SeqLen => SEQ_STEPS.to_vec(),
            Slider::Batch => BATCH_STEPS.to_vec(),
            Slider::Layers => LAYER_STEPS.to_vec(),
            Slider::Cell | Slider::Bidirectional => (0..self.choices().len()).collect(),
            Slider::Threads => (1..=max_threads.max(1)).collect(),
        }
    }

    /// `config` with this slider moved one step up or down (unchanged at either end); a
    /// switch goes to its next (`up`) or previous choice, round from the last to the first.
    pub fn moved(self, config: &Config, up: bool, max_threads: usize) -> Config {
        let value = if self.is_switch() {
            cycle(self.choices().len(), self.value(config), up)
        } else {
            step(&self.steps(max_threads), self.value(config), up)
        };
        let mut next = config.clone();
        match self {
            Slider::Dim => {
                next.input_size = value;
                next.hidden_size = value;
            }
            Slider::Input => next.input_size = value,
            Slider::Hidden => next.hidden_size = value,
            Slider::SeqLen => next.seq_len = value,
            Slider::Batch => next.batch = value,
            Slider::Layers => next.num_layers = value,
            Slider::Cell => next.cell = Some(Cell::ALL[value]),
            Slider::Bidirectional => next.bidirectional = value == 1,
            Slider::Threads => next.threads = value,
        }
        next
    }
}

/// The cell switch's choices, in the order of [`Cell::ALL`].
const CELL_CHOICES: [&str; Cell::ALL.len()] = ["LSTM", "GRU"];

/// Where `cell` sits in [`Cell::ALL`] (and among the cell switch's choices).
fn cell_index(cell: Cell) -> usize {
    Cell::ALL.iter().position(|&c| c == cell).unwrap_or(0)
}

/// The cell switch's name for `cell`: `LSTM`, `GRU`.
pub fn cell_name(cell: Cell) -> &'static str {
    CELL_CHOICES[cell_index(cell)]
}

/// The first of `rows` slider rows to draw in `visible` lines so that row `selected` is
/// among them: the top rows, unless the selection is further down.
pub fn first_shown(selected: usize, rows: usize, visible: usize) -> usize {
    selected
        .saturating_sub(visible.saturating_sub(1))
        .min(rows.saturating_sub(visible))
}

/// The next step above (`up`) or below `current`; `current` itself at the end of the range.
/// Values between steps (from a preset) move to the neighbouring step.
pub fn step(steps: &[usize], current: usize, up: bool) -> usize {
    let next = if up {
        steps.iter().copied().find(|&s| s > current)
    } else {
        steps.iter().rev().copied().find(|&s| s < current)
    };
    next.unwrap_or(current)
}

/// The choice after (`up`) or before `current` among `count`, round from the last to the first.
pub fn cycle(count: usize, current: usize, up: bool) -> usize {
    match count {
        0 => current,
        _ if up => (current + 1) % count,
        _ => (current + count - 1) % count,
    }
}

/// Where `value` sits along `steps`, from 0 (first step) to 1 (last), by step index so
/// log-spaced steps make a log-scaled track.
pub fn position(steps: &[usize], value: usize) -> f64 {
    if steps.len() < 2 {
        return 1.0;
    }
    let below = steps.iter().filter(|&&s| s <= value).count();
    below.saturating_sub(1) as f64 / (steps.len() - 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimension_steps_are_log_spaced_from_8_to_4096() {
        assert_eq!(DIM_STEPS.first(), Some(&8));
        assert_eq!(DIM_STEPS.last(), Some(&4096));
        for pair in DIM_STEPS.windows(2) {
            let ratio = pair[1] as f64 / pair[0] as f64;
            assert!((1.3..=1.5).contains(&ratio), "{pair:?}");
        }
    }

    #[test]
    fn step_moves_to_neighbours_and_stops_at_the_ends() {
        assert_eq!(step(&DIM_STEPS, 256, true), 384);
        assert_eq!(step(&DIM_STEPS, 256, false), 192);
        assert_eq!(step(&DIM_STEPS, 4096, true), 4096);
        assert_eq!(step(&DIM_STEPS, 8, false), 8);
        assert_eq!(step(&DIM_STEPS, 100, true), 128);
        assert_eq!(step(&DIM_STEPS, 100, false), 96);
        assert_eq!(step(&DIM_STEPS, 9000, false), 4096);
    }

    #[test]
    fn position_follows_the_step_index() {
        assert_eq!(position(&LAYER_STEPS, 1), 0.0);
        assert_eq!(position(&LAYER_STEPS, 4), 1.0);
        assert_eq!(position(&DIM_STEPS, 64), 6.0 / 18.0);
        assert_eq!(position(&[5], 5), 1.0);
    }

    #[test]
    fn dimension_slider_moves_input_and_hidden_together() {
        let config = Config::default();
        let next = Slider::Dim.moved(&config, true, 8);
        assert_eq!((next.input_size, next.hidden_size), (12, 12));
        let next = Slider::Hidden.moved(&next, true, 8);
        assert_eq!((next.input_size, next.hidden_size), (12, 16));
    }

    #[test]
    fn switches_cycle_round_their_choices() {
        let config = Config::default();
        let gru = Slider::Cell.moved(&config, true, 8);
        assert_eq!(gru.cell, Some(Cell::Gru));
        assert_eq!(Slider::Cell.moved(&gru, true, 8).cell, Some(Cell::Lstm));
        assert_eq!(Slider::Cell.moved(&config, false, 8).cell, Some(Cell::Gru));
        let both = Slider::Bidirectional.moved(&config, true, 8);
        assert!(both.bidirectional);
        assert!(!Slider::Bidirectional.moved(&both, false, 8).bidirectional);
        assert_eq!(
            Config {
                cell: None,
                bidirectional: false,
                ..gru
            },
            config
        );
        assert_eq!(cycle(3, 2, true), 0);
        assert_eq!(cycle(3, 0, false), 2);
    }

    #[test]
    fn cell_choices_follow_the_cells() {
        for cell in Cell::ALL {
            assert_eq!(cell_name(cell), cell.name().to_uppercase());
            assert_eq!(
                Slider::Cell.choices()[Slider::Cell.value(&Config {
                    cell: Some(cell),
                    ..Config::default()
                })],
                cell_name(cell)
            );
        }
    }

    #[test]
    fn the_rows_shown_keep_the_selection_in_view() {
        assert_eq!(first_shown(0, 7, 6), 0);
        assert_eq!(first_shown(5, 7, 6), 0);
        assert_eq!(first_shown(6, 7, 6), 1);
        assert_eq!(first_shown(7, 8, 6), 2);
        assert_eq!(first_shown(7, 8, 8), 0);
    }

    #[test]
    fn threads_are_bounded_by_the_machine() {
        let config = Config {
            threads: 4,
            ..Config::default()
        };
        assert_eq!(Slider::Threads.moved(&config, true, 4).threads, 4);
        assert_eq!(Slider::Threads.moved(&config, false, 4).threads, 3);
        assert_eq!(Slider::Threads.steps(0), vec![1]);
    }
}
