//! The multi-layer recurrent model (`nn.LSTM` or `nn.GRU`, one direction or two), generic
//! over its linear maps, with PyTorch's CPU evaluation order: per layer and direction one
//! input projection over the whole sequence, then one recurrent projection per time step
//! (the reverse direction from the last step to the first); layer k + 1 reads layer k's
//! outputs, both directions' side by side.

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use ndarray::{Array3, ArrayView3};

use super::dims::ModelDims;
use super::linear::{LinearOp, LinearScratch, StepAhead};
use super::timed_choice::TimedChoices;
use crate::error::Result;
use crate::io::Cell;
use crate::io::{ensure_finite, ensure_shape};
use crate::kernels::{
    self, AheadRows, Execution, Kernel, LayerBuffers, LayerShape, LineBuf, Pool, Projection,
    ProjectionPlan, RunOptions, Split, StepScratch, UnitState,
};

/// One direction of one layer: `W_ih x + b_ih` and `W_hh h + b_hh`, gate rows in PyTorch's
/// order (LSTM: i, f, g, o; GRU: r, z, n).
#[derive(Debug, Clone, PartialEq)]
pub struct RecurrentLayer<L> {
    /// Input projection, `gates · H × I` (or `× directions · H` above the first layer).
    pub ih: L,
    /// Recurrent projection, `gates · H × H`.
    pub hh: L,
}

/// A stack of recurrent layers with an optional Linear head on every output.
#[derive(Debug, Clone, PartialEq)]
pub struct Recurrent<L> {
    layers: Vec<RecurrentLayer<L>>,
    head: Option<L>,
    dims: ModelDims,
    execution: Execution,
}

/// The initial (or final) state: `h` and `c`, each `[num_layers × directions, batch,
/// hidden_size]` (row `layer · directions + direction`, as PyTorch lays out `h_0`); a GRU has
/// no cell state and its `c` is empty (`[rows, batch, 0]`).
#[derive(Debug, Clone, PartialEq)]
pub struct RecurrentState {
    /// Hidden state.
    pub h: Array3<f32>,
    /// Cell state (LSTM only).
    pub c: Array3<f32>,
}

impl RecurrentState {
    /// The all-zero state of a model of `dims` for `batch` sequences.
    pub fn zeros(dims: ModelDims, batch: usize) -> Self {
        let [h, c] = RecurrentState::shapes(dims, batch);
        RecurrentState {
            h: Array3::zeros(h),
            c: Array3::zeros(c),
        }
    }

    /// The shapes of `h` and `c` for a model of `dims` and `batch` sequences.
    pub fn shapes(dims: ModelDims, batch: usize) -> [[usize; 3]; 2] {
        let h = [dims.state_rows(), batch, dims.hidden_size];
        let c_width = if dims.cell.has_cell_state() {
            dims.hidden_size
        } else {
            0
        };
        [h, [dims.state_rows(), batch, c_width]]
    }
}

/// What a forward pass returns, shaped like PyTorch's `(output, (h_n, c_n))` (a GRU's
/// `(output, h_n)`, with `c_n` empty).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecurrentOutput {
    /// Last layer's hidden state at every step, `[T, B, directions · H]` (the forward
    /// direction's first).
    pub lstm_output: Array3<f32>,
    /// Hidden state after each layer's and direction's last step, `[L · D, B, H]`.
    pub h_n: Array3<f32>,
    /// Cell state likewise (LSTM; `[L · D, B, 0]` for a GRU).
    pub c_n: Array3<f32>,
    /// The Linear head applied to every output, `[T, B, head]`, when the model has a head.
    pub head_output: Option<Array3<f32>>,
}

impl RecurrentOutput {
    /// The model's final output: the head's when there is one, else the LSTM's.
    pub fn output(&self) -> &Array3<f32> {
        self.head_output.as_ref().unwrap_or(&self.lstm_output)
    }
}

