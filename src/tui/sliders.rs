//! The sliders over the Config: which field each one moves and the values it steps through.

use crate::bench::Config;

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
    /// Worker threads.
    Threads,
}

impl Slider {
    /// The rows shown, top to bottom; `linked` means input = hidden, one dimension slider.
    pub fn rows(linked: bool) -> &'static [Slider] {
        use Slider::*;
        if linked {
            &[Dim, SeqLen, Batch, Layers, Threads]
        } else {
            &[Input, Hidden, SeqLen, Batch, Layers, Threads]
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
            Slider::Threads => "threads",
        }
    }

    /// The Config value this slider shows.
    pub fn value(self, config: &Config) -> usize {
        match self {
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
            Slider::Threads => (1..=max_threads.max(1)).collect(),
        }
    }

    /// `config` with this slider moved one step up or down (unchanged at either end).
    pub fn moved(self, config: &Config, up: bool, max_threads: usize) -> Config {
        let value = step(&self.steps(max_threads), self.value(config), up);
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
            Slider::Threads => next.threads = value,
        }
        next
    }
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
