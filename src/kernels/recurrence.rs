//! One LSTM layer's recurrence, fused and split across threads: each thread owns a block of
//! hidden units and, every time step, projects the previous `h` onto its units' four gate
//! rows, adds the precomputed input projection, and updates its units' `c` and `h`; the
//! threads then meet at a barrier. Each unit's arithmetic is the same whatever the split, so
//! results do not depend on the thread count.

use std::marker::PhantomData;
use std::ops::Range;

use super::pack::PANEL;
use super::pool::{Barrier, Pool};
use super::{Kernel, lstm_cell};

/// One thread's buffers for the recurrent step; they grow on first use only.
#[derive(Debug, Default, Clone)]
pub struct StepScratch {
    /// The quantized `h` (int8 models), `batch × padded hidden`.
    pub quantized: Vec<u8>,
    /// Integer accumulators, `[batch][gate][unit]`.
    pub accumulators: Vec<i32>,
    /// `W_hh h + b_hh` for this thread's units, `[batch][gate][unit]`.
    pub gates: Vec<f32>,
}

/// Sizes of one layer's recurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerShape {
    /// Time steps.
    pub steps: usize,
    /// Batch rows.
    pub batch: usize,
    /// Hidden units.
    pub hidden: usize,
}

/// Threads worth using for `work` multiply-adds per step (at most `requested`), when one
/// thread should get at least `min_work` of them and a block of [`PANEL`] units.
pub fn useful_threads(requested: usize, work: usize, min_work: usize, units: usize) -> usize {
    requested
        .min(work / min_work.max(1))
        .min(units.div_ceil(PANEL))
        .max(1)
}

/// The units of thread `index` of `threads`: blocks that are multiples of [`PANEL`].
fn units_of(index: usize, threads: usize, hidden: usize) -> Range<usize> {
    let per = hidden.div_ceil(threads).next_multiple_of(PANEL);
    (index * per).min(hidden)..((index + 1) * per).min(hidden)
}

/// Runs the recurrence of one layer.
///
/// `project(h, units, scratch)` must fill `scratch.gates` (`[batch][gate][unit]`, `4 · batch ·
/// units.len()` values) with `W_hh h + b_hh` for `units`, from the full previous hidden state
/// `h` (`batch × hidden`). `ih` holds the input projection of every step (`steps × batch ×
/// 4 hidden`), `h0` the initial hidden state, `c` the cell state (initial in, final out), and
/// `out` receives `h` of every step (`steps × batch × hidden`).
///
/// # Panics
/// If the lengths do not match `shape`.
#[allow(clippy::too_many_arguments)]
pub fn run_layer<P>(
    kernel: Kernel,
    threads: usize,
    pool: &mut Pool,
    scratch: &mut Vec<StepScratch>,
    shape: LayerShape,
    project: &P,
    ih: &[f32],
    h0: &[f32],
    c: &mut [f32],
    out: &mut [f32],
) where
    P: Fn(&[f32], Range<usize>, &mut StepScratch) + Sync,
{
    let LayerShape {
        steps,
        batch,
        hidden,
    } = shape;
    let h_len = batch * hidden;
    assert_eq!(ih.len(), steps * batch * 4 * hidden, "run_layer: ih");
    assert!(h0.len() == h_len && c.len() == h_len, "run_layer: state");
    assert_eq!(out.len(), steps * h_len, "run_layer: out");
    let threads = threads.clamp(1, hidden.div_ceil(PANEL).max(1));
    if scratch.len() < threads {
        scratch.resize_with(threads, StepScratch::default);
    }
    let out = SharedSlice::new(out);
    let c = SharedSlice::new(c);
    let scratch = SharedSlice::new(&mut scratch[..threads]);
    let job = |index: usize, barrier: &Barrier| {
        let units = units_of(index, threads, hidden);
        let n = units.len();
        // SAFETY: each thread index is given to exactly one thread of this run.
        let s = unsafe { scratch.get_mut(index..index + 1) };
        let s = &mut s[0];
        for t in 0..steps {
            if n > 0 {
                let h_prev: &[f32] = if t == 0 {
                    h0
                } else {
                    // SAFETY: row t − 1 was completed before the last barrier and nobody
                    // writes it any more.
                    unsafe { out.get((t - 1) * h_len..t * h_len) }
                };
                project(h_prev, units.clone(), s);
                for b in 0..batch {
                    let ih_row = &ih[(t * batch + b) * 4 * hidden..][..4 * hidden];
                    let gates = &s.gates;
                    let hh = |g: usize| &gates[(b * 4 + g) * n..][..n];
                    let ihg = |g: usize| &ih_row[g * hidden + units.start..][..n];
                    let at = b * hidden + units.start;
                    // SAFETY: this thread alone owns `units` of every batch row of `c` and of
                    // row t of `out`; other threads read row t only after the barrier.
                    let (c_b, h_b) = unsafe {
                        (
                            c.get_mut(at..at + n),
                            out.get_mut(t * h_len + at..t * h_len + at + n),
                        )
                    };
                    lstm_cell(
                        kernel,
                        [hh(0), hh(1), hh(2), hh(3)],
                        [ihg(0), ihg(1), ihg(2), ihg(3)],
                        c_b,
                        h_b,
                    );
                }
            }
            barrier.wait();
        }
    };
    pool.run(threads, &job);
}