/// Buffers and worker threads reused across forward passes; they are created on first use and
/// then left alone, so a forward pass with the same shapes allocates nothing. A clone starts
/// without threads of its own.
#[derive(Debug, Default, Clone)]
pub struct Workspace {
    input_projection: LineBuf<f32>,
    sequence_a: LineBuf<f32>,
    sequence_b: LineBuf<f32>,
    h: LineBuf<f32>,
    c: LineBuf<f32>,
    scratch: LinearScratch,
    step_scratch: Vec<StepScratch>,
    pool: Pool,
    /// How each layer too small to share its steps computes its input projection (see
    /// [`Recurrent::run_layer_on_one_thread`]), for every model run with this workspace.
    projection_choices: TimedChoices,
    /// A bidirectional layer's buffers, one set per direction (they may run at once).
    directions: [DirectionBuffers; 2],
}

/// The most bytes of `W_hh` both directions of a layer may have for the two to run at once,
/// one on each thread: beyond it the two no longer stay in the caches side by side, and one
/// direction after the other with both threads on each is faster (measured on a 2-core Zen 4,
/// FP32 at dimension 1024, 2 × 16 MB: 9.8 ms at once against 3.8 ms for one direction).
const CONCURRENT_DIRECTIONS_MAX_BYTES: usize = 16 << 20;

/// What one direction of a bidirectional layer runs with, on whichever thread takes it.
#[derive(Debug, Default, Clone)]
struct DirectionBuffers {
    input_projection: LineBuf<f32>,
    h: LineBuf<f32>,
    c: LineBuf<f32>,
    /// `h` of every step, `[T, B, H]`.
    out: LineBuf<f32>,
    scratch: LinearScratch,
    step_scratch: StepScratch,
    /// Never given threads: a direction runs on one.
    pool: Pool,
}

fn resize(buffer: &mut LineBuf<f32>, len: usize) {
    if buffer.len() != len {
        buffer.resize(len, 0.0);
    }
}

fn reuse_array(array: &mut Array3<f32>, shape: [usize; 3]) {
    if array.dim() != (shape[0], shape[1], shape[2]) {
        *array = Array3::zeros(shape);
    }
}

impl<L: LinearOp> Recurrent<L> {
    /// Assembles a model from its layers; shapes are checked by the caller that built them.
    pub(crate) fn from_parts(
        layers: Vec<RecurrentLayer<L>>,
        head: Option<L>,
        dims: ModelDims,
    ) -> Self {
        debug_assert_eq!(layers.len(), dims.num_layers * dims.directions());
        Recurrent {
            layers,
            head,
            dims,
            execution: Execution::default(),
        }
    }

    /// Chooses the kernel and the most threads a forward pass may use; fails, leaving the model
    /// as it was, when the CPU lacks the requested kernel.
    pub fn set_run_options(&mut self, options: RunOptions) -> Result<()> {
        self.execution = options.resolve()?;
        Ok(())
    }

    /// This model with [`Recurrent::set_run_options`] applied.
    pub fn with_run_options(mut self, options: RunOptions) -> Result<Self> {
        self.set_run_options(options)?;
        Ok(self)
    }

    /// The kernel and thread limit in use (default: the fastest kernel, one thread per core).
    pub fn execution(&self) -> Execution {
        self.execution
    }

