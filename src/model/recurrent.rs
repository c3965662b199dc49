//! The multi-layer LSTM, generic over its linear maps, with PyTorch's CPU evaluation order:
//! per layer one input projection over the whole sequence, then one recurrent projection per
//! time step.

use ndarray::{Array3, ArrayView3};

use super::dims::ModelDims;
use super::linear::{LinearOp, LinearScratch};
use crate::error::Result;
use crate::io::{ensure_finite, ensure_shape};
use crate::kernels::{
    self, Execution, LayerBuffers, LayerShape, LineBuf, Pool, RunOptions, StepScratch, UnitState,
};

/// One LSTM layer: `W_ih x + b_ih` and `W_hh h + b_hh`, gate rows in order i, f, g, o.
#[derive(Debug, Clone, PartialEq)]
pub struct RecurrentLayer<L> {
    /// Input projection, `4H × I` (or `4H × H` above the first layer).
    pub ih: L,
    /// Recurrent projection, `4H × H`.
    pub hh: L,
}

/// A stack of LSTM layers with an optional Linear head on every output.
#[derive(Debug, Clone, PartialEq)]
pub struct Recurrent<L> {
    layers: Vec<RecurrentLayer<L>>,
    head: Option<L>,
    dims: ModelDims,
    execution: Execution,
}

/// The initial (or final) state: `h` and `c`, each `[num_layers, batch, hidden_size]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecurrentState {
    /// Hidden state.
    pub h: Array3<f32>,
    /// Cell state.
    pub c: Array3<f32>,
}

