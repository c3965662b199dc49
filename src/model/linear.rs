//! The linear map `y = x Wᵀ + b` and the trait the recurrent model is generic over.

use std::ops::Range;

use crate::io::Cell;
use crate::kernels::{
    self, Execution, F32Ahead, Kernel, LayerBuffers, OutputRows, PANEL, PackedF32, Pool,
    StepScratch, UnitState,
};

pub use crate::kernels::LinearScratch;

/// Part of a layer's input projection a recurrent step computes besides its own product:
/// rows `x` of the input onto gate `gate`'s rows of the step's units, into `out` (`rows ×
/// gates × units`, `[row][gate][unit]`, of which the step fills gate `gate`). The int8 step
/// on AVX-512 computes it in the same pass as its own product.
pub struct StepAhead<'a, L> {
    /// The layer's input map, `W_ih`.
    pub w_ih: &'a L,
    /// The input rows to project (`rows × in`).
    pub x: &'a [f32],
    /// The whole input sequence made ready by [`LinearOp::prepare_sequence`], whose rows from
    /// `first_row` are `x`.
    pub prepared: &'a LinearScratch,
    /// The first of `x`'s rows in the sequence.
    pub first_row: usize,
    /// The gate to project.
    pub gate: usize,
    /// The rows' projection for the step's units.
    pub out: &'a mut [f32],
}

/// A linear map applied to a batch of rows: the FP32 [`Linear`] or the dynamically quantized
/// [`crate::QLinear`].
pub trait LinearOp: Clone + Send + Sync {
    /// Fewest multiply-adds per recurrent step one thread should get before a second thread
    /// is worth its barrier.
    const MIN_STEP_WORK_PER_THREAD: usize;
    /// Whether [`LinearOp::step_units`] quantizes the previous hidden state from its range
    /// (the int8 map): a step shared between threads then has each block find the range of
    /// its own part of `h` (see the crate's `kernels::run_layer`).
    const QUANTIZES_H: bool;
    /// Fewest multiply-adds of a whole-sequence product one thread should get before a second
    /// thread is worth waking.
    const MIN_GEMM_WORK_PER_THREAD: usize;
    /// Fewest multiply-adds of a layer's input projection before a second thread is worth
    /// computing it alongside the steps of a layer that runs them on one thread (the
    /// crate's `kernels::run_layer_projecting_alongside`).
    const MIN_ALONGSIDE_PROJECTION_WORK: usize;

    /// Features of each input row.
    fn in_features(&self) -> usize;
    /// Features of each output row.
    fn out_features(&self) -> usize;
    /// Bytes of weights a product streams (`out × in` values of the weight type).
    fn weight_bytes(&self) -> usize;

    /// `y[rows × out] = x[rows × in] · Wᵀ + b` with the detected kernel on one thread.
    /// Slices must have exactly those lengths.
    fn forward(&self, x: &[f32], rows: usize, y: &mut [f32], scratch: &mut LinearScratch) {
        let exec = Execution {
            kernel: Kernel::detect(),
            threads: 1,
        };
        self.forward_with(exec, &mut Pool::default(), x, rows, y, scratch);
    }

    /// Like [`LinearOp::forward`] with the given kernel, on up to `exec.threads` threads.
    fn forward_with(
        &self,
        exec: Execution,
        pool: &mut Pool,
        x: &[f32],
        rows: usize,
        y: &mut [f32],
        scratch: &mut LinearScratch,
    );

    /// Gets a whole input sequence `x` (`rows × in`) ready for [`LinearOp::project_units`]:
    /// the int8 map quantizes it from its whole range into `scratch`, as its forward pass
    /// does (on up to `exec.threads` threads); the f32 map has nothing to do.
    fn prepare_sequence(
        &self,
        exec: Execution,
        pool: &mut Pool,
        x: &[f32],
        scratch: &mut LinearScratch,
    );

    /// [`LinearOp::prepare_sequence`] on the calling thread alone, with `kernel`: the same
    /// bits, for a thread that makes its own copy of a layer's input ready.
    fn prepare_sequence_here(&self, _kernel: Kernel, _x: &[f32], _scratch: &mut LinearScratch) {}

    /// Bytes [`LinearOp::prepare_sequence`] keeps for `rows` input rows.
    fn prepared_bytes(&self, _rows: usize) -> usize {
        0
    }

    /// A recurrent layer's input projection for some hidden units: with this map being `W_ih`
    /// (`G·H × in` for a `cell` of G gates), fills `out` (`rows × G × units.len()`) with
    /// `out[i][gate][u] = (x W_ihᵀ + b_ih)[i][gate·H + units.start + u]` for every row `i` of
    /// `x` (`rows × in`): rows `first_row..first_row + rows` of a sequence made ready by
    /// [`LinearOp::prepare_sequence`] into `prepared`. The same values, bit for bit, as
    /// [`LinearOp::forward`] gives in those columns, whatever rows are projected together.
    #[allow(clippy::too_many_arguments)]
    fn project_units(
        &self,
        cell: Cell,
        kernel: Kernel,
        x: &[f32],
        prepared: &LinearScratch,
        first_row: usize,
        units: Range<usize>,
        out: &mut [f32],
    );