    /// The name of the kernel in use, for reports (`scalar`, `avx2`, `avx512-vnni`, `avx512-amx`).
    pub fn kernel_name(&self) -> &'static str {
        self.execution.kernel.name()
    }

    /// The model's dimensions.
    pub fn dims(&self) -> ModelDims {
        self.dims
    }

    /// The layers, first to last, each as its directions (forward, then reverse): layer `k`'s
    /// direction `d` is at `k · directions + d`.
    pub fn layers(&self) -> &[RecurrentLayer<L>] {
        &self.layers
    }

    /// The recurrent cell.
    pub fn cell(&self) -> Cell {
        self.dims.cell
    }

    /// The Linear head, if any.
    pub fn head(&self) -> Option<&L> {
        self.head.as_ref()
    }

    /// Builds a new model of the same shape whose every linear map is `f` of this one's.
    pub fn map_linear<M: LinearOp>(&self, mut f: impl FnMut(&L) -> M) -> Recurrent<M> {
        Recurrent {
            layers: self
                .layers
                .iter()
                .map(|layer| RecurrentLayer {
                    ih: f(&layer.ih),
                    hh: f(&layer.hh),
                })
                .collect(),
            head: self.head.as_ref().map(f),
            dims: self.dims,
            execution: self.execution,
        }
    }

    /// Runs the model on `input` `[T, B, input_size]` from `state` (zeros when `None`).
    pub fn forward(
        &self,
        input: ArrayView3<f32>,
        state: Option<&RecurrentState>,
    ) -> Result<RecurrentOutput> {
        let mut out = RecurrentOutput::default();
        self.forward_into(input, state, &mut Workspace::default(), &mut out)?;
        Ok(out)
    }

    /// Checks that `input` and `state` fit this model and hold only finite values.
    pub fn validate_input(
        &self,
        input: ArrayView3<f32>,
        state: Option<&RecurrentState>,
    ) -> Result<()> {
        self.validate_input_on(&mut Pool::default(), 1, input, state)
    }

    /// [`Recurrent::validate_input`], checking a large input's values on up to `threads`
    /// threads of `pool`.
    fn validate_input_on(
        &self,
        pool: &mut Pool,
        threads: usize,
        input: ArrayView3<f32>,
        state: Option<&RecurrentState>,
    ) -> Result<()> {
        let (t, b, i) = input.dim();
        let (d, kernel) = (self.dims, self.execution.kernel);
        if t == 0 || b == 0 {
            return Err(crate::DynqError::ShapeMismatch {
                what: "input (sequence length and batch must be at least 1)".into(),
                got: vec![t, b, i],
                expected: vec![t.max(1), b.max(1), d.input_size],
            });
        }
        ensure_shape(
            "input [seq_len, batch, input_size]",
            &[t, b, i],
            &[t, b, d.input_size],
        )?;
        match input.as_slice() {
            Some(values) => ensure_finite_on(pool, (threads, kernel), "input", values, i)?,
            None => ensure_finite_view(kernel, "input", input)?,
        }
        if let Some(state) = state {
            let [h_shape, c_shape] = RecurrentState::shapes(d, b);
            let (h_what, c_what) = match (d.bidirectional, d.cell.has_cell_state()) {
                (false, true) => (
                    "h0 [num_layers, batch, hidden_size]",
                    "c0 [num_layers, batch, hidden_size]",
                ),
                (true, true) => (
                    "h0 [num_layers*2, batch, hidden_size]",
                    "c0 [num_layers*2, batch, hidden_size]",
                ),
                (false, false) => (
                    "h0 [num_layers, batch, hidden_size]",
                    "c0 (a GRU has no cell state: [num_layers, batch, 0])",
                ),
                (true, false) => (
                    "h0 [num_layers*2, batch, hidden_size]",
                    "c0 (a GRU has no cell state: [num_layers*2, batch, 0])",
                ),
            };
            ensure_shape(h_what, state.h.shape(), &h_shape)?;
            ensure_shape(c_what, state.c.shape(), &c_shape)?;
            ensure_finite_view(kernel, "h0", state.h.view())?;
            ensure_finite_view(kernel, "c0", state.c.view())?;
        }
        Ok(())
    }

    /// Like [`Recurrent::forward`], reusing `workspace` and `out`: once both have the right sizes a
    /// call allocates nothing.
    pub fn forward_into(
        &self,
        input: ArrayView3<f32>,
        state: Option<&RecurrentState>,
        workspace: &mut Workspace,
        out: &mut RecurrentOutput,
    ) -> Result<()> {
        let (t, b, i) = input.dim();
        let check_threads = kernels::pass_threads(self.execution.threads, t * b * i);
        self.validate_input_on(&mut workspace.pool, check_threads, input, state)?;
        let dims = self.dims;
        let (h_size, out_size) = (dims.hidden_size, dims.output_size());
        let rows = t * b;
        let [h_shape, c_shape] = RecurrentState::shapes(dims, b);

        let ws = workspace;
        let exec = self.execution;
        resize(&mut ws.sequence_a, rows * out_size);
        resize(&mut ws.sequence_b, rows * out_size);
        reuse_array(&mut out.lstm_output, [t, b, out_size]);
        reuse_array(&mut out.h_n, h_shape);
        reuse_array(&mut out.c_n, c_shape);

        let contiguous_input;
        let input_slice = match input.as_slice() {
            Some(slice) => slice,
            None => {
                contiguous_input = input.as_standard_layout().into_owned();
                contiguous_input.as_slice().expect("standard layout")
            }
        };

        let shape = LayerShape {
            steps: t,
            batch: b,
            hidden: h_size,
            gates: dims.cell.gates(),
            reverse: false,
        };
        for k in 0..dims.num_layers {
            // Layer k reads sequence_a (or the input) and writes sequence_b.
            let previous = std::mem::take(&mut ws.sequence_a);
            let layer_input: &[f32] = if k == 0 { input_slice } else { &previous };
            if dims.bidirectional {
                self.run_bidirectional_layer(k, layer_input, state, shape, ws);
                for (d, buffers) in ws.directions.iter().enumerate() {
                    // The forward direction ends at the last step, the reverse one at the first.
                    let last = if d == 0 { t - 1 } else { 0 };
                    write_state(&mut out.h_n, &buffers.out[last * b * h_size..], 2 * k + d);
                    if dims.cell.has_cell_state() {
                        write_state(&mut out.c_n, &buffers.c, 2 * k + d);
                    }
                }
            } else {
                self.run_layer(k, layer_input, state, shape, ws);
                write_state(&mut out.h_n, &ws.sequence_b[(t - 1) * b * h_size..], k);
                if dims.cell.has_cell_state() {
                    write_state(&mut out.c_n, &ws.c, k);
                }
            }
            ws.sequence_a = previous;
            std::mem::swap(&mut ws.sequence_a, &mut ws.sequence_b);
        }

        // After the last swap the final layer's output is in sequence_a.
        let output = out
            .lstm_output
            .as_slice_mut()
            .expect("owned arrays are contiguous");
        let copy_threads = kernels::pass_threads(exec.threads, output.len());
        let sequence = &ws.sequence_a;
        let copy = |part: Range<usize>, rows: &mut [f32], _: &mut [f32]| {
            rows.copy_from_slice(&sequence[part.start * out_size..part.end * out_size]);
        };
        let (pool, output) = (&mut ws.pool, (output, out_size));
        kernels::par_rows(pool, copy_threads, rows, output, (&mut [], 0), &copy);

        match &self.head {
            Some(head) => {
                let shape = [t, b, head.out_features()];
                let head_out = out.head_output.get_or_insert_with(|| Array3::zeros(shape));
                reuse_array(head_out, shape);
                let y = head_out
                    .as_slice_mut()
                    .expect("owned arrays are contiguous");
                head.forward_with(exec, &mut ws.pool, &ws.sequence_a, rows, y, &mut ws.scratch);
            }
            None => out.head_output = None,
        }
        Ok(())
    }

    /// Runs both directions of bidirectional layer `k` on `layer_input` into `ws.directions`
    /// (each direction's `h` of every step and final `c`) and, side by side, `ws.sequence_b`.
    fn run_bidirectional_layer(
        &self,
        k: usize,
        layer_input: &[f32],
        state: Option<&RecurrentState>,
        shape: LayerShape,
        ws: &mut Workspace,
    ) {
        let (dims, exec) = (self.dims, self.execution);
        let LayerShape {
            steps,
            batch,
            hidden,
            ..
        } = shape;
        let rows = steps * batch;
        let layers = &self.layers[2 * k..2 * k + 2];
        for (d, buffers) in ws.directions.iter_mut().enumerate() {
            let projection = rows * dims.cell.gates() * hidden;
            buffers.load_state(state, 2 * k + d, projection, batch * hidden, rows * hidden);
        }
        if exec.threads >= 2 && 2 * layers[0].hh.weight_bytes() > CONCURRENT_DIRECTIONS_MAX_BYTES {
            // Too big for both directions' weights to stay in the caches at once: one
            // direction after the other, each step shared between the threads.
            for d in 0..2 {
                let shape = LayerShape {
                    reverse: d == 1,
                    ..shape
                };
                self.run_layer(2 * k + d, layer_input, state, shape, ws);
                let buffers = &mut ws.directions[d];
                buffers.out.copy_from_slice(&ws.sequence_b[..rows * hidden]);
                buffers.c.copy_from_slice(&ws.c);
            }
        } else {
            let both_at_once = exec.threads >= 2;
            run_directions(
                both_at_once,
                &mut ws.pool,
                &mut ws.directions,
                |d, buffers| {
                    let shape = LayerShape {
                        reverse: d == 1,
                        ..shape
                    };
                    buffers.run(&layers[d], dims.cell, exec.kernel, layer_input, shape);
                },
            );
        }
        resize(&mut ws.sequence_b, rows * dims.output_size());
        interleave_directions(&mut ws.sequence_b, &ws.directions, hidden);
    }

    /// Runs `self.layers[k]` (one direction of a layer) on `layer_input` into
    /// `ws.sequence_b` (and its final cell state into `ws.c`) from row `k` of `state`, sharing
    /// each step between threads when that pays.
    fn run_layer(
        &self,
        k: usize,
        layer_input: &[f32],
        state: Option<&RecurrentState>,
        shape: LayerShape,
        ws: &mut Workspace,
    ) {
        let (layer, cell, exec) = (&self.layers[k], self.dims.cell, self.execution);
        let LayerShape {
            steps,
            batch,
            hidden,
            ..
        } = shape;
        let rows = steps * batch;
        let gates = cell.gates() * hidden;
        let work = gates * hidden * batch;
        let weight_bytes = layer.ih.weight_bytes();
        let layer_bytes = weight_bytes + layer.hh.weight_bytes();
        let l3 = kernels::CacheSizes::plan_l3();
        let row_threads = kernels::row_threads(exec.threads, (batch, hidden), (layer_bytes, l3));
        let threads = row_threads.unwrap_or_else(|| {
            kernels::useful_threads(exec.threads, work, L::MIN_STEP_WORK_PER_THREAD, hidden)
        });
        // Each step may project its own input rows into its thread's scratch (onto the
        // thread's own gate rows split by units, onto all of them split by rows): the whole
        // sequence's projection is then never held.
        let by_rows = row_threads.is_some();
        let w_ih_per_thread = if by_rows {
            weight_bytes
        } else {
            weight_bytes / threads
        };
        // (Split by rows, `threads` is at least 2.)
        let per_step =
            threads > 1 && kernels::projects_per_step(batch, w_ih_per_thread, layer_bytes, l3);
        // Split by rows without each step projecting its rows, every row is projected first.
        let projected_first = by_rows && !per_step;
        resize(
            &mut ws.input_projection,
            if per_step { 0 } else { rows * gates },
        );
        resize(&mut ws.sequence_b, rows * hidden);
        resize(&mut ws.h, batch * hidden);
        resize(&mut ws.c, batch * hidden);
        load_state(&mut ws.h, &mut ws.c, state, k);
        if threads == 1 {
            self.run_layer_on_one_thread(k, layer_input, shape, ws);
            return;
        }
        if projected_first {
            // The input projection as one product over the whole sequence, which may still
            // use threads (split by units, each block projects its own gate rows instead).
            layer.ih.forward_with(
                exec,
                &mut ws.pool,
                layer_input,
                rows,
                &mut ws.input_projection,
                &mut ws.scratch,
            );
        }
        let plan = if per_step {
            ProjectionPlan::PerStep
        } else if layer.hh.fuses_ahead(cell, exec.kernel, batch) {
            ProjectionPlan::Ahead
        } else {
            ProjectionPlan::Upfront
        };
        let input_size = layer.ih.in_features();
        // Projecting ahead, each thread makes its own copy of a sequence short enough for one
        // thread to make ready (see `Projection::own_input`).
        let own_input = !by_rows
            && plan == ProjectionPlan::Ahead
            && kernels::pass_threads(exec.threads, rows * input_size) == 1;
        // Unless projected above or by each thread, the sequence is made ready for the
        // blocks' and the steps' projections.
        if !projected_first && !own_input {
            layer
                .ih
                .prepare_sequence(exec, &mut ws.pool, layer_input, &mut ws.scratch);
        }
        let prepared = &ws.scratch;
        let step = |h: &[f32],
                    ih: &[f32],
                    state: &mut UnitState<'_>,
                    scratch: &mut _,
                    ahead: Option<AheadRows<'_>>| {
            let ahead = ahead.map(
                |AheadRows {
                     rows,
                     gate,
                     out,
                     own,
                 }| StepAhead {
                    w_ih: &layer.ih,
                    x: &layer_input[rows.start * input_size..rows.end * input_size],
                    prepared: own.unwrap_or(prepared),
                    first_row: rows.start,
                    gate,
                    out,
                },
            );
            let h_ih = (h, ih);
            layer
                .hh
                .step_units(cell, exec.kernel, h_ih, state, scratch, ahead);
        };
        // A step that quantizes `h` gets its range from what each block found of its part.
        let h_ranges = L::QUANTIZES_H.then_some(exec.kernel);
        let buffers = LayerBuffers {
            shape,
            h0: &ws.h,
            c: &mut ws.c,
            out: &mut ws.sequence_b,
        };
        if projected_first {
            kernels::run_layer(
                threads,
                &mut ws.pool,
                &mut ws.step_scratch,
                (Split::Rows(None), &step),
                &mut ws.input_projection,
                buffers,
                h_ranges,
            );
            return;
        }
        let project = |units, input_rows: Range<usize>, ih: &mut [f32], own: Option<&_>| {
            let x = &layer_input[input_rows.start * input_size..input_rows.end * input_size];
            let (first, prepared) = (input_rows.start, own.unwrap_or(prepared));
            layer
                .ih
                .project_units(cell, exec.kernel, x, prepared, first, units, ih);
        };
        let prepare = |own: &mut LinearScratch| {
            layer
                .ih
                .prepare_sequence_here(exec.kernel, layer_input, own);
        };
        let split = if by_rows {
            Split::Rows(Some(&project))
        } else {
            Split::Units(Projection {
                project: &project,
                plan,
                own_input: own_input.then(|| (&prepare as _, layer.ih.prepared_bytes(rows))),
            })
        };
        kernels::run_layer(
            threads,
            &mut ws.pool,
            &mut ws.step_scratch,
            (split, &step),
            &mut ws.input_projection,
            buffers,
            h_ranges,
        );
    }

    /// Runs `self.layers[k]` as [`Recurrent::run_layer`] does when its steps are too small to
    /// share between threads (no tasks, no atomics, one fused step at a time), with `ws`'s
    /// buffers already sized and loaded. Its input projection is one product over the whole
    /// sequence first, or, when a second thread may help, computed by that thread alongside
    /// the steps (see [`kernels::run_layer_projecting_alongside`]): whichever has been faster
    /// lately (see [`TimedChoices`]), as that depends on how quickly the cores pass data
    /// between them. Both give the same values, bit for bit. The alongside way is way 1, which
    /// runs first: it starts the worker and sizes every buffer the other way uses too, so a
    /// forward pass allocates nothing once one has run.
    fn run_layer_on_one_thread(
        &self,
        k: usize,
        layer_input: &[f32],
        shape: LayerShape,
        ws: &mut Workspace,
    ) {
        let (layer, cell, exec) = (&self.layers[k], self.dims.cell, self.execution);
        let LayerShape {
            steps,
            batch,
            hidden,
            ..
        } = shape;
        let (rows, input_size) = (steps * batch, layer.ih.in_features());
        let projection_work = rows * input_size * cell.gates() * hidden;
        let work = (projection_work, L::MIN_ALONGSIDE_PROJECTION_WORK);
        let choice = kernels::projects_alongside(exec.threads, steps, work).then(|| {
            let key = (std::ptr::from_ref(layer).addr(), rows);
            ws.projection_choices.for_key(key)
        });
        let alongside = choice.as_ref().is_some_and(|c| c.choose() == 1);
        let timed = choice.map(|choice| (choice, Instant::now()));
        if ws.step_scratch.is_empty() {
            ws.step_scratch.push(StepScratch::default());
        }
        let buffers = LayerBuffers {
            shape,
            h0: &ws.h,
            c: &mut ws.c,
            out: &mut ws.sequence_b,
        };
        let (pool, scratch) = (&mut ws.pool, &mut ws.scratch);
        // Whether the run went as such runs usually do (a second thread asleep may miss it).
        let warm = if alongside {
            layer.ih.prepare_sequence(exec, pool, layer_input, scratch);
            let prepared = &*scratch;
            let project = |input_rows: Range<usize>, ih: &mut [f32]| {
                let x = &layer_input[input_rows.start * input_size..input_rows.end * input_size];
                let first = input_rows.start;
                layer
                    .ih
                    .project_units(cell, exec.kernel, x, prepared, first, 0..hidden, ih);
            };
            let step = |h: &[f32], ih: &[f32], state: &mut UnitState<'_>, scratch: &mut _| {
                layer
                    .hh
                    .step_units(cell, exec.kernel, (h, ih), state, scratch, None);
            };
            kernels::run_layer_projecting_alongside(
                pool,
                &mut ws.step_scratch[0],
                (&project, step),
                &mut ws.input_projection,
                buffers,
            )
        } else {
            let ih = &mut ws.input_projection;
            layer
                .ih
                .forward_with(exec, pool, layer_input, rows, ih, scratch);
            layer
                .hh
                .run_recurrence(cell, exec.kernel, ih, buffers, &mut ws.step_scratch[0]);
            true
        };
        if let Some((choice, started)) = timed {
            let ns = started.elapsed().as_nanos() as f64;
            choice.record(usize::from(alongside), ns, warm);
        }
    }
}

