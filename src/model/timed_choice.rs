//! Choosing, forward pass after forward pass, the faster of two ways to compute the same
//! values, from how long each took: which is faster can depend on how quickly the machine's
//! cores pass data to each other, and a virtual machine's host may change that from one minute
//! to the next.

/// Runs between two tries of the way not in use, to notice when it becomes the faster.
const TRY_OTHER_EVERY: u32 = 128;

/// Weight of a new time in a way's moving average.
const NEW_WEIGHT: f64 = 0.5;

/// A time longer than this many times its way's average counts as this many (the thread was
/// most likely descheduled, which says nothing about the way).
const MOST_TIMES_AVERAGE: f64 = 1.25;

/// Cold runs in a row (see [`TimedChoice::record`]) after which they count.
const COLD_RUNS_IGNORED: u8 = 3;

/// The measured times of two ways (0 and 1) of doing one piece of work, told apart from other
/// work by a key.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TimedChoice {
    key: (usize, usize),
    /// Each way's moving average of nanoseconds, `None` before its first counted run.
    average_ns: [Option<f64>; 2],
    /// Whether each way has had its first run, which is not counted (it may have allocated
    /// buffers or started threads).
    warmed_up: [bool; 2],
    /// Runs counted.
    runs: u32,
    /// Cold runs in a row, not counted yet.
    cold_in_a_row: u8,
}

/// Most pieces of work [`TimedChoices`] keeps measurements for.
const MOST_KEYS: usize = 16;

/// The choices of several pieces of work, such as the layers of the models one workspace
/// runs in turn, each under its own key.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimedChoices(Vec<TimedChoice>);

impl TimedChoices {
    /// The choice for the work `key`: its measurements so far, or none if it is new (the
    /// measurements of the work added longest ago are then forgotten, beyond
    /// [`MOST_KEYS`]).
    pub(crate) fn for_key(&mut self, key: (usize, usize)) -> &mut TimedChoice {
        let at = match self.0.iter().position(|c| c.key == key) {
            Some(at) => at,
            None => {
                if self.0.len() == MOST_KEYS {
                    self.0.remove(0);
                }
                self.0.push(TimedChoice {
                    key,
                    ..TimedChoice::default()
                });
                self.0.len() - 1
            }
        };
        &mut self.0[at]
    }
}

impl TimedChoice {
    /// The way to run next: each way until it has a counted run (way 1 first: callers give
    /// that number to the way that readies the most, so that a first run readies both), then
    /// the faster on average, and the other once in every [`TRY_OTHER_EVERY`] counted runs
    /// (again until a run of it counts).
    pub(crate) fn choose(&self) -> usize {
        match self.average_ns {
            [_, None] => 1,
            [None, _] => 0,
            [Some(a), Some(b)] => {
                let faster = usize::from(b < a);
                if self.runs % TRY_OTHER_EVERY == TRY_OTHER_EVERY - 1 {
                    1 - faster
                } else {
                    faster
                }
            }
        }
    }

