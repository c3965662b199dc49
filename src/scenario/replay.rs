//! Stepping through a preset: which Config runs now, and when a step has measured enough.
//! [`Replay`] is the pure state machine (the TUI can drive it from its own snapshots);
//! [`run`] drives it with a worker of its own, for the headless report.

use std::time::Duration;

use super::preset::{Preset, RunLength, Step};
use crate::bench::{Config, Snapshot, WorkerHandle};
use crate::error::{DynqError, Result};

/// What to do after a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Advance {
    /// The current step needs more measurements.
    Continue,
    /// The step just finished (the snapshot is its result); run this Config next.
    Next(Config),
    /// The step just finished and it was the last one.
    Done,
}

/// Where a replay is: the steps and the current one.
#[derive(Debug, Clone)]
pub struct Replay {
    steps: Vec<Step>,
    current: usize,
    generation: u64,
}

impl Replay {
    /// A replay of `preset` whose first step runs under worker generation `first_generation`
    /// (0 when the worker is spawned with the first step's Config); each following step
    /// is expected one generation later.
    pub fn new(preset: &Preset, first_generation: u64) -> Replay {
        Replay {
            steps: preset.steps.clone(),
            current: 0,
            generation: first_generation,
        }
    }

    /// The step running now (0-based).
    pub fn current(&self) -> usize {
        self.current
    }

    /// The worker generation the current step runs under.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// True when the preset has no steps (a validated preset always has some).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The step running now.
    pub fn step(&self) -> &Step {
        &self.steps[self.current]
    }

    /// Looks at a snapshot: once it shows the current step measured long enough, moves on.
    /// Snapshots of other generations (an earlier step still being reported) are ignored.
    pub fn advance(&mut self, snapshot: &Snapshot) -> Advance {
        if snapshot.generation != self.generation
            || self.current >= self.steps.len()
            || !is_complete(&self.steps[self.current].length, snapshot)
        {
            return Advance::Continue;
        }
        self.current += 1;
        self.generation += 1;
        match self.steps.get(self.current) {
            Some(next) => Advance::Next(next.config.clone()),
            None => Advance::Done,
        }
    }
}

/// Whether `snapshot` shows enough measurement for `length` (and at least one forward of
/// every variant).
pub fn is_complete(length: &RunLength, snapshot: &Snapshot) -> bool {
    let samples = snapshot.min_samples();
    let long_enough = length
        .seconds
        .is_none_or(|s| snapshot.elapsed >= Duration::from_secs_f64(s));
    samples > 0 && long_enough && length.min_samples.is_none_or(|n| samples >= n)
}

/// How far `snapshot` is through `length`, 0 to 1: the lesser of its time and sample
/// fractions (a step ends when both are reached).
pub fn progress(length: &RunLength, snapshot: &Snapshot) -> f64 {
    let time = length
        .seconds
        .map_or(1.0, |s| snapshot.elapsed.as_secs_f64() / s);
    let samples = length
        .min_samples
        .map_or(1.0, |n| snapshot.min_samples() as f64 / n as f64);
    time.min(samples).clamp(0.0, 1.0)
}

/// Runs every step of `preset` on a worker of its own and returns each step's final snapshot.
/// `progress` sees every snapshot with the replay's position.
pub fn run(preset: &Preset, mut progress: impl FnMut(&Replay, &Snapshot)) -> Result<Vec<Snapshot>> {
    let mut replay = Replay::new(preset, 0);
    let (worker, snapshots) = WorkerHandle::spawn_with_receiver(replay.step().config.clone());
    let mut results = Vec::with_capacity(replay.len());
    for snapshot in snapshots.iter() {
        if let (true, Some(error)) = (snapshot.generation == replay.generation, &snapshot.error) {
            return Err(DynqError::Benchmark(format!(
                "step {} of {}: {error}",
                replay.current() + 1,
                replay.len()
            )));
        }
        progress(&replay, &snapshot);
        match replay.advance(&snapshot) {
            Advance::Continue => continue,
            Advance::Next(config) => worker.set_config(config),
            Advance::Done => {}
        }
        results.push(snapshot);
        if results.len() == replay.len() {
            return Ok(results);
        }
    }
    Err(DynqError::Benchmark(
        "the benchmark worker stopped unexpectedly".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{LatencyStats, VariantSnapshot};
    use crate::scenario::Overrides;

    fn snapshot(generation: u64, seconds: f64, samples: u64) -> Snapshot {
        let variant = VariantSnapshot {
            latency: LatencyStats {
                count: samples,
                ..LatencyStats::default()
            },
            ..VariantSnapshot::default()
        };
        Snapshot {
            generation,
            elapsed: Duration::from_secs_f64(seconds),
            variants: vec![variant.clone(), variant],
            ..Snapshot::default()
        }
    }

    fn preset(text: &str) -> Preset {
        Preset::parse(text, "test.toml", &Overrides::default()).unwrap()
    }

    #[test]
    fn steps_advance_when_time_and_samples_are_reached() {
        let p = preset(
            "name='t'\ndescription='d'\n[[steps]]\ndim=4\nseconds=1\n\
             [[steps]]\ndim=6\nmin_samples=10\n",
        );
        let mut r = Replay::new(&p, 3);
        assert_eq!(r.advance(&snapshot(3, 0.5, 100)), Advance::Continue);
        assert_eq!(r.advance(&snapshot(3, 1.0, 0)), Advance::Continue);
        let Advance::Next(config) = r.advance(&snapshot(3, 1.0, 1)) else {
            panic!("next step");
        };
        assert_eq!((config.hidden_size, r.current()), (6, 1));
        // A late snapshot of the finished step does not count for the next one.
        assert_eq!(r.advance(&snapshot(3, 9.0, 99)), Advance::Continue);
        assert_eq!(r.advance(&snapshot(4, 0.0, 9)), Advance::Continue);
        assert_eq!(r.advance(&snapshot(4, 0.0, 10)), Advance::Done);
    }

    #[test]
    fn progress_is_the_lesser_fraction() {
        let both = RunLength {
            seconds: Some(2.0),
            min_samples: Some(100),
        };
        assert_eq!(progress(&both, &snapshot(0, 1.0, 25)), 0.25);
        assert_eq!(progress(&both, &snapshot(0, 0.5, 100)), 0.25);
        assert_eq!(progress(&both, &snapshot(0, 9.0, 900)), 1.0);
        let time = RunLength {
            seconds: Some(4.0),
            min_samples: None,
        };
        assert_eq!(progress(&time, &snapshot(0, 1.0, 0)), 0.25);
    }

    #[test]
    fn a_tiny_preset_runs_to_the_end() {
        let p = preset(
            "name='t'\ndescription='d'\n[defaults]\nseq_len=2\nseconds=0.05\n\
             [[steps]]\ndim=4\n[[steps]]\ndim=6\n",
        );
        let mut seen = 0;
        let results = run(&p, |_, _| seen += 1).unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[1].config.hidden_size, 6);
        assert!(results.iter().all(|s| s.min_samples() > 0));
        assert!(seen >= 2);
    }
}