impl DirectionBuffers {
    /// Sizes the buffers and loads the initial state (row `row` of `state`, else zeros).
    fn load_state(
        &mut self,
        state: Option<&RecurrentState>,
        row: usize,
        projection_len: usize,
        state_len: usize,
        out_len: usize,
    ) {
        resize(&mut self.input_projection, projection_len);
        resize(&mut self.h, state_len);
        resize(&mut self.c, state_len);
        resize(&mut self.out, out_len);
        load_state(&mut self.h, &mut self.c, state, row);
    }

    /// Runs one direction of a layer on the calling thread: its input projection over the
    /// whole sequence, then its recurrence in `shape`'s order into `self.out`.
    fn run<L: LinearOp>(
        &mut self,
        layer: &RecurrentLayer<L>,
        cell: Cell,
        kernel: kernels::Kernel,
        input: &[f32],
        shape: LayerShape,
    ) {
        let rows = shape.steps * shape.batch;
        let one_thread = Execution { kernel, threads: 1 };
        let projection = &mut self.input_projection;
        let (pool, scratch) = (&mut self.pool, &mut self.scratch);
        layer
            .ih
            .forward_with(one_thread, pool, input, rows, projection, scratch);
        let buffers = LayerBuffers {
            shape,
            h0: &self.h,
            c: &mut self.c,
            out: &mut self.out,
        };
        let ih = &self.input_projection;
        layer
            .hh
            .run_recurrence(cell, kernel, ih, buffers, &mut self.step_scratch);
    }
}