/// What a forward pass returns, shaped like PyTorch's `(output, (h_n, c_n))`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecurrentOutput {
    /// Last layer's hidden state at every step, `[T, B, H]`.
    pub lstm_output: Array3<f32>,
    /// Hidden state after the last step, `[L, B, H]`.
    pub h_n: Array3<f32>,
    /// Cell state after the last step, `[L, B, H]`.
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
        debug_assert_eq!(layers.len(), dims.num_layers);
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

    /// The name of the kernel in use, for reports (`scalar`, `avx2`, `avx512-vnni`).
    pub fn kernel_name(&self) -> &'static str {
        self.execution.kernel.name()
    }

    /// The model's dimensions.
    pub fn dims(&self) -> ModelDims {
        self.dims
    }

    /// The layers, first to last.
    pub fn layers(&self) -> &[RecurrentLayer<L>] {
        &self.layers
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
        let (t, b, i) = input.dim();
        let d = self.dims;
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
        ensure_finite_view("input", input)?;
        if let Some(state) = state {
            let expected = [d.num_layers, b, d.hidden_size];
            ensure_shape(
                "h0 [num_layers, batch, hidden_size]",
                state.h.shape(),
                &expected,
            )?;
            ensure_shape(
                "c0 [num_layers, batch, hidden_size]",
                state.c.shape(),
                &expected,
            )?;
            ensure_finite_view("h0", state.h.view())?;
            ensure_finite_view("c0", state.c.view())?;
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
        self.validate_input(input, state)?;
        let (t, b, _) = input.dim();
        let h_size = self.dims.hidden_size;
        let gates = 4 * h_size;
        let rows = t * b;
        let layers = self.dims.num_layers;

        let ws = workspace;
        let exec = self.execution;
        resize(&mut ws.input_projection, rows * gates);
        resize(&mut ws.sequence_a, rows * h_size);
        resize(&mut ws.sequence_b, rows * h_size);
        resize(&mut ws.h, b * h_size);
        resize(&mut ws.c, b * h_size);
        reuse_array(&mut out.lstm_output, [t, b, h_size]);
        reuse_array(&mut out.h_n, [layers, b, h_size]);
        reuse_array(&mut out.c_n, [layers, b, h_size]);

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
        };
        let work = gates * h_size * b;
        let threads =
            kernels::useful_threads(exec.threads, work, L::MIN_STEP_WORK_PER_THREAD, h_size);
        for (k, layer) in self.layers.iter().enumerate() {
            // Layer k reads sequence_a (or the input) and writes sequence_b.
            let layer_input: &[f32] = if k == 0 { input_slice } else { &ws.sequence_a };
            match state {
                Some(s) => {
                    copy_state(&mut ws.h, &s.h, k);
                    copy_state(&mut ws.c, &s.c, k);
                }
                None => {
                    ws.h.fill(0.0);
                    ws.c.fill(0.0);
                }
            }
            if threads == 1 {
                // Too small to share a step: no tasks, no atomics, one fused step at a time
                // (the input projection may still use threads: it is one big product).
                layer.ih.forward_with(
                    exec,
                    &mut ws.pool,
                    layer_input,
                    rows,
                    &mut ws.input_projection,
                    &mut ws.scratch,
                );
                if ws.step_scratch.is_empty() {
                    ws.step_scratch.push(StepScratch::default());
                }
                let buffers = LayerBuffers {
                    shape,
                    h0: &ws.h,
                    c: &mut ws.c,
                    out: &mut ws.sequence_b,
                };
                let ih = &ws.input_projection;
                layer
                    .hh
                    .run_recurrence(exec.kernel, ih, buffers, &mut ws.step_scratch[0]);
            } else {
                layer
                    .ih
                    .prepare_sequence(exec.kernel, layer_input, &mut ws.scratch);
                let prepared = &ws.scratch;
                let project = |units, ih: &mut [f32], scratch: &mut StepScratch| {
                    let x = layer_input;
                    layer
                        .ih
                        .project_units(exec.kernel, x, prepared, units, ih, scratch);
                };
                let step = |h: &[f32], ih: &[f32], state: &mut UnitState<'_>, scratch: &mut _| {
                    layer.hh.step_units(exec.kernel, h, ih, state, scratch);
                };
                kernels::run_layer(
                    threads,
                    &mut ws.pool,
                    &mut ws.step_scratch,
                    (&project, &step),
                    &mut ws.input_projection,
                    LayerBuffers {
                        shape,
                        h0: &ws.h,
                        c: &mut ws.c,
                        out: &mut ws.sequence_b,
                    },
                );
            }
            write_state(&mut out.h_n, &ws.sequence_b[(t - 1) * b * h_size..], k);
            write_state(&mut out.c_n, &ws.c, k);
            std::mem::swap(&mut ws.sequence_a, &mut ws.sequence_b);
        }

        // After the last swap the final layer's output is in sequence_a.
        out.lstm_output
            .as_slice_mut()
            .expect("owned arrays are contiguous")
            .copy_from_slice(&ws.sequence_a);

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
}

fn ensure_finite_view(what: &str, view: ArrayView3<f32>) -> Result<()> {
    match view.as_slice() {
        Some(slice) => ensure_finite(what, slice),
        None => ensure_finite(what, &view.iter().copied().collect::<Vec<_>>()),
    }
}

/// Copies layer `layer` of a `[layers, batch, hidden]` state into `dst` (`batch × hidden`).
fn copy_state(dst: &mut [f32], src: &Array3<f32>, layer: usize) {
    let part = src.index_axis(ndarray::Axis(0), layer);
    match part.as_slice() {
        Some(part) => dst.copy_from_slice(&part[..dst.len()]),
        None => dst.iter_mut().zip(part.iter()).for_each(|(d, s)| *d = *s),
    }
}

/// Writes `src` (`batch × hidden`, or longer) into layer `layer` of a `[layers, batch, hidden]`
/// state.
fn write_state(dst: &mut Array3<f32>, src: &[f32], layer: usize) {
    let mut part = dst.index_axis_mut(ndarray::Axis(0), layer);
    let part = part.as_slice_mut().expect("owned arrays are contiguous");
    let n = part.len();
    part.copy_from_slice(&src[..n]);
}