    /// Records that `way` ran in `ns` nanoseconds; `warm` says whether it ran as it usually
    /// does (its second thread was awake). A way's first run does not count, nor do cold runs
    /// unless [`COLD_RUNS_IGNORED`] come in a row: a way whose thread is never awake in time
    /// runs that way.
    pub(crate) fn record(&mut self, way: usize, ns: f64, warm: bool) {
        if warm {
            self.cold_in_a_row = 0;
        } else {
            self.cold_in_a_row += 1;
            if self.cold_in_a_row < COLD_RUNS_IGNORED {
                return;
            }
            self.cold_in_a_row = 0;
        }
        if !std::mem::replace(&mut self.warmed_up[way], true) {
            return;
        }
        let average = &mut self.average_ns[way];
        *average = Some(match *average {
            None => ns,
            Some(mean) => mean + NEW_WEIGHT * (ns.min(MOST_TIMES_AVERAGE * mean) - mean),
        });
        self.runs = self.runs.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `choice` `runs` times with the times `ns(way, run)`, returning how often each way
    /// ran.
    fn run(choice: &mut TimedChoice, runs: u32, ns: impl Fn(usize, u32) -> f64) -> [u32; 2] {
        let mut count = [0; 2];
        for r in 0..runs {
            let way = choice.choose();
            count[way] += 1;
            choice.record(way, ns(way, r), true);
        }
        count
    }

    #[test]
    fn each_way_runs_twice_then_the_faster_with_a_try_of_the_other_every_so_often() {
        let n = 10 * TRY_OTHER_EVERY;
        for (ns, first_way) in [([100.0, 80.0], 1), ([80.0, 100.0], 0)] {
            let mut choice = TimedChoice::default();
            // Each way's first run warms it up; the second counts.
            assert_eq!(run(&mut choice, 4, |way, _| ns[way]), [2, 2]);
            assert_eq!(choice.average_ns, ns.map(Some));
            let mut count = run(&mut choice, n, |way, _| ns[way]);
            if first_way == 0 {
                count.reverse();
            }
            assert_eq!(count, [10, n - 10]);
        }
    }

    #[test]
    fn the_choice_follows_a_change_of_which_way_is_faster() {
        let n = 10 * TRY_OTHER_EVERY;
        let mut choice = TimedChoice::default();
        // Way 1 is faster for n runs, then 40% slower than way 0, as when the cores' handoff
        // slows down.
        let slows_down = |way: usize, r: u32| match (way, r < n) {
            (0, _) => 15_000.0,
            (_, true) => 13_000.0,
            (_, false) => 21_000.0,
        };
        run(&mut choice, n, slows_down);
        assert_eq!(choice.choose(), 1);
        let count = run(&mut choice, n, |way, r| slows_down(way, r + n));
        assert!(
            count[1] <= 20,
            "way 1 ran {} times after it slowed down",
            count[1]
        );
        // And back: way 1 is taken again within a few tries.
        let count = run(&mut choice, n, |way, _| [15_000.0, 13_000.0][way]);
        assert!(
            count[1] >= n / 2,
            "way 1 ran {} times after it sped up",
            count[1]
        );
    }

    #[test]
    fn one_descheduled_run_does_not_turn_the_choice() {
        let mut choice = TimedChoice::default();
        run(&mut choice, 40, |way, _| [15_000.0, 12_000.0][way]);
        assert_eq!(choice.choose(), 1);
        choice.record(1, 5_000_000.0, true);
        assert_eq!(choice.choose(), 1);
    }

    #[test]
    fn a_cold_run_is_tried_again_and_counts_when_the_cold_runs_keep_coming() {
        let ns = |way: usize, _| [12_000.0, 15_000.0][way];
        let mut choice = TimedChoice::default();
        run(&mut choice, 4 + TRY_OTHER_EVERY - 3, ns);
        assert_eq!(choice.choose(), 1, "a try of the slower way is due");
        // Cold, it is not counted, and the way is tried again.
        choice.record(1, 40_000.0, false);
        assert_eq!(choice.choose(), 1);
        assert_eq!(choice.average_ns[1], Some(15_000.0));
        // Warm, it counts, and the faster way comes back.
        choice.record(1, 14_000.0, true);
        assert_eq!(choice.average_ns[1], Some(14_500.0));
        assert_eq!(choice.choose(), 0);
        // Cold three times in a row: the third counts (clipped to 1.25 times the average).
        run(&mut choice, TRY_OTHER_EVERY - 1, ns);
        assert_eq!(choice.choose(), 1);
        for _ in 0..COLD_RUNS_IGNORED {
            assert_eq!(choice.choose(), 1);
            choice.record(1, 40_000.0, false);
        }
        assert_eq!(choice.average_ns[1], Some(14_500.0 + 0.5 * 0.25 * 14_500.0));
        assert_eq!(choice.choose(), 0);
    }

    #[test]
    fn each_piece_of_work_keeps_its_own_measurements() {
        let mut choices = TimedChoices::default();
        // Two models' layers in turn, as the dashboard runs its variants: each keeps its own.
        for _ in 0..40 {
            run(choices.for_key((1, 20)), 1, |way, _| [80.0, 100.0][way]);
            run(choices.for_key((2, 20)), 1, |way, _| [100.0, 80.0][way]);
        }
        assert_eq!(choices.for_key((1, 20)).choose(), 0);
        assert_eq!(choices.for_key((2, 20)).choose(), 1);
        // Beyond MOST_KEYS pieces of work, the one added first is forgotten.
        for key in 3..=MOST_KEYS + 1 {
            choices.for_key((key, 20));
        }
        assert_eq!(choices.for_key((2, 20)).choose(), 1);
        assert_eq!(
            choices.for_key((1, 20)),
            &TimedChoice {
                key: (1, 20),
                ..TimedChoice::default()
            }
        );
    }
}