/// Runs `run(direction, buffers)` for both directions: on two threads of `pool` at once when
/// `at_once` (a thread that starts late finds its direction taken and returns), else in turn.
fn run_directions(
    at_once: bool,
    pool: &mut Pool,
    directions: &mut [DirectionBuffers; 2],
    run: impl Fn(usize, &mut DirectionBuffers) + Sync,
) {
    if !at_once {
        for (d, buffers) in directions.iter_mut().enumerate() {
            run(d, buffers);
        }
        return;
    }
    let [forward, reverse] = directions;
    let slots = [Mutex::new(forward), Mutex::new(reverse)];
    let next = AtomicUsize::new(0);
    pool.run(2, &|_| {
        loop {
            let d = next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = slots.get(d) else { break };
            let mut buffers = slot.lock().unwrap_or_else(|e| e.into_inner());
            run(d, &mut buffers);
        }
    });
}

/// Writes both directions' outputs (`[T·B, H]` each) side by side into `sequence`
/// (`[T·B, 2H]`, the forward direction first), as PyTorch concatenates them.
fn interleave_directions(sequence: &mut [f32], directions: &[DirectionBuffers; 2], hidden: usize) {
    let rows = directions[0].out.len() / hidden;
    let sequence = &mut sequence[..rows * 2 * hidden];
    for (row, out) in sequence.chunks_exact_mut(2 * hidden).enumerate() {
        let (forward, reverse) = out.split_at_mut(hidden);
        forward.copy_from_slice(&directions[0].out[row * hidden..][..hidden]);
        reverse.copy_from_slice(&directions[1].out[row * hidden..][..hidden]);
    }
}

