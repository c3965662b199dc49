//! One recurrent layer (LSTM or GRU, either direction) shared across threads, or run on one:
//! the hidden units are split into blocks; a block's first task projects the whole input
//! sequence onto its gate rows, and each later task is one time step for it: it projects the
//! previous `h` onto those rows, adds the input projection, and updates the block's state.
//! Each unit's arithmetic is the same whoever runs it, so results do not depend on the thread
//! count. A reverse layer reads the time steps last to first and writes each step's `h` at
//! its own time, as PyTorch's bidirectional layers do.

use std::marker::PhantomData;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::activation::ActivationParams;
use super::linebuf::LineBuf;
use super::pack::PANEL;
use super::pool::{Pool, spin_until};
use super::{Kernel, min_max};

/// Reusable buffers for one linear map call (its quantized activations), so that a forward
/// pass allocates nothing once they have grown to size.
#[derive(Debug, Default, Clone)]
pub struct LinearScratch {
    /// Quantized activations.
    pub quantized: LineBuf<u8>,
    /// The parameters `quantized` was made with.
    pub params: ActivationParams,
}

/// One thread's buffers for the recurrent step; they grow on first use only. Aligned so that
/// two threads' scratch never share a cache line.
#[derive(Debug, Default, Clone)]
#[repr(align(128))]
pub struct StepScratch {
    /// The quantized `h` (int8 models), `batch × padded hidden`.
    pub quantized: LineBuf<u8>,
    /// Integer accumulators, `[batch][gate][unit]`.
    pub accumulators: LineBuf<i32>,
    /// `W_hh h + b_hh` for this thread's units, `[batch][gate][unit]`.
    pub gates: LineBuf<f32>,
    /// The step's input projection for this thread's units and rows, `[batch][gate][unit]`,
    /// when each step projects its own rows (see `ProjectionPlan::PerStep`): written and read
    /// back in the same cache, where the sequence's projection buffer would first have to be
    /// fetched from memory at every step. Also the chunk of rows a layer's steps project
    /// themselves while a worker projects the others alongside them.
    pub step_input: LineBuf<f32>,
    /// Whether `h` changed since the last projection with this scratch.
    pub h_is_new: bool,
    /// The range of `h` (its smallest and largest value) when the caller knows it: a step
    /// shared between threads gets it from what each block found of its own part (see the
    /// crate's `kernels::run_layer`), so that no thread reads the others' parts of `h` to find
    /// it. Taken, and so cleared, by the step that quantizes `h`.
    pub h_range: Option<(f32, f32)>,
    /// The parameters `quantized` was made with.
    pub h_params: ActivationParams,
    /// The batch rows of `h` that `quantized` holds: a step quantizes only the rows it
    /// multiplies.
    pub quantized_rows: Range<usize>,
    /// Whether this step reads its weights last to first: every other step does (see
    /// [`super::for_each_gate_piece`]).
    pub backwards: bool,
    /// This thread's own copy of the layer's input made ready for its projection: each thread
    /// makes one when a layer projects ahead a sequence short enough for one thread.
    pub input: LinearScratch,
}

impl StepScratch {
    /// Readies the scratch for the layer's `s`-th step: `h_is_new` as given (whether `h`
    /// changed since this scratch's last step), and `backwards` on every odd step.
    pub fn start_step(&mut self, s: usize, h_is_new: bool) {
        self.h_is_new = h_is_new;
        self.backwards = s % 2 == 1;
    }
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
    /// Gates stacked in each weight's rows: 4 for an LSTM, 3 for a GRU.
    pub gates: usize,
    /// Whether the layer reads the sequence from its last step to its first.
    pub reverse: bool,
}

impl LayerShape {
    /// The time step the layer processes `s`-th (`s < steps`).
    pub fn time(&self, s: usize) -> usize {
        if self.reverse { self.steps - 1 - s } else { s }
    }
}

/// The state of one layer's recurrence: `h0` the initial hidden state and `c` the cell state
/// (initial in, final out; a GRU leaves it alone), both `batch × hidden`, and `out`, which
/// receives `h` of every step at its time (`steps × batch × hidden`).
#[derive(Debug)]
pub struct LayerBuffers<'a> {
    /// The layer's sizes.
    pub shape: LayerShape,
    /// The initial hidden state.
    pub h0: &'a [f32],
    /// The cell state.
    pub c: &'a mut [f32],
    /// The hidden state of every step.
    pub out: &'a mut [f32],
}

impl LayerBuffers<'_> {
    /// Checks the lengths against the shape, and those of the input projection `ih`
    /// (`steps × batch × gates · hidden`).
    ///
    /// # Panics
    /// On any other length (a programming error), naming `caller`.
    pub(crate) fn check(&self, caller: &str, ih: &[f32]) {
        let LayerShape {
            steps,
            batch,
            hidden,
            gates,
            ..
        } = self.shape;
        assert_eq!(ih.len(), steps * gates * batch * hidden, "{caller}: ih");
        self.check_state(caller);
    }

    /// Checks the state's lengths against the shape.
    ///
    /// # Panics
    /// On any other length (a programming error), naming `caller`.
    fn check_state(&self, caller: &str) {
        let LayerShape {
            steps,
            batch,
            hidden,
            ..
        } = self.shape;
        let h_len = batch * hidden;
        assert!(
            self.h0.len() == h_len && self.c.len() == h_len,
            "{caller}: state"
        );
        assert_eq!(self.out.len(), steps * h_len, "{caller}: out");
    }
}

/// The cell state `c` and the new hidden state `h` (both `batch × hidden`) of one block of
/// hidden units in one block of batch rows: the part of a step's state one task may write.
pub struct UnitState<'a> {
    c: *mut f32,
    h: *mut f32,
    hidden: usize,
    units: Range<usize>,
    /// The first batch row this state covers.
    first_row: usize,
    /// Batch rows this state covers.
    batch: usize,
    _borrow: PhantomData<&'a mut [f32]>,
}

impl<'a> UnitState<'a> {
    /// Every unit of `c` and `h` (`batch × hidden` each).
    ///
    /// # Panics
    /// If the lengths differ or are not a multiple of `hidden`.
    pub fn whole(c: &'a mut [f32], h: &'a mut [f32], hidden: usize) -> Self {
        assert!(
            hidden > 0 && c.len() == h.len() && c.len().is_multiple_of(hidden),
            "UnitState::whole: lengths"
        );
        UnitState {
            batch: c.len() / hidden,
            c: c.as_mut_ptr(),
            h: h.as_mut_ptr(),
            hidden,
            units: 0..hidden,
            first_row: 0,
            _borrow: PhantomData,
        }
    }