    /// One time step of a `cell` layer for the hidden units of `state`: with this map being
    /// `W_hh` and `h` the previous hidden state (`batch × H`), computes `W_hh h + b_hh` for the
    /// units' gate rows, runs the cell with their input projection `ih` (`batch × G × units`,
    /// `[batch][gate][unit]`) and updates `state`; with `ahead`, also projects those input
    /// rows (see [`StepAhead`]), as [`LinearOp::project_units`] would, bit for bit.
    /// `scratch.h_is_new` says whether `h` changed since this scratch's last call (so work on
    /// the whole `h`, such as quantizing it, can be reused).
    fn step_units(
        &self,
        cell: Cell,
        kernel: Kernel,
        h_ih: (&[f32], &[f32]),
        state: &mut UnitState<'_>,
        scratch: &mut StepScratch,
        ahead: Option<StepAhead<'_, Self>>,
    );

    /// Whether [`LinearOp::step_units`] (this map being `W_hh`) of a `cell` layer with `kernel`
    /// and `batch` rows computes its [`StepAhead`] in the same pass as its own product, so
    /// that projecting ahead saves time rather than just moving it.
    fn fuses_ahead(&self, _cell: Cell, _kernel: Kernel, _batch: usize) -> bool {
        false
    }

    /// One layer's whole recurrence on the calling thread, for models too small to share a
    /// step between threads: [`LinearOp::step_units`] over every unit, step by step. With
    /// this map being `W_hh`, `ih` the input projection (`steps × batch × G·H`) and `layer`
    /// the state, the results are those of the threaded recurrence, bit for bit.
    fn run_recurrence(
        &self,
        cell: Cell,
        kernel: Kernel,
        ih: &[f32],
        layer: LayerBuffers<'_>,
        scratch: &mut StepScratch,
    ) {
        kernels::for_each_step(ih, layer, scratch, |h_prev, ih_t, state, scratch| {
            self.step_units(cell, kernel, (h_prev, ih_t), state, scratch, None);
        });
    }
}

/// Most bytes of an f32 `W_hh` whose steps project later input rows in the same pass as their
/// own product: an LSTM's 1 MiB (dimension 256), a GRU's 600 KiB (dimension 224). Measured on
/// a 2-core Zen 4, batch 1, both ways in one process, alternated, outputs bit-identical. An
/// LSTM was 0 to 6.2% faster at dim 128, 6.9 to 12% at 192, 2.6 to 4.6% at 256 and 0.2 to
/// 6.5% at 320, level at 384 and 512, and 12 to 20% slower at 1024, where `W_hh` no longer
/// fits in L2 (the projection's weights, read once for 4 rows rather than 8, presumably add
/// to the memory traffic). A GRU (chunks of 3 rows) was level at 128, 0.1 to 2.1% faster at
/// 160 (once 1.7% slower), 1.1 to 4.4% at 176, 2.2 to 6.0% at 192, 3.3 to 6.8% at 208 and 0.3
/// to 6.6% at 224, but 0.6 to 4.9% slower at 240 and 2.2 to 8.4% at 256.
fn fused_ahead_max_weights(cell: Cell) -> usize {
    match cell {
        Cell::Lstm => 1 << 20,
        Cell::Gru => 600 << 10,
    }
}

/// An f32 linear map with PyTorch's `nn.Linear` layout (`weight` is `out × in`), its weights
/// kept only in the packed layout the kernels read.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    /// `out_features` values.
    pub bias: Vec<f32>,
    packed: PackedF32,
}

impl Linear {
    /// Builds a linear map; `weight` must hold `out_features × in_features` values and `bias`
    /// `out_features`.
    ///
    /// # Panics
    /// On a length mismatch (callers validate shapes first).
    pub fn new(weight: Vec<f32>, bias: Vec<f32>, in_features: usize, out_features: usize) -> Self {
        assert_eq!(
            weight.len(),
            in_features * out_features,
            "Linear: weight shape"
        );
        assert_eq!(bias.len(), out_features, "Linear: bias shape");
        let packed = PackedF32::pack(&weight, out_features, in_features);
        Linear { bias, packed }
    }

    /// The weights, `out_features × in_features` row-major (unpacked on each call).
    pub fn weight(&self) -> Vec<f32> {
        self.packed.unpack()
    }
}

impl LinearOp for Linear {
    const MIN_STEP_WORK_PER_THREAD: usize = 32 * 1024;
    const QUANTIZES_H: bool = false;
    const MIN_GEMM_WORK_PER_THREAD: usize = 256 * 1024;
    // Measured on a 2-core Zen 4 at batch 1: 8 to 15% faster from hidden 32 (82K).
    const MIN_ALONGSIDE_PROJECTION_WORK: usize = 64 * 1024;

