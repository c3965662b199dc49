//! A layer too small to share its steps between threads (see [`super::useful_threads`]) still
//! has an input projection another core can compute: the calling thread runs every step while
//! one worker projects the input rows of later steps, a chunk at a time, ahead of them.

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::pool::Pool;
use super::recurrence::{LayerBuffers, Padded, SharedSlice, StepScratch, UnitState, run_step};

/// Time steps in one chunk of the projection. The calling thread projects the first chunk
/// itself, so its first step waits only for that.
const CHUNK_STEPS: usize = 2;

/// Whether a layer whose steps run on one thread may have a worker project its input
/// alongside them (see [`run_layer_projecting_alongside`]): when `threads` allows a second
/// thread, the sequence has more than one chunk of steps, and its projection has at least
/// `min_work` multiply-adds (`work`, below which the worker's hand-over costs more than the
/// projection).
pub(crate) fn projects_alongside(
    threads: usize,
    steps: usize,
    (work, min_work): (usize, usize),
) -> bool {
    threads >= 2 && steps > CHUNK_STEPS && work >= min_work
}

/// Runs one layer's recurrence as [`super::for_each_step`] does, `step(h_prev, ih_t, state,
/// scratch)` for every step on the calling thread, while one worker of `pool` fills `ih` (the
/// input projection, `steps × batch × gates · hidden`) with `project(rows, out)`, a chunk of
/// [`CHUNK_STEPS`] time steps at a time, ahead of the steps that read it.
///
/// `project` must fill `out` with the projection of input rows `rows` (time-major, `rows ×
/// gates · hidden`), the same values whichever rows it is given together. The calling thread
/// projects a chunk into its own buffer (`scratch.step_input`) whenever the worker has not
/// done it yet (the first chunk always, every chunk when no worker joins), and the worker then
/// skips to the chunk after it, so neither waits for the other (but for the worker's last
/// chunk at the end). The results are those of [`super::for_each_step`] on the whole
/// projection, bit for bit.
///
/// Returns whether a worker was awake when the steps started (see
/// [`Pool::has_awake_worker`]): one that was not usually joins too late to help, so the run
/// took longer than such runs usually do.
///
/// # Panics
/// If the lengths do not match the shape.
pub(crate) fn run_layer_projecting_alongside<P, S>(
    pool: &mut Pool,
    scratch: &mut StepScratch,
    (project, step): (&P, S),
    ih: &mut [f32],
    layer: LayerBuffers<'_>,
) -> bool
where
    P: Fn(Range<usize>, &mut [f32]) + Sync,
    S: FnMut(&[f32], &[f32], &mut UnitState<'_>, &mut StepScratch) + Send,
{
    layer.check("run_layer_projecting_alongside", ih);
    let shape = layer.shape;
    let (batch, row_len) = (shape.batch, shape.gates * shape.hidden);
    let chunks = shape.steps.div_ceil(CHUNK_STEPS);
    // Chunk k: the layer's steps k·C..(k+1)·C and the input rows of their times.
    let chunk = |k: usize| {
        let steps = k * CHUNK_STEPS..((k + 1) * CHUNK_STEPS).min(shape.steps);
        let times = if shape.reverse {
            shape.steps - steps.end..shape.steps - steps.start
        } else {
            steps.clone()
        };
        (steps, times.start * batch..times.end * batch)
    };
    // The chunk after the last the worker has projected into `ih`. Written by the worker
    // alone. It projects every chunk from the one after the last the calling thread projected
    // itself (from chunk 1 at first), and the calling thread asks only about later chunks:
    // those below this one are all in `ih`.
    let projected = Padded(AtomicUsize::new(0));
    // The last chunk the calling thread projected itself (every chunk at the end): the
    // worker leaves it and every earlier one alone. Written by the calling thread alone, only
    // then, so that the worker finds it in its own cache.
    let reached = Padded(AtomicUsize::new(0));
    let ih = SharedSlice::new(ih);
    let caller = Mutex::new(Some((step, layer, scratch)));
    let run_steps = || {
        let (mut step, layer, scratch) = caller
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("the calling thread runs the steps once");
        let LayerBuffers { shape, h0, c, out } = layer;
        let mut own = std::mem::take(&mut scratch.step_input);
        // The worker's `projected` when last looked at: looked at again only for a chunk at
        // or past it, as the worker writes it after every chunk.
        let mut by_worker = 0;
        for k in 0..chunks {
            let (steps, rows) = chunk(k);
            if k >= by_worker {
                by_worker = projected.0.load(Ordering::Acquire);
            }
            // Chunk 0 is never the worker's.
            let ih_chunk: &[f32] = if k > 0 && k < by_worker {
                // SAFETY: the worker wrote these rows before it published `projected` (read
                // with Acquire), and never writes them again.
                unsafe { ih.get(rows.start * row_len..rows.end * row_len) }
            } else {
                // The worker is behind (or never came): it skips to the chunk after this.
                reached.0.store(k, Ordering::Relaxed);
                own.resize_for_overwrite(rows.len() * row_len);
                project(rows.clone(), &mut own);
                &own
            };
            for s in steps {
                let at = (shape.time(s) * batch - rows.start) * row_len;
                let ih_t = &ih_chunk[at..at + batch * row_len];
                run_step(&shape, (h0, c, out), s, ih_t, scratch, &mut step);
            }
        }
        reached.0.store(chunks, Ordering::Relaxed);
        scratch.step_input = own;
    };
    let project_ahead = || {
        // Once the calling thread has had to project a chunk itself, the worker goes on from
        // the chunk after it.
        let mut k = 1;
        loop {
            k = k.max(reached.0.load(Ordering::Relaxed) + 1);
            if k >= chunks {
                break;
            }
            let (_, rows) = chunk(k);
            // SAFETY: only this thread writes `ih`, each chunk once; the calling thread reads
            // a chunk only once `projected` (stored below with Release) says it is done.
            project(rows.clone(), unsafe {
                ih.get_mut(rows.start * row_len..rows.end * row_len)
            });
            k += 1;
            projected.0.store(k, Ordering::Release);
        }
    };
    let worker_was_awake = pool.has_awake_worker();
    pool.run(2, &|index| match index {
        0 => run_steps(),
        1 => project_ahead(),
        _ => {}
    });
    worker_was_awake
}

#[cfg(test)]
mod tests {
    use std::thread::{self, ThreadId};
    use std::time::Duration;

    use super::*;
    use crate::kernels::recurrence::{LayerShape, for_each_step};

    const GATES: usize = 3;
    const HIDDEN: usize = 5;
    const ROW_LEN: usize = GATES * HIDDEN;

    /// The input projection of `row`: values that name the row and the column.
    fn project(rows: Range<usize>, out: &mut [f32]) {
        assert_eq!(out.len(), rows.len() * ROW_LEN);
        for (r, row) in rows.enumerate() {
            for column in 0..ROW_LEN {
                out[r * ROW_LEN + column] = (row * 1000 + column) as f32;
            }
        }
    }

    /// A step whose state depends on the previous `h` and on every value of its input rows:
    /// a step given another row's projection, or a row not projected (NaN), leaves a wrong
    /// state.
    fn step(h_prev: &[f32], ih: &[f32], state: &mut UnitState<'_>, _: &mut StepScratch) {
        for b in 0..state.batch() {
            let (c, h) = state.row(b);
            for u in 0..HIDDEN {
                let input: f32 = (0..GATES)
                    .map(|g| ih[b * ROW_LEN + g * HIDDEN + u] * (g + 1) as f32)
                    .sum();
                c[u] = 0.5 * c[u] + input;
                h[u] = 0.25 * h_prev[b * HIDDEN + u] + c[u];
            }
        }
    }

    /// `(out, c)` of a layer of `shape` run by `run` from `ih` all NaN.
    fn layer_run(shape: LayerShape, run: impl FnOnce(&mut [f32], LayerBuffers<'_>)) -> Vec<f32> {
        let rows = shape.steps * shape.batch;
        let mut ih = vec![f32::NAN; rows * ROW_LEN];
        let h0: Vec<f32> = (0..shape.batch * HIDDEN).map(|i| i as f32).collect();
        let mut c = vec![1.0; shape.batch * HIDDEN];
        let mut out = vec![f32::NAN; rows * HIDDEN];
        let layer = LayerBuffers {
            shape,
            h0: &h0,
            c: &mut c,
            out: &mut out,
        };
        run(&mut ih, layer);
        out.extend(c);
        out
    }

    #[test]
    fn every_step_gets_its_own_input_rows_whoever_projects_them() {
        let main_thread: ThreadId = thread::current().id();
        // The worker (or the steps) held up at every call: the calling thread then projects
        // most chunks itself and the worker skips ahead of it (or the worker projects all but
        // the first).
        let delays = [
            (Duration::ZERO, Duration::ZERO),
            (Duration::from_micros(300), Duration::ZERO),
            (Duration::ZERO, Duration::from_micros(300)),
        ];
        let mut pool = Pool::default();
        let mut scratch = StepScratch::default();
        for (worker_delay, step_delay) in delays {
            for steps in [1, 2, 3, 4, 7, 20] {
                for batch in [1, 3] {
                    for reverse in [false, true] {
                        let shape = LayerShape {
                            steps,
                            batch,
                            hidden: HIDDEN,
                            gates: GATES,
                            reverse,
                        };
                        let expected = layer_run(shape, |ih, layer| {
                            project(0..steps * batch, ih);
                            for_each_step(ih, layer, &mut StepScratch::default(), step);
                        });
                        let held_up_project = |rows: Range<usize>, out: &mut [f32]| {
                            if thread::current().id() != main_thread {
                                thread::sleep(worker_delay);
                            }
                            project(rows, out);
                        };
                        let held_up_step =
                            |h: &[f32], ih: &[f32], state: &mut UnitState<'_>, s: &mut _| {
                                thread::sleep(step_delay);
                                step(h, ih, state, s);
                            };
                        let got = layer_run(shape, |ih, layer| {
                            let work = (&held_up_project, held_up_step);
                            run_layer_projecting_alongside(
                                &mut pool,
                                &mut scratch,
                                work,
                                ih,
                                layer,
                            );
                        });
                        assert_eq!(
                            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                            expected.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                            "{steps} steps, batch {batch}, reverse {reverse}, delays \
                             {worker_delay:?} / {step_delay:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_layer_is_projected_alongside_only_with_two_threads_and_enough_work() {
        assert!(projects_alongside(2, 20, (64, 64)));
        assert!(!projects_alongside(1, 20, (64, 64)), "one thread");
        assert!(!projects_alongside(2, CHUNK_STEPS, (64, 64)), "one chunk");
        assert!(!projects_alongside(2, 20, (63, 64)), "too little work");
    }
}
