//! Stepping through a preset: which Config runs now, when a step has measured enough, and
//! which snapshots belong to a Config that was replaced since. [`Replay`] is the pure state
//! machine; the dashboard owns one and drives it from its snapshots and keys, and [`run`]
//! drives one with a worker of its own, for the headless report.

use std::ops::ControlFlow;
use std::time::Duration;

use super::preset::{Preset, RunLength, Step};
use crate::bench::{Config, Snapshot, WorkerHandle};
use crate::error::{DynqError, Result};

/// What to do after a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Advance {
    /// The current step needs more measurements (or steps do not advance by themselves).
    Continue,
    /// The step just finished (the snapshot is its result); run this Config next.
    Next(Config),
    /// The last step is measured enough.
    Done,
}

/// Where a replay is: the preset, its current step, whether steps advance by themselves, and
/// which worker generations belong to a replaced Config.
///
/// Every time the Config the worker runs is replaced (a new step, or a slider in the
/// dashboard), the snapshots seen so far become stale: a late one of the old Config must not
/// count for the new one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replay {
    /// `None` while exploring without a preset.
    preset: Option<Preset>,
    current: usize,
    auto: bool,
    /// Snapshots up to this generation belong to a replaced Config.
    stale_up_to: Option<u64>,
    /// The newest generation seen.
    last_generation: Option<u64>,
}

impl Replay {
    /// A replay of `preset` from its first step, whose Config the worker should be running.
    /// Steps advance by themselves when there is more than one.
    pub fn new(preset: Preset) -> Replay {
        Replay {
            auto: preset.steps.len() > 1,
            preset: Some(preset),
            ..Replay::default()
        }
    }

    /// No preset (free exploration): no steps, but still the stale snapshots told apart.
    pub fn exploring() -> Replay {
        Replay::default()
    }

    /// Replays `preset` from its first step instead, stepping by itself, and returns the
    /// first step's Config (to send to the worker); snapshots seen so far become stale.
    pub fn switch_to(&mut self, preset: Preset) -> Option<&Config> {
        self.auto = preset.steps.len() > 1;
        self.preset = Some(preset);
        self.go_to(0)
    }

    /// The preset being replayed, if any.
    pub fn preset(&self) -> Option<&Preset> {
        self.preset.as_ref()
    }

    /// The preset's steps (none while exploring).
    pub fn steps(&self) -> &[Step] {
        self.preset.as_ref().map_or(&[], |p| &p.steps)
    }

    /// The current step (0-based).
    pub fn current(&self) -> usize {
        self.current
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.steps().len()
    }

    /// True when there are no steps (exploring; a validated preset always has some).
    pub fn is_empty(&self) -> bool {
        self.steps().is_empty()
    }

    /// The current step, if there are steps.
    pub fn step(&self) -> Option<&Step> {
        self.steps().get(self.current)
    }

    /// Whether measured steps move on to the next by themselves.
    pub fn auto(&self) -> bool {
        self.auto
    }

    /// Turns automatic stepping on or off.
    pub fn set_auto(&mut self, on: bool) {
        self.auto = on;
    }

    /// Moves to step `index` and returns its Config (to send to the worker), if there is
    /// such a step; the Config running until now is replaced.
    pub fn go_to(&mut self, index: usize) -> Option<&Config> {
        if index >= self.len() {
            return None;
        }
        self.current = index;
        self.config_replaced();
        self.step().map(|s| &s.config)
    }

    /// Moves to the next step (see [`Replay::go_to`]); `None` at the last one.
    pub fn next_step(&mut self) -> Option<&Config> {
        self.go_to(self.current + 1)
    }

    /// Moves to the previous step (see [`Replay::go_to`]); `None` at the first one.
    pub fn previous_step(&mut self) -> Option<&Config> {
        self.go_to(self.current.checked_sub(1)?)
    }

    /// The worker was asked for another Config: every snapshot seen so far is stale.
    pub fn config_replaced(&mut self) {
        self.stale_up_to = self.last_generation;
    }

    /// Whether `snapshot` belongs to the Config running now (not to a replaced one).
    pub fn is_current(&self, snapshot: &Snapshot) -> bool {
        self.stale_up_to.is_none_or(|g| snapshot.generation > g)
    }

    /// Notes that `snapshot` arrived; returns whether it belongs to the Config running now.
    pub fn observe(&mut self, snapshot: &Snapshot) -> bool {
        self.last_generation = self.last_generation.max(Some(snapshot.generation));
        self.is_current(snapshot)
    }

    /// Looks at an observed snapshot: once it shows the current step measured long enough,
    /// moves on to the next step when stepping automatically, or says the last step is done.
    /// Stale snapshots (an earlier step still being reported) count for nothing.
    pub fn advance(&mut self, snapshot: &Snapshot) -> Advance {
        let complete = self
            .step()
            .is_some_and(|step| is_complete(&step.length, snapshot));
        if !complete || !self.is_current(snapshot) {
            return Advance::Continue;
        }
        if self.current + 1 == self.len() {
            return Advance::Done;
        }
        if !self.auto {
            return Advance::Continue;
        }
        match self.next_step() {
            Some(config) => Advance::Next(config.clone()),
            None => Advance::Done,
        }
    }
}