    /// The part of this state for `units` and batch rows `rows` (counted from this state's
    /// first), which must lie within it (the tests' and benchmarks' way to run a step in
    /// blocks without the thread pool).
    ///
    /// # Panics
    /// If they do not.
    pub fn block(&mut self, units: Range<usize>, rows: Range<usize>) -> UnitState<'_> {
        let within = |inner: &Range<usize>, outer: &Range<usize>| {
            outer.start <= inner.start && inner.start <= inner.end && inner.end <= outer.end
        };
        assert!(
            within(&units, &self.units) && within(&rows, &(0..self.batch)),
            "UnitState::block: units {units:?}, rows {rows:?} outside {:?}, 0..{}",
            self.units,
            self.batch
        );
        UnitState {
            first_row: self.first_row + rows.start,
            batch: rows.len(),
            units,
            _borrow: PhantomData,
            ..*self
        }
    }

    /// Batch rows this state covers.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The batch rows this state covers, counted from the step's first.
    pub fn rows(&self) -> Range<usize> {
        self.first_row..self.first_row + self.batch
    }

    /// This state's rows of `whole`, a buffer of the step's every batch row, `row_len`
    /// values a row (the previous hidden state, say, or its quantized copy).
    ///
    /// # Panics
    /// If `whole` is too short.
    pub fn rows_of<'w, T>(&self, whole: &'w [T], row_len: usize) -> &'w [T] {
        let rows = self.rows();
        &whole[rows.start * row_len..rows.end * row_len]
    }

    /// The hidden units this state covers.
    pub fn units(&self) -> Range<usize> {
        self.units.clone()
    }

    /// `(c, h)` of these units in this state's batch row `b` (the step's row
    /// `rows().start + b`).
    ///
    /// # Panics
    /// If `b >= batch`.
    pub fn row(&mut self, b: usize) -> (&mut [f32], &mut [f32]) {
        assert!(
            b < self.batch,
            "UnitState::row: batch row {b} of {}",
            self.batch
        );
        let at = (self.first_row + b) * self.hidden + self.units.start;
        // SAFETY: `at + units.len()` lies within both buffers (the units within 0..hidden, the
        // rows within the buffers' rows), and whoever made this state (`whole`, or `run_layer`
        // for a task) gave it these units and rows of both buffers alone; the borrow of
        // `self` keeps the two slices unique.
        unsafe {
            (
                std::slice::from_raw_parts_mut(self.c.add(at), self.units.len()),
                std::slice::from_raw_parts_mut(self.h.add(at), self.units.len()),
            )
        }
    }

    /// [`UnitState::row`] of batch rows `b` and `b + 1` at once, so that one vector may hold
    /// the units of both.
    ///
    /// # Panics
    /// If `b + 1 >= batch`.
    pub fn row_pair(&mut self, b: usize) -> [(&mut [f32], &mut [f32]); 2] {
        assert!(
            b + 1 < self.batch,
            "UnitState::row_pair: batch rows {b} and {} of {}",
            b + 1,
            self.batch
        );
        let n = self.units.len();
        let at = |row: usize| (self.first_row + row) * self.hidden + self.units.start;
        // SAFETY: as in `row`, for either row; the two rows' units do not overlap (their
        // starts lie `hidden >= n` apart), and the borrow of `self` keeps all four unique.
        unsafe {
            [b, b + 1].map(|row| {
                (
                    std::slice::from_raw_parts_mut(self.c.add(at(row)), n),
                    std::slice::from_raw_parts_mut(self.h.add(at(row)), n),
                )
            })
        }
    }
}

