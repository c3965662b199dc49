//! Preset replay as the dashboard sees it: a list of Configs, each measured for a while,
//! and the pure rule deciding when to move on.

use std::time::Duration;

use crate::bench::Config;

/// A named list of steps replayed in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    /// Shown in the header (`recipe`, `dim-sweep`, ...).
    pub name: String,
    /// The steps, in order; the first one is what the worker starts with.
    pub steps: Vec<PresetStep>,
}

/// One Config of a preset and how long to measure it before moving on.
#[derive(Debug, Clone, PartialEq)]
pub struct PresetStep {
    /// What the worker runs during this step.
    pub config: Config,
    /// Measured time (the worker's `Snapshot::elapsed`) before automatic stepping moves on.
    pub duration: Duration,
}

/// Whether automatic stepping moves from `step` (0-based, of `steps`) to the next one, given
/// the time measured under the step's Config. Never past the last step; never while paused.
pub fn should_advance(
    auto: bool,
    paused: bool,
    step: usize,
    steps: usize,
    measured: Duration,
    duration: Duration,
) -> bool {
    auto && !paused && step + 1 < steps && measured >= duration
}

/// How far into its step the measurement is, 0 to 1 (1 for a step without duration).
pub fn progress(measured: Duration, duration: Duration) -> f64 {
    if duration.is_zero() {
        1.0
    } else {
        (measured.as_secs_f64() / duration.as_secs_f64()).min(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn advances_once_the_step_is_measured_long_enough() {
        assert!(!should_advance(true, false, 0, 3, S / 2, S));
        assert!(should_advance(true, false, 0, 3, S, S));
        assert!(should_advance(true, false, 1, 3, 2 * S, S));
    }

    #[test]
    fn stays_when_manual_paused_or_on_the_last_step() {
        assert!(!should_advance(false, false, 0, 3, 2 * S, S));
        assert!(!should_advance(true, true, 0, 3, 2 * S, S));
        assert!(!should_advance(true, false, 2, 3, 2 * S, S));
        assert!(!should_advance(true, false, 0, 0, 2 * S, S));
    }

    #[test]
    fn progress_is_clamped() {
        assert_eq!(progress(S / 4, S), 0.25);
        assert_eq!(progress(3 * S, S), 1.0);
        assert_eq!(progress(S, Duration::ZERO), 1.0);
    }
}