/// Whether `snapshot` shows enough measurement for `length` (and at least one forward of
/// every variant), and, for a language model with text, the whole text evaluated.
pub fn is_complete(length: &RunLength, snapshot: &Snapshot) -> bool {
    let samples = snapshot.min_samples();
    let long_enough = length
        .seconds
        .is_none_or(|s| snapshot.elapsed >= Duration::from_secs_f64(s));
    let evaluated = snapshot.task.as_ref().is_none_or(|t| t.is_done());
    samples > 0 && long_enough && evaluated && length.min_samples.is_none_or(|n| samples >= n)
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
    let evaluated = snapshot
        .task
        .as_ref()
        .map_or(1.0, |t| t.tokens_done as f64 / t.tokens_total.max(1) as f64);
    time.min(samples).min(evaluated).clamp(0.0, 1.0)
}

/// Runs every step of `preset` on a worker of its own and returns each step's final snapshot.
/// `progress` sees every snapshot with the replay's position; when it breaks, the run stops
/// with [`DynqError::Interrupted`].
pub fn run(
    preset: &Preset,
    mut progress: impl FnMut(&Replay, &Snapshot) -> ControlFlow<()>,
) -> Result<Vec<Snapshot>> {
    let mut replay = Replay::new(preset.clone());
    let first = replay
        .step()
        .ok_or_else(|| DynqError::Benchmark(format!("preset {} has no steps", preset.name)))?;
    let (worker, snapshots) = WorkerHandle::spawn_with_receiver(first.config.clone());
    let mut results = Vec::with_capacity(replay.len());
    for snapshot in snapshots.iter() {
        let current = replay.observe(&snapshot);
        if let (true, Some(error)) = (current, &snapshot.error) {
            return Err(DynqError::Benchmark(format!(
                "step {} of {}: {error}",
                replay.current() + 1,
                replay.len()
            )));
        }
        if progress(&replay, &snapshot).is_break() {
            return Err(DynqError::Interrupted);
        }
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

    /// What the replay does with a snapshot arriving now.
    fn look(replay: &mut Replay, snapshot: &Snapshot) -> Advance {
        replay.observe(snapshot);
        replay.advance(snapshot)
    }

    #[test]
    fn steps_advance_when_time_and_samples_are_reached() {
        let p = preset(
            "name='t'\ndescription='d'\n[[steps]]\ndim=4\nseconds=1\n\
             [[steps]]\ndim=6\nmin_samples=10\n",
        );
        let mut r = Replay::new(p);
        assert_eq!(look(&mut r, &snapshot(3, 0.5, 100)), Advance::Continue);
        assert_eq!(look(&mut r, &snapshot(3, 1.0, 0)), Advance::Continue);
        let Advance::Next(config) = look(&mut r, &snapshot(3, 1.0, 1)) else {
            panic!("next step");
        };
        assert_eq!((config.hidden_size, r.current()), (6, 1));
        // A late snapshot of the finished step does not count for the next one.
        assert_eq!(look(&mut r, &snapshot(3, 9.0, 99)), Advance::Continue);
        assert_eq!(look(&mut r, &snapshot(4, 0.0, 9)), Advance::Continue);
        assert_eq!(look(&mut r, &snapshot(4, 0.0, 10)), Advance::Done);
    }

    #[test]
    fn manual_stepping_and_stale_snapshots() {
        let p = preset(
            "name='t'\ndescription='d'\n[defaults]\nseconds=1\n\
             [[steps]]\ndim=4\n[[steps]]\ndim=6\n[[steps]]\ndim=8\n",
        );
        let mut r = Replay::new(p);
        assert!(r.auto());
        assert_eq!(r.previous_step(), None);
        assert!(r.observe(&snapshot(0, 0.5, 1)));
        assert_eq!(r.go_to(2).map(|c| c.hidden_size), Some(8));
        assert_eq!(r.next_step(), None);
        assert_eq!(r.current(), 2);
        // Generation 0 ran the replaced Config; 1 runs step 3.
        assert!(!r.is_current(&snapshot(0, 9.0, 9)));
        assert!(r.observe(&snapshot(1, 0.0, 0)));
        assert_eq!(r.previous_step().map(|c| c.hidden_size), Some(6));
        assert!(!r.is_current(&snapshot(1, 9.0, 9)));
        // Without automatic stepping a measured step stays where it is.
        r.set_auto(false);
        assert_eq!(look(&mut r, &snapshot(2, 2.0, 5)), Advance::Continue);
        assert_eq!(r.current(), 1);
        r.set_auto(true);
        assert!(
            matches!(look(&mut r, &snapshot(2, 2.0, 5)), Advance::Next(c) if c.hidden_size == 8)
        );
    }

    #[test]
    fn exploring_has_no_steps_but_still_tells_stale_snapshots() {
        let mut r = Replay::exploring();
        assert!(r.is_empty() && r.step().is_none() && !r.auto());
        assert_eq!(r.next_step(), None);
        assert!(r.observe(&snapshot(0, 1.0, 1)));
        assert_eq!(r.advance(&snapshot(0, 99.0, 99)), Advance::Continue);
        r.config_replaced();
        assert!(!r.observe(&snapshot(0, 1.0, 1)));
        assert!(r.observe(&snapshot(1, 0.0, 0)));
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
        let results = run(&p, |_, _| {
            seen += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[1].config.hidden_size, 6);
        assert!(results.iter().all(|s| s.min_samples() > 0));
        assert!(seen >= 2);
    }
}