/// Runs one layer's recurrence on the calling thread: `step(h_prev, ih_t, state, scratch)`
/// for every time step in the layer's order, with `h_prev` the previous hidden state (`h0`
/// first), `ih_t` the step's part of the input projection `ih`, `state` every unit of `c` and
/// of the step's row of `out`, and `scratch` set for the step (see [`StepScratch::start_step`]).
///
/// # Panics
/// If the lengths do not match the shape.
pub(crate) fn for_each_step(
    ih: &[f32],
    layer: LayerBuffers<'_>,
    scratch: &mut StepScratch,
    mut step: impl FnMut(&[f32], &[f32], &mut UnitState<'_>, &mut StepScratch),
) {
    layer.check("for_each_step", ih);
    let LayerBuffers { shape, h0, c, out } = layer;
    let h_len = shape.batch * shape.hidden;
    let ih_len = shape.gates * h_len;
    for s in 0..shape.steps {
        let t = shape.time(s);
        let ih_t = &ih[t * ih_len..][..ih_len];
        run_step(&shape, (h0, c, out), s, ih_t, scratch, &mut step);
    }
}

/// Runs the layer's `s`-th step on the calling thread: `step(h_prev, ih_t, state, scratch)`
/// with `h_prev` the previous hidden state (see [`step_rows`]), `state` every unit of `c` and
/// of the step's row of `out`, and `scratch` set for the step.
pub(super) fn run_step(
    shape: &LayerShape,
    (h0, c, out): (&[f32], &mut [f32], &mut [f32]),
    s: usize,
    ih_t: &[f32],
    scratch: &mut StepScratch,
    step: &mut impl FnMut(&[f32], &[f32], &mut UnitState<'_>, &mut StepScratch),
) {
    let (h_prev, h) = step_rows(shape, h0, out, s);
    scratch.start_step(s, true);
    step(
        h_prev,
        ih_t,
        &mut UnitState::whole(c, h, shape.hidden),
        scratch,
    );
}

/// The previous hidden state of the layer's `s`-th step (`h0` first, else the row of `out`
/// written one step before: time t − 1, or t + 1 in reverse) and the row of `out` it writes
/// (time `shape.time(s)`), `batch × hidden` each.
fn step_rows<'a>(
    shape: &LayerShape,
    h0: &'a [f32],
    out: &'a mut [f32],
    s: usize,
) -> (&'a [f32], &'a mut [f32]) {
    let h_len = shape.batch * shape.hidden;
    let t = shape.time(s);
    if s == 0 {
        (h0, &mut out[t * h_len..][..h_len])
    } else if shape.reverse {
        let (before, after) = out.split_at_mut((t + 1) * h_len);
        (&after[..h_len], &mut before[t * h_len..][..h_len])
    } else {
        let (before, after) = out.split_at_mut(t * h_len);
        (&before[(t - 1) * h_len..][..h_len], &mut after[..h_len])
    }
}

/// Threads worth using for `work` multiply-adds per step (at most `requested`), when one
/// thread should get at least `min_work` of them and a block of [`PANEL`] units.
pub(crate) fn useful_threads(
    requested: usize,
    work: usize,
    min_work: usize,
    units: usize,
) -> usize {
    requested
        .min(work / min_work.max(1))
        .min(units.div_ceil(PANEL))
        .max(1)
}

/// Fewest batch rows for each step to project its own input rows (see [`projects_per_step`]).
const PER_STEP_PROJECTION_MIN_BATCH: usize = 16;

/// Most bytes of `W_ih` one thread may have for each step to project its own input rows
/// wherever the layer's weights live: every step then reads them again, which costs little
/// while they stay in L2 beside the thread's `W_hh`.
const PER_STEP_PROJECTION_MAX_WEIGHTS: usize = 512 << 10;

/// Whether a layer should project each step's input rows just before the step rather than
/// every row first, given its batch rows, the bytes of `W_ih` each thread holds (its share
/// when split by units, all of it when split by rows), the bytes of all its weights (`W_ih`
/// and `W_hh`) and of the machine's L3.
///
/// Projected up front, the whole sequence's projection (2.6 MB a thread at batch 64, dim 256)
/// goes out to L3 and each step reads its part back; projected by the step into the thread's
/// own buffer, it is still in L2 when the cell reads it, and the sequence's projection is never
/// held. Measured on a 2-core Zen 4, both ways in one process, outputs bit-identical: split by
/// units, 2 to 7% faster at batch 64 (INT8 at dims 256 and 512, FP32 at 256), level at batch
/// 16 and 32; split by rows, 3 to 16% faster at dim 8 batch 64 and dim 80 batch 16 and 32,
/// level at dim 80 batch 64.
///
/// `W_ih` too large for L2 is read again from L3 at every step, which still beats the round
/// trip of a projection that no longer fits beside the weights (10 MB for FP32 at dim 512,
/// 21 MB for INT8 at dim 1024, batch 64) while the weights take at most half the L3. On the
/// same Zen 4 (32 MB L3), criterion medians with both builds alternated, six rounds: FP32 at
/// dim 512 batch 64 26.0 to 28.6 ms against 27.3 to 30.1 up front (faster in five rounds),
/// INT8 at dim 1024 batch 64 29.9 to 31.9 against 31.0 to 32.9 (faster in three of four);
/// FP32 at dim 1024 (32 MB of weights) 122 and 219 ms against 108 and 110, so larger layers
/// still project up front.
pub(crate) fn projects_per_step(
    batch: usize,
    w_ih_bytes_per_thread: usize,
    layer_weight_bytes: usize,
    l3_bytes: u64,
) -> bool {
    let weights_stay_in_l3 = layer_weight_bytes as u64 <= l3_bytes / 2;
    batch >= PER_STEP_PROJECTION_MIN_BATCH
        && (w_ih_bytes_per_thread <= PER_STEP_PROJECTION_MAX_WEIGHTS || weights_stay_in_l3)
}

/// Most unit blocks per step.
const MAX_BLOCKS: usize = 64;

/// Unit blocks per step: one per thread, each as large as possible (a single product over its
/// gate rows, and one claim per step). Smaller blocks, two a thread, measured slower at batch
/// 1 (more claims and synchronisation each step), and a thread that finds the other's block
/// untaken runs it anyway, so a descheduled worker holds nobody up for long.
fn unit_blocks(threads: usize, hidden: usize) -> (usize, usize) {
    if threads <= 1 {
        return (1, hidden.max(1));
    }
    let per = hidden
        .div_ceil(threads)
        .max(hidden.div_ceil(MAX_BLOCKS))
        .next_multiple_of(PANEL);
    (hidden.div_ceil(per), per)
}

/// Fewest batch rows per thread for [`row_threads`] to split a step by rows.
const MIN_ROWS_PER_THREAD: usize = 8;

/// [`row_threads`] splits a step by rows whenever the rows go round only while the layer's
/// weights take at most the L3 divided by this (4 MB of a 32 MB L3).
const ROW_SPLIT_L3_DIVISOR: u64 = 8;

/// The threads (at most `requested`) to split each step of a layer between by batch rows,
/// when that beats splitting it by hidden units; `None` when it does not.
///
/// Split by rows, every thread runs the whole step for its rows and reads no part of `h` but
/// its own (an int8 step quantizes only its rows, from the range the blocks left, see
/// [`run_layer`]), and the threads stay even whatever the hidden size; split by units, each
/// thread reads only its share of `W_hh` but the whole of `h`, and the units go out in whole
/// panels, unevenly when the panels do not divide by the threads (at dim 80, 3:2 panels a
/// gate on two threads). So the rows are split whenever each requested thread gets at least
/// [`MIN_ROWS_PER_THREAD`] of them and the layer's weights (`layer_weight_bytes`, which every
/// thread then reads at every step) take at most an eighth of the L3 (`l3_bytes`, see
/// [`ROW_SPLIT_L3_DIVISOR`]); and with fewer threads when the panels do not divide. Measured
/// on the 2-core Zen 4 (32 MB L3) at batch 16 to 64, both ways alternating in one process
/// (outputs bit-identical): INT8 LSTMs 4 to 23% faster by rows at dims 96 to 256, 1 to 3% at
/// 512 (2 MB of weights), level at 1024 (8 MB); GRUs 3 to 13%; FP32 to dim 256 level (−1 to
/// +0.6%) while the cores passed a value in 50 ns, 4 to 20% faster while they took 200 ns; FP32
/// at 512 (8 MB) 3% faster to 7% slower, at 1024 (32 MB) 2 and 19% slower (batch 64, 16).
pub(crate) fn row_threads(
    requested: usize,
    (batch, hidden): (usize, usize),
    (layer_weight_bytes, l3_bytes): (usize, u64),
) -> Option<usize> {
    let threads = requested.min(batch / MIN_ROWS_PER_THREAD);
    let weights_fit = layer_weight_bytes as u64 <= l3_bytes / ROW_SPLIT_L3_DIVISOR;
    let every_thread = threads == requested && weights_fit;
    let uneven_units = !hidden.div_ceil(PANEL).is_multiple_of(threads);
    (threads >= 2 && (every_thread || uneven_units)).then_some(threads)
}

/// A layer's input projection for one block of hidden units and some input rows (see
/// [`Projection`]).
pub(crate) type ProjectUnits<'p> =
    dyn Fn(Range<usize>, Range<usize>, &mut [f32], Option<&LinearScratch>) + Sync + 'p;

/// Makes a layer's whole input ready for its projection (see [`Projection::own_input`]) into
/// the given scratch, on the calling thread.
pub(crate) type PrepareInput<'p> = dyn Fn(&mut LinearScratch) + Sync + 'p;

/// A layer's input projection as [`run_layer`] runs it, block of units by block of units.
#[derive(Clone, Copy)]
pub(crate) struct Projection<'p> {
    /// `project(units, rows, ih_rows, own)` must fill `ih_rows` (`rows.len() × gates ×
    /// units.len()`, `[row][gate][unit]`) with the projection of input rows `rows` (counted
    /// over the whole sequence, `steps × batch`) onto the units' gate rows, from the calling
    /// thread's own copy of the input made ready `own` (see `own_input`), or with `None`
    /// from the one the layer made ready for every thread.
    pub project: &'p ProjectUnits<'p>,
    /// When the rows are projected.
    pub plan: ProjectionPlan,
    /// When set, every thread taking part makes its own copy of the input ready first (into
    /// its [`StepScratch::input`], of at most the given bytes), and every projection the
    /// thread runs, in phase 0 or ahead in a step, reads that copy. No thread then reads
    /// quantized input that another core wrote this pass, nor does the layer's thread write,
    /// before the steps, lines the other cores read the pass before: quantizing a dim-256
    /// sequence on the calling thread took 0.9 to 1.0 µs in minutes when the two cores passed
    /// a value in 45 ns and 2.9 to 3.5 µs when they took 200 ns.
    pub own_input: Option<(&'p PrepareInput<'p>, usize)>,
}