/// Loads row `row` of `state` into `h` and `c` (`batch × hidden` each), or zeros without a
/// state; a GRU's empty `c` leaves `c` at zeros.
fn load_state(h: &mut [f32], c: &mut [f32], state: Option<&RecurrentState>, row: usize) {
    match state {
        Some(s) => {
            copy_state(h, &s.h, row);
            if s.c.shape()[2] == 0 {
                c.fill(0.0);
            } else {
                copy_state(c, &s.c, row);
            }
        }
        None => {
            h.fill(0.0);
            c.fill(0.0);
        }
    }
}

/// [`ensure_finite_with`] `kernel` for `values` (rows of `row_len`), its rows shared between up
/// to `threads` threads of `pool`; the first non-finite value is then found on the calling
/// thread ([`ensure_finite`]).
fn ensure_finite_on(
    pool: &mut Pool,
    (threads, kernel): (usize, Kernel),
    what: &str,
    values: &[f32],
    row_len: usize,
) -> Result<()> {
    let found = AtomicBool::new(false);
    let rows = values.len() / row_len.max(1);
    kernels::par_row_ranges(pool, threads, rows, &|part| {
        if !kernels::all_finite(kernel, &values[part.start * row_len..part.end * row_len]) {
            found.store(true, Ordering::Relaxed);
        }
    });
    if found.into_inner() {
        ensure_finite(what, values)
    } else {
        Ok(())
    }
}