    fn in_features(&self) -> usize {
        self.packed.cols()
    }

    fn out_features(&self) -> usize {
        self.packed.rows()
    }

    fn weight_bytes(&self) -> usize {
        self.in_features() * self.out_features() * size_of::<f32>()
    }

    fn forward_with(
        &self,
        exec: Execution,
        pool: &mut Pool,
        x: &[f32],
        rows: usize,
        y: &mut [f32],
        _scratch: &mut LinearScratch,
    ) {
        let (cols, out) = (self.in_features(), self.out_features());
        let work = rows * cols * out;
        let threads = exec
            .threads
            .min(work / Self::MIN_GEMM_WORK_PER_THREAD)
            .max(1);
        kernels::par_rows(
            pool,
            threads,
            rows,
            (y, out),
            (&mut [], 0),
            &|part, y_part, _: &mut [f32]| {
                let x_part = &x[part.start * cols..part.end * cols];
                let y_rows = OutputRows::new(y_part, out);
                kernels::gemm_f32(
                    exec.kernel,
                    x_part,
                    part.len(),
                    &self.packed,
                    &self.bias,
                    0..out,
                    y_rows,
                );
            },
        );
    }

    fn prepare_sequence(
        &self,
        _exec: Execution,
        _pool: &mut Pool,
        _x: &[f32],
        _scratch: &mut LinearScratch,
    ) {
    }

    fn project_units(
        &self,
        cell: Cell,
        kernel: Kernel,
        x: &[f32],
        _prepared: &LinearScratch,
        _first_row: usize,
        units: Range<usize>,
        out: &mut [f32],
    ) {
        let rows = x.len() / self.in_features();
        let (n, gates) = (units.len(), cell.gates());
        let hidden = self.out_features() / gates;
        kernels::for_each_gate(gates, hidden, &units, |r, offset| {
            let part = &mut out[offset..];
            let part_rows = OutputRows::new(part, gates * n);
            kernels::gemm_f32(kernel, x, rows, &self.packed, &self.bias, r, part_rows);
        });
    }

    /// The projection with the vectorised f32 GEMV into `scratch.gates`, then the cell; `ahead`
    /// in the same pass as the product where [`kernels::gates_f32_with_ahead`] fuses them (one
    /// batch row on AVX-512), else on its own after the cell.
    fn step_units(
        &self,
        cell: Cell,
        kernel: Kernel,
        (h, ih): (&[f32], &[f32]),
        state: &mut UnitState<'_>,
        scratch: &mut StepScratch,
        ahead: Option<StepAhead<'_, Self>>,
    ) {
        let (units, batch) = (state.units(), state.batch());
        let (n, hidden, g) = (units.len(), self.in_features(), cell.gates());
        let h_rows = state.rows_of(h, hidden);
        scratch.gates.resize(g * batch * n, 0.0);
        let (row_bytes, backwards) = (4 * hidden, scratch.backwards);
        let mut ahead = ahead.map(|a| F32Ahead {
            w: &a.w_ih.packed,
            bias: &a.w_ih.bias,
            x: a.x,
            gate: a.gate,
            out: a.out,
        });
        let product = (h_rows, &self.packed, &self.bias[..]);
        let fused = batch == 1
            && ahead.as_mut().is_some_and(|ahead| {
                let gates_out = &mut scratch.gates[..];
                kernels::gates_f32_with_ahead(
                    kernel,
                    product,
                    (g, units.clone()),
                    gates_out,
                    ahead,
                    backwards,
                )
            });
        if !fused {
            kernels::for_each_gate_piece(g, hidden, &units, row_bytes, backwards, |rows, at| {
                let out_rows = OutputRows::new(&mut scratch.gates[at..], g * n);
                kernels::gemm_f32(
                    kernel,
                    h_rows,
                    batch,
                    &self.packed,
                    &self.bias,
                    rows,
                    out_rows,
                );
            });
        }
        let (hh, ih) = (&scratch.gates[..g * batch * n], &ih[..g * batch * n]);
        match cell {
            Cell::Lstm => kernels::lstm_cells(kernel, hh, ih, state),
            Cell::Gru => kernels::gru_cells(kernel, hh, ih, h_rows, state),
        }
        if let Some(ahead) = ahead.as_mut().filter(|_| !fused) {
            ahead.project(kernel, g, &units);
        }
    }

    /// A step with one batch row on AVX-512, its units on whole panels and `W_hh` at most
    /// 1 MiB for an LSTM (dimension 256), 600 KiB for a GRU (dimension 224)
    /// ([`kernels::gates_f32_with_ahead`]).
    fn fuses_ahead(&self, cell: Cell, kernel: Kernel, batch: usize) -> bool {
        kernel.vectors() == Kernel::Avx512Vnni
            && batch == 1
            && self.in_features().is_multiple_of(PANEL)
            && self.weight_bytes() <= fused_ahead_max_weights(cell)
    }
}