/// When a layer split by units projects its input rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProjectionPlan {
    /// Every row in a first phase, before the first step.
    Upfront,
    /// Each step its own rows, just before it runs (see [`projects_per_step`]).
    PerStep,
    /// The first `gates` time steps' rows in a first phase; every later chunk of `gates` time
    /// steps by the `gates` steps before it, one gate each, alongside their own product (see
    /// [`AheadRows`]). With a batch of one, a step's recurrent product waits on its weights
    /// from L2 and leaves the multiply-add units half idle; the input projection's
    /// multiply-adds, which reuse each weight for several rows, fill them (see
    /// [`super::AheadProjection`]).
    Ahead,
}

/// The part of the input projection a step computes besides its own (see
/// [`ProjectionPlan::Ahead`]): input rows `rows` (counted over the whole sequence, `steps ×
/// batch`) onto gate `gate`'s rows of the step's units, into `out` (`rows.len() × gates ×
/// units`, `[row][gate][unit]`, of which the step fills gate `gate`).
pub(crate) struct AheadRows<'a> {
    /// The input rows.
    pub rows: Range<usize>,
    /// The gate to project.
    pub gate: usize,
    /// The projection of those rows for the step's units.
    pub out: &'a mut [f32],
    /// The thread's own copy of the input made ready, as for [`Projection::project`].
    pub own: Option<&'a LinearScratch>,
}

/// The time steps whose input rows are projected together under [`ProjectionPlan::Ahead`]:
/// the `chunk`-th `gates` steps in the layer's order, as a range of times.
fn ahead_chunk(shape: &LayerShape, chunk: usize) -> Range<usize> {
    let first = (chunk * shape.gates).min(shape.steps);
    let end = (first + shape.gates).min(shape.steps);
    if shape.reverse {
        shape.steps - end..shape.steps - first
    } else {
        first..end
    }
}

/// How [`run_layer`] shares each step of a layer between threads.
#[derive(Clone, Copy)]
pub(crate) enum Split<'p> {
    /// Blocks of hidden units, every batch row each, each block projecting the input onto its
    /// own gate rows: in a first phase over every row, or step by step (see [`Projection`]).
    Units(Projection<'p>),
    /// Blocks of batch rows, every hidden unit each: each step first projects its block's
    /// input rows onto every gate row with the given projection (see [`projects_per_step`]),
    /// or, with none, `ih` already holds the input projection.
    Rows(Option<&'p ProjectUnits<'p>>),
}

impl<'p> Split<'p> {
    /// The projection of phase 0 (over every row, or the first chunk's under
    /// [`ProjectionPlan::Ahead`]) and the one each step runs first on its own rows: at most
    /// one of them.
    fn projections(self) -> (Option<&'p ProjectUnits<'p>>, Option<&'p ProjectUnits<'p>>) {
        match self {
            Split::Units(p) if p.plan == ProjectionPlan::PerStep => (None, Some(p.project)),
            Split::Units(p) => (Some(p.project), None),
            Split::Rows(per_step) => (None, per_step),
        }
    }

    /// Whether steps project later rows alongside their own product.
    fn projects_ahead(self) -> bool {
        matches!(self, Split::Units(p) if p.plan == ProjectionPlan::Ahead)
    }
}

/// The blocks of one layer's steps: of `per` hidden units each (every batch row), or of
/// `per` batch rows each (every unit).
struct Blocks {
    count: usize,
    per: usize,
    by_rows: bool,
    hidden: usize,
    batch: usize,
}

impl Blocks {
    fn new(split: Split<'_>, threads: usize, hidden: usize, batch: usize) -> Self {
        let (count, per, by_rows) = match split {
            Split::Units(..) => {
                let (count, per) = unit_blocks(threads, hidden);
                (count, per, false)
            }
            Split::Rows(..) => {
                let per = batch.div_ceil(threads.min(MAX_BLOCKS)).max(1);
                (batch.div_ceil(per), per, true)
            }
        };
        Blocks {
            count,
            per,
            by_rows,
            hidden,
            batch,
        }
    }