/// Splits `m` rows of `row_len` outputs across up to `threads` threads: `f(rows, out_rows)` is
/// called with disjoint row ranges and their part of `out`.
///
/// # Panics
/// If `out.len() != m * row_len`.
pub fn par_rows<T: Send, F>(
    pool: &mut Pool,
    threads: usize,
    m: usize,
    row_len: usize,
    out: &mut [T],
    f: &F,
) where
    F: Fn(Range<usize>, &mut [T]) + Sync,
{
    assert_eq!(out.len(), m * row_len, "par_rows: output length");
    let threads = threads.clamp(1, m.max(1));
    let per = m.div_ceil(threads);
    let out = SharedSlice::new(out);
    pool.run(threads, &|index, _| {
        let rows = (index * per).min(m)..((index + 1) * per).min(m);
        if !rows.is_empty() {
            // SAFETY: the row ranges of different thread indices are disjoint.
            let chunk = unsafe { out.get_mut(rows.start * row_len..rows.end * row_len) };
            f(rows, chunk);
        }
    });
}

/// A mutable slice shared by the threads of one run, each touching its own part.
struct SharedSlice<'a, T> {
    ptr: *mut T,
    len: usize,
    _borrow: PhantomData<&'a mut [T]>,
}

// SAFETY: it is only a way to hand disjoint parts of a `&mut [T]` to threads; `T: Send`.
unsafe impl<T: Send> Sync for SharedSlice<'_, T> {}

impl<'a, T> SharedSlice<'a, T> {
    fn new(slice: &'a mut [T]) -> Self {
        SharedSlice {
            ptr: slice.as_mut_ptr(),
            len: slice.len(),
            _borrow: PhantomData,
        }
    }

    /// # Safety
    /// No thread may write `range` while the returned slice is alive.
    unsafe fn get(&self, range: Range<usize>) -> &[T] {
        assert!(range.start <= range.end && range.end <= self.len);
        // SAFETY: in bounds (checked); no concurrent writer (the caller's contract).
        unsafe { std::slice::from_raw_parts(self.ptr.add(range.start), range.len()) }
    }

    /// # Safety
    /// No other thread may touch `range` while the returned slice is alive.
    #[allow(clippy::mut_from_ref)]
    unsafe fn get_mut(&self, range: Range<usize>) -> &mut [T] {
        assert!(range.start <= range.end && range.end <= self.len);
        // SAFETY: in bounds (checked); exclusive (the caller's contract).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.len()) }
    }
}