/// [`ensure_finite`], its pass over every value run with `kernel` ([`kernels::all_finite`]):
/// the scalar search for the first non-finite value runs only when there is one.
fn ensure_finite_with(kernel: Kernel, what: &str, values: &[f32]) -> Result<()> {
    if kernels::all_finite(kernel, values) {
        Ok(())
    } else {
        ensure_finite(what, values)
    }
}

/// [`ensure_finite_with`] `kernel` for a state or input in any layout.
fn ensure_finite_view(kernel: Kernel, what: &str, view: ArrayView3<f32>) -> Result<()> {
    match view.as_slice() {
        Some(slice) => ensure_finite_with(kernel, what, slice),
        None => ensure_finite_with(kernel, what, &view.iter().copied().collect::<Vec<_>>()),
    }
}

/// Copies row `row` of a `[rows, batch, hidden]` state into `dst` (`batch × hidden`).
fn copy_state(dst: &mut [f32], src: &Array3<f32>, row: usize) {
    let part = src.index_axis(ndarray::Axis(0), row);
    match part.as_slice() {
        Some(part) => dst.copy_from_slice(&part[..dst.len()]),
        None => dst.iter_mut().zip(part.iter()).for_each(|(d, s)| *d = *s),
    }
}

/// Writes `src` (`batch × hidden`, or longer) into row `row` of a `[rows, batch, hidden]`
/// state.
fn write_state(dst: &mut Array3<f32>, src: &[f32], row: usize) {
    let mut part = dst.index_axis_mut(ndarray::Axis(0), row);
    let part = part.as_slice_mut().expect("owned arrays are contiguous");
    let n = part.len();
    part.copy_from_slice(&src[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{KernelChoice, RunOptions, with_l3};
    use crate::model::{random_inputs, random_model};

    /// A layer split by batch rows (7 panels of units on two threads, 33 rows) whose FP32
    /// `W_ih` (538 KB) outgrows L2: its steps project their own rows while its weights take at
    /// most half the L3, and the whole sequence is projected first otherwise. Both give the
    /// single thread's outputs, bit for bit.
    #[test]
    fn a_layer_split_by_rows_gives_the_same_results_projected_first_or_step_by_step() {
        let dims = ModelDims {
            input_size: 300,
            ..ModelDims::square(112)
        };
        let model = random_model(dims, 5).unwrap();
        let (input, state) = random_inputs(dims, 6, 33, 9);
        let run = |threads: usize, l3: u64| {
            let options = RunOptions {
                kernel: KernelChoice::Auto,
                threads,
            };
            let model = model.clone().with_run_options(options).unwrap();
            let (mut ws, mut out) = (Workspace::default(), RecurrentOutput::default());
            with_l3(l3, || {
                model.forward_into(input.view(), Some(&state), &mut ws, &mut out)
            })
            .unwrap();
            (out, ws.input_projection.len())
        };
        let (reference, _) = run(1, 32 << 20);
        let (step_by_step, held) = run(2, 32 << 20);
        assert_eq!(held, 0, "a 32 MB L3: each step projects its own rows");
        assert_eq!(step_by_step, reference);
        let (first, held) = run(2, 1 << 20);
        assert_eq!(
            held,
            6 * 33 * 4 * 112,
            "a 1 MB L3: the whole sequence first"
        );
        assert_eq!(first, reference);
    }
}