    /// Block `i`'s hidden units and batch rows.
    fn get(&self, i: usize) -> (Range<usize>, Range<usize>) {
        let part = |len: usize| (i * self.per).min(len)..((i + 1) * self.per).min(len);
        if self.by_rows {
            (0..self.hidden, part(self.batch))
        } else {
            (part(self.hidden), 0..self.batch)
        }
    }

    /// Most units and batch rows of a block.
    fn largest(&self) -> (usize, usize) {
        if self.by_rows {
            (self.hidden, self.per)
        } else {
            (self.per, self.batch)
        }
    }
}

/// Runs one layer's recurrence (and, split by units, its input projection first) on up to
/// `threads` threads.
///
/// The step is split into blocks as `split` says, and the work into (phase, block) tasks.
/// Split by units, phase 0 is the input projection (see [`Split::Units`]), unless each step
/// projects its own rows into its thread's [`StepScratch::step_input`], as it always does
/// when split by rows with a projection. Every later phase is one of the layer's steps (the
/// `s`-th, time `shape.time(s)`): `step(h, ih_t, state, scratch)` must project the full
/// previous hidden state `h` (`batch × hidden`, every row) onto the gate rows of `state`'s
/// units, for `state`'s batch rows, add their input projection `ih_t` (`rows × gates ×
/// units.len()`) and update `state` (their `c`, and their `h` of this step);
/// `scratch.h_is_new` tells it whether `h` changed since this scratch's last call (so work on
/// the whole `h`, such as quantizing it, can be reused).
///
/// With `h_ranges` (a step that quantizes `h` from its range), every block's task also finds
/// the range of its own part of the step's `h` with that kernel's [`min_max`] and leaves it
/// beside its count of tasks done; the next step's tasks get the whole `h`'s range from those
/// in `scratch.h_range`, so that no thread reads the other threads' parts of `h` to find it
/// (split by batch rows, a thread then reads no part of `h` but its own). The smallest and
/// largest values are the same however the values are grouped.
///
/// Under [`ProjectionPlan::Ahead`], phase 0 projects the first chunk's rows only, and a step's
/// last argument asks it to project part of a later chunk (see [`AheadRows`]); it is `None`
/// otherwise.
///
/// `ih` is the input projection (`steps × batch × gates · hidden`, block after block when
/// split by units; empty when each step projects its own rows), and `layer` the state (see
/// [`LayerBuffers`]).
///
/// In every phase each thread takes its own blocks first (so their weights and their part of
/// the projection stay in its caches) and then any block not yet taken, so a descheduled
/// worker holds the others up for [`OWNER_PATIENCE`] at most; a phase starts once every task
/// of the previous one is done. Each unit's arithmetic is the same whoever runs it, and
/// however the step is split.
///
/// # Panics
/// If the lengths do not match `shape`.
pub(crate) fn run_layer<S>(
    threads: usize,
    pool: &mut Pool,
    scratch: &mut Vec<StepScratch>,
    (split, step): (Split<'_>, &S),
    ih: &mut [f32],
    layer: LayerBuffers<'_>,
    h_ranges: Option<Kernel>,
) where
    S: Fn(&[f32], &[f32], &mut UnitState<'_>, &mut StepScratch, Option<AheadRows<'_>>) + Sync,
{
    let (first_projection, step_projection) = split.projections();
    let per_step = step_projection.is_some();
    let ahead = split.projects_ahead();
    let own_input = match split {
        Split::Units(p) => p.own_input,
        Split::Rows(_) => None,
    };
    if per_step {
        layer.check_state("run_layer");
        assert!(ih.is_empty(), "run_layer: ih with a projection per step");
    } else {
        layer.check("run_layer", ih);
    }
    let LayerBuffers { shape, h0, c, out } = layer;
    let LayerShape {
        steps,
        batch,
        hidden,
        gates,
        ..
    } = shape;
    let h_len = batch * hidden;
    let rows = steps * batch;
    let most_threads = match split {
        Split::Units(..) => hidden.div_ceil(PANEL),
        Split::Rows(..) => batch,
    };
    let threads = threads.clamp(1, most_threads.max(1));
    if scratch.len() < threads {
        scratch.resize_with(threads, StepScratch::default);
    }
    let blocks = Blocks::new(split, threads, hidden, batch);
    let (most_units, most_rows) = blocks.largest();
    // Size every thread's buffers here, so a worker joining a later forward pass for the
    // first time allocates nothing.
    let step_values = gates * most_rows * most_units;
    for s in &mut scratch[..threads] {
        s.gates.reserve_total(step_values);
        if per_step {
            s.step_input.reserve_total(step_values);
        }
        s.accumulators.reserve_total(step_values);
        s.quantized
            .reserve_total(batch * hidden.next_multiple_of(4));
        if let Some((_, bytes)) = own_input {
            s.input.quantized.reserve_total(bytes);
        }
    }
    // Every counter on a cache line of its own: a thread claiming its own block then writes a
    // line that the other thread has no reason to touch.
    let claims: [Padded<AtomicUsize>; MAX_BLOCKS] =
        std::array::from_fn(|_| Padded(AtomicUsize::new(0)));
    // done[block] counts the tasks of that block finished (and holds the range of its part
    // of `h`, see BlockDone). Each is written by one thread at a time (the one that took the
    // task) with plain stores, and read by the others while they wait: the finishing thread
    // never stalls on a line the others are reading.
    let done: [Padded<BlockDone>; MAX_BLOCKS] =
        std::array::from_fn(|_| Padded(BlockDone::default()));
    let all_done = |tasks: usize| {
        done[..blocks.count]
            .iter()
            .all(|d| d.0.tasks.load(Ordering::Acquire) >= tasks)
    };
    // Without an input projection phase to run, phase 0 is the first step.
    let first_phase = usize::from(first_projection.is_none());
    let ih = SharedSlice::new(ih);
    let out = SharedSlice::new(out);
    let c = SharedSlice::new(c);
    let scratch = SharedSlice::new(&mut scratch[..threads]);
    // Threads wait on other threads' blocks (see below) only when every thread has a core of
    // its own: with more threads than cores, owners are descheduled at every turn, and their
    // blocks are best taken at once (waiting took a batch-1 INT8 forward at dim 256 on 4 and
    // 8 threads from 60 to 84 µs on the 2-core Zen 4).
    let patient = threads <= super::default_threads();
    let job = |index: usize| {
        // SAFETY: the pool gives each thread of a run its own index.
        let s = unsafe { &mut scratch.get_mut(index..index + 1)[0] };
        if let Some((prepare, _)) = own_input {
            prepare(&mut s.input);
        }
        let mut last_step = usize::MAX;
        // taken_by_others[block]: whether another thread had taken `block` (one of the other
        // threads' blocks) when this thread last looked: its owner is taking part in the run.
        let mut taken_by_others = [false; MAX_BLOCKS];
        let owns = |block: usize| block % threads == index % threads;
        for phase in first_phase..=steps {
            let task = phase - first_phase;
            spin_until(|| all_done(task));
            // The range of the previous step's `h` (phase - 1 is step phase - 2), from what its
            // blocks left.
            let h_range = h_ranges
                .filter(|_| phase >= 2)
                .map(|_| whole_range(&done[..blocks.count], phase - 2));
            // This thread's own blocks first (their weights stay in its caches), then any
            // block nobody has taken yet.
            let own = (0..blocks.count).filter(|&b| owns(b));
            let others = (0..blocks.count).filter(|&b| !owns(b));
            for block in own.chain(others) {
                let owned = owns(block);
                // Another thread's block whose owner took part so far is left to it while it
                // finishes in time: looking at its claim would pull the claim's cache line
                // here, and the owner's next claim would wait to take it back.
                if patient
                    && !owned
                    && taken_by_others[block]
                    && finishes_within(&done[block].0.tasks, task, OWNER_PATIENCE)
                {
                    continue;
                }
                // claims[block] counts the tasks of that block taken so far.
                if claims[block].0.load(Ordering::Relaxed) != task
                    || claims[block]
                        .0
                        .compare_exchange(task, task + 1, Ordering::AcqRel, Ordering::Relaxed)
                        .is_err()
                {
                    taken_by_others[block] = !owned;
                    continue;
                }
                taken_by_others[block] = false;
                let (units, batch_rows) = blocks.get(block);
                let n = units.len();
                let ih_block = gates * rows * units.start..gates * rows * units.end;
                // The block's part of `ih` for the times `times` (a range of whole rows).
                let ih_rows = |times: &Range<usize>| {
                    let row_len = gates * n;
                    let at = ih_block.start + times.start * batch * row_len;
                    (
                        times.start * batch..times.end * batch,
                        at..at + times.len() * batch * row_len,
                    )
                };
                if phase == 0 {
                    if let Some(project) = first_projection {
                        let times = if ahead {
                            ahead_chunk(&shape, 0)
                        } else {
                            0..steps
                        };
                        let (rows, at) = ih_rows(&times);
                        let own = own_input.map(|_| &s.input);
                        // SAFETY: this task alone writes the block's part of `ih`, which
                        // nobody reads before every task of phase 0 is done.
                        project(units, rows, unsafe { ih.get_mut(at) }, own);
                    }
                    done[block].0.tasks.store(task + 1, Ordering::Release);
                    continue;
                }
                let step_index = phase - 1;
                s.start_step(step_index, step_index != last_step);
                last_step = step_index;
                let t = shape.time(step_index);
                // SAFETY: every task of the previous phase is done (Acquire above), so the row
                // of `out` the previous step wrote is complete; nobody writes it any more.
                let h_prev: &[f32] = if step_index == 0 {
                    h0
                } else {
                    let prev = shape.time(step_index - 1);
                    unsafe { out.get(prev * h_len..(prev + 1) * h_len) }
                };
                let ih_len = batch_rows.len() * gates * n;
                // The step's input projection: projected here into the thread's own buffer
                // (taken out of `s` while the projection and the step use `s`), or this step's
                // rows of the block's part of `ih`.
                let mut step_input = std::mem::take(&mut s.step_input);
                let ih_t: &[f32] = if let Some(project) = step_projection {
                    let rows = t * batch + batch_rows.start..t * batch + batch_rows.end;
                    step_input.resize_for_overwrite(ih_len);
                    let own = own_input.map(|_| &s.input);
                    project(units.clone(), rows, &mut step_input, own);
                    &step_input
                } else {
                    let at = ih_block.start + (t * batch + batch_rows.start) * gates * n;
                    // SAFETY: this step's rows of the block's part of `ih` were projected in
                    // phase 0, and nobody writes them any more.
                    unsafe { ih.get(at..at + ih_len) }
                };
                let mut state = UnitState {
                    c: c.as_ptr(),
                    // SAFETY: row t of `out` lies within it (checked by LayerBuffers::check).
                    h: unsafe { out.as_ptr().add(t * h_len) },
                    hidden,
                    units: units.clone(),
                    first_row: batch_rows.start,
                    batch: batch_rows.len(),
                    _borrow: PhantomData,
                };
                // The thread's own input, taken out of `s` while the step uses `s`.
                let own = own_input.map(|_| std::mem::take(&mut s.input));
                // Under the Ahead plan, step s projects gate s % gates of the chunk after its
                // own (the chunk the next `gates` steps will read, none past the last).
                let ahead_rows = ahead
                    .then(|| ahead_chunk(&shape, step_index / gates + 1))
                    .filter(|later| !later.is_empty())
                    .map(|later| {
                        let (rows, at) = ih_rows(&later);
                        AheadRows {
                            rows,
                            gate: step_index % gates,
                            // SAFETY: only this block's task of this step writes these rows of
                            // its part of `ih` (a later chunk's, never this step's); they are
                            // read once their own steps come, after every task of this one.
                            out: unsafe { ih.get_mut(at) },
                            own: own.as_ref(),
                        }
                    });
                // This task alone owns `units` of its batch rows of `c` and of row t of
                // `out`, which is read only once every task of this step is done.
                s.h_range = h_range;
                step(h_prev, ih_t, &mut state, s, ahead_rows);
                s.step_input = step_input;
                if let Some(own) = own {
                    s.input = own;
                }
                if let Some(kernel) = h_ranges {
                    // SAFETY: this task alone wrote these units of these rows of row t of
                    // `out`, and nobody writes them any more.
                    let part = unsafe {
                        block_range(kernel, &out, (t * h_len, hidden), &units, &batch_rows)
                    };
                    done[block].0.publish(step_index, part);
                }
                done[block].0.tasks.store(task + 1, Ordering::Release);
            }
        }
    };
    pool.run(threads, &job);
}

/// How long a thread waits for another thread's block to be done before it looks whether
/// that block's task is still there to take (when the block's owner has taken part so far):
/// longer than the wait on a batch-1 step's slowest block usually is, short enough that a
/// worker descheduled before it took its task holds the step up only this long.
///
/// Looking at the claim at once would pull its cache line to the looking thread at every
/// step, and the owner's next claim would wait to take it back. Measured on a
/// 2-core Zen 4, batch-1 INT8 at dims 128 to 512, both ways in one process, outputs
/// bit-identical: 0.5 to 3% faster while the two cores passed a value in 50 ns, 0.6 to 8%
/// faster while they took 200 ns (160 to 384 gained most); level at batch 8 and 64.
const OWNER_PATIENCE: Duration = Duration::from_micros(10);

/// Whether `done` exceeds `task` within about `patience`, spinning until then.
fn finishes_within(done: &AtomicUsize, task: usize, patience: Duration) -> bool {
    let is_done = || done.load(Ordering::Acquire) > task;
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            if is_done() {
                return true;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() > patience {
            return is_done();
        }
    }
}

/// Fewest values a thread should get in a pass over a whole buffer (checking, quantizing or
/// copying a sequence): below it, waking a second thread costs more than it saves.
const MIN_PASS_VALUES_PER_THREAD: usize = 32 * 1024;

/// Threads worth using (at most `requested`) for a pass over `len` values with [`par_rows`].
/// At batch 64, dim 256, checking, quantizing and copying the sequence took 0.22 to 0.26 ms
/// of a 2.6 ms forward on one thread while the other waited.
pub(crate) fn pass_threads(requested: usize, len: usize) -> usize {
    requested.min(len / MIN_PASS_VALUES_PER_THREAD).max(1)
}

/// Computes `m` rows of output on up to `threads` threads: `f(rows, out_rows, aux_rows)` is
/// called with disjoint row ranges (multiples of 4 rows where possible) and their parts of
/// `out` (`row_len` values a row) and of `aux` (`aux_row_len` a row, 0 for none).
///
/// # Panics
/// If `out.len() != m * row_len` or `aux.len() != m * aux_row_len`.
pub(crate) fn par_rows<T: Send, U: Send, F>(
    pool: &mut Pool,
    threads: usize,
    m: usize,
    (out, row_len): (&mut [T], usize),
    (aux, aux_row_len): (&mut [U], usize),
    f: &F,
) where
    F: Fn(Range<usize>, &mut [T], &mut [U]) + Sync,
{
    assert_eq!(out.len(), m * row_len, "par_rows: output length");
    assert_eq!(aux.len(), m * aux_row_len, "par_rows: auxiliary length");
    let threads = threads.clamp(1, m.max(1));
    let per = if threads == 1 {
        m.max(1)
    } else {
        m.div_ceil(2 * threads).next_multiple_of(4)
    };
    let tasks = m.div_ceil(per);
    let next = AtomicUsize::new(0);
    let (out, aux) = (SharedSlice::new(out), SharedSlice::new(aux));
    pool.run(threads, &|_| {
        loop {
            let task = next.fetch_add(1, Ordering::Relaxed);
            if task >= tasks {
                break;
            }
            let rows = task * per..((task + 1) * per).min(m);
            // SAFETY: every task has its own row range.
            let (chunk, aux_chunk) = unsafe {
                (
                    out.get_mut(rows.start * row_len..rows.end * row_len),
                    aux.get_mut(rows.start * aux_row_len..rows.end * aux_row_len),
                )
            };
            f(rows, chunk, aux_chunk);
        }
    });
}

/// Calls `f(rows)` for disjoint ranges of rows covering `0..m` on up to `threads` threads,
/// shared as [`par_rows`] shares them (for passes that write nothing row by row, such as
/// finding a range).
pub(crate) fn par_row_ranges<F>(pool: &mut Pool, threads: usize, m: usize, f: &F)
where
    F: Fn(Range<usize>) + Sync,
{
    let nothing: (&mut [u8], usize) = (&mut [], 0);
    par_rows(
        pool,
        threads,
        m,
        nothing,
        (&mut [], 0),
        &|rows, _, _: &mut [u8]| f(rows),
    );
}

/// What a block's tasks leave for the other threads of [`run_layer`]: how many of them are
/// done and, when the step quantizes `h`, the range of the block's part of `h` at the last
/// two steps (f32 bits, by the step's parity). A step's ranges are read at the start of the
/// next step; they are overwritten two steps later, which no task starts before every
/// thread has finished the next step.
#[derive(Default)]
struct BlockDone {
    tasks: AtomicUsize,
    h_range: [[AtomicU32; 2]; 2],
}

impl BlockDone {
    /// Leaves the range of the block's part of step `s`'s `h`, before its task is counted
    /// done (whose Release store makes it visible with it).
    fn publish(&self, s: usize, (lo, hi): (f32, f32)) {
        let [lo_bits, hi_bits] = &self.h_range[s % 2];
        lo_bits.store(lo.to_bits(), Ordering::Relaxed);
        hi_bits.store(hi.to_bits(), Ordering::Relaxed);
    }

    /// The range the block left for step `s`, once its task for that step was seen done
    /// (with an Acquire load of `tasks`).
    fn range(&self, s: usize) -> (f32, f32) {
        let [lo_bits, hi_bits] = &self.h_range[s % 2];
        let bits = |b: &AtomicU32| f32::from_bits(b.load(Ordering::Relaxed));
        (bits(lo_bits), bits(hi_bits))
    }
}

/// The range of step `s`'s whole `h` from the ranges its `blocks` left.
fn whole_range(blocks: &[Padded<BlockDone>], s: usize) -> (f32, f32) {
    blocks.iter().map(|b| b.0.range(s)).fold(EMPTY_RANGE, widen)
}

/// The range of no values, which [`widen`] leaves as it finds.
const EMPTY_RANGE: (f32, f32) = (f32::INFINITY, f32::NEG_INFINITY);

/// The range covering both ranges (the same values [`min_max`] finds over both parts).
fn widen((lo, hi): (f32, f32), (part_lo, part_hi): (f32, f32)) -> (f32, f32) {
    (lo.min(part_lo), hi.max(part_hi))
}

/// The range ([`min_max`] with `kernel`) of a block's part of one step's `h`: its `units` of
/// its batch `rows` of the row of `out` from `at` (`batch × hidden` values).
///
/// # Safety
/// Nobody may write that part of `out` while this runs.
unsafe fn block_range(
    kernel: Kernel,
    out: &SharedSlice<'_, f32>,
    (at, hidden): (usize, usize),
    units: &Range<usize>,
    rows: &Range<usize>,
) -> (f32, f32) {
    // (A block is never empty: every block has at least one unit and one row.)
    let range_of = |from: usize, len: usize| {
        // SAFETY: within the block's part (the caller's contract).
        min_max(kernel, unsafe { out.get(at + from..at + from + len) })
    };
    if units.len() == hidden {
        // Whole rows: one run of values.
        range_of(rows.start * hidden, rows.len() * hidden)
    } else {
        rows.clone()
            .map(|r| range_of(r * hidden + units.start, units.len()))
            .fold(EMPTY_RANGE, widen)
    }
}

/// A value alone on its cache lines (two, as adjacent-line prefetch pairs them).
#[repr(align(128))]
pub(super) struct Padded<T>(pub(super) T);

/// A mutable slice shared by the threads of one run, each touching its own part.
pub(super) struct SharedSlice<'a, T> {
    ptr: *mut T,
    len: usize,
    _borrow: PhantomData<&'a mut [T]>,
}

// SAFETY: it is only a way to hand disjoint parts of a `&mut [T]` to threads; `T: Send`.
unsafe impl<T: Send> Sync for SharedSlice<'_, T> {}

impl<'a, T> SharedSlice<'a, T> {
    pub(super) fn new(slice: &'a mut [T]) -> Self {
        SharedSlice {
            ptr: slice.as_mut_ptr(),
            len: slice.len(),
            _borrow: PhantomData,
        }
    }

    /// The first element; writing through it follows the rules of [`SharedSlice::get_mut`].
    fn as_ptr(&self) -> *mut T {
        self.ptr
    }

    /// # Safety
    /// No thread may write `range` while the returned slice is alive.
    pub(super) unsafe fn get(&self, range: Range<usize>) -> &[T] {
        assert!(range.start <= range.end && range.end <= self.len);
        // SAFETY: in bounds (checked); no concurrent writer (the caller's contract).
        unsafe { std::slice::from_raw_parts(self.ptr.add(range.start), range.len()) }
    }

    /// # Safety
    /// No other thread may touch `range` while the returned slice is alive.
    #[allow(clippy::mut_from_ref)]
    pub(super) unsafe fn get_mut(&self, range: Range<usize>) -> &mut [T] {
        assert!(range.start <= range.end && range.end <= self.len);
        // SAFETY: in bounds (checked); exclusive (the caller's contract).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.len()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_done_in_time_is_waited_for_and_one_not_done_is_given_up_on() {
        let done = AtomicUsize::new(3);
        assert!(finishes_within(&done, 2, Duration::ZERO));
        let start = Instant::now();
        assert!(!finishes_within(&done, 3, Duration::from_micros(200)));
        assert!(start.elapsed() >= Duration::from_micros(200));
        std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(2));
                done.store(4, Ordering::Release);
            });
            assert!(finishes_within(&done, 3, Duration::from_secs(60)));
        });
    }

    #[test]
    fn steps_are_split_by_rows_once_every_thread_gets_eight() {
        const MB: usize = 1 << 20;
        let l3 = 32 << 20;
        // (batch, hidden) with 1 MB of weights.
        let rows = |threads, batch, hidden| row_threads(threads, (batch, hidden), (MB, l3));
        assert_eq!(rows(2, 16, 128), Some(2));
        assert_eq!(rows(8, 64, 256), Some(8));
        // Weights up to an eighth of the L3 (INT8 at dim 512, 2 MB) by rows; more (INT8 at
        // 1024, FP32 at 512: 8 MB) by units.
        assert_eq!(row_threads(2, (64, 512), (2 * MB, l3)), Some(2));
        assert_eq!(row_threads(2, (64, 512), (4 * MB, l3)), Some(2));
        assert_eq!(row_threads(2, (64, 512), (4 * MB + 1, l3)), None);
        assert_eq!(row_threads(2, (64, 1024), (8 * MB, l3)), None);
        assert_eq!(row_threads(2, (64, 512), (2 * MB, 8 << 20)), None);
        // Fewer than 8 rows a thread: split by units.
        assert_eq!(rows(2, 15, 128), None);
        assert_eq!(rows(4, 16, 128), None);
        assert_eq!(rows(1, 64, 128), None);
        // ... unless the units' panels do not divide between the threads the rows allow,
        // whatever the weights.
        assert_eq!(rows(4, 16, 80), Some(2));
        assert_eq!(rows(3, 16, 112), Some(2));
        assert_eq!(row_threads(2, (64, 1000), (32 * MB, l3)), Some(2));
    }

    #[test]
    fn steps_project_their_rows_at_batch_16_up_while_the_weights_stay_in_a_cache() {
        const MB: usize = 1 << 20;
        let l3 = 32 << 20;
        // W_ih shares that stay in L2 (at most 512 KB a thread), whatever the L3.
        assert!(projects_per_step(64, MB / 4, MB / 2, l3));
        assert!(projects_per_step(16, MB / 2, 64 * MB, l3));
        assert!(!projects_per_step(15, MB / 4, MB / 2, l3));
        // W_ih read from L3 at every step (FP32 at dim 512: 2 MB a thread, 8 MB in all).
        assert!(projects_per_step(64, 2 * MB, 8 * MB, l3));
        assert!(projects_per_step(64, 2 * MB, 16 * MB, l3));
        assert!(!projects_per_step(64, 2 * MB, 16 * MB + 1, l3));
        assert!(!projects_per_step(64, 2 * MB, 8 * MB, 8 << 20));
        assert!(!projects_per_step(8, 2 * MB, 8 * MB, l3));
        // FP32 at dim 1024: 32 MB of weights, more than half the L3.
        assert!(!projects_per_step(64, 8 * MB, 32 * MB, l3));
    }
}
