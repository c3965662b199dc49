//! The int8 recurrent step as one kernel: quantize the previous hidden state, project it onto
//! the gate rows of some hidden units, dequantize, add the input projection and run the cell
//! (LSTM or GRU), composed from the kernels of [`super`] (and, for the LSTM, fused into one
//! pass on AVX-512).

use std::ops::Range;

#[cfg(target_arch = "x86_64")]
use super::avx512;
#[cfg(test)]
use super::coverage;
use super::pack::PANEL;
use super::recurrence::for_each_step;
use super::{
    ActivationParams, Engine, Kernel, LayerBuffers, OutputRows, PackedI8, StepScratch, UnitState,
    choose_activation_params, gemm_u8i8_dequantized, gru_cells, lstm_cells, min_max, quantize_u8,
};

/// The recurrent map of an int8 layer as [`lstm_units_u8i8`] and [`gru_units_u8i8`] read it:
/// `W_hh` (`gates · H × H`), its scales (one per tensor, or one per row) and `b_hh`.
#[derive(Debug, Clone, Copy)]
pub struct QuantizedRecurrent<'a> {
    /// The packed int8 weights, `gates · H × H`.
    pub weight: &'a PackedI8,
    /// One scale, or one per weight row.
    pub scales: &'a [f32],
    /// The f32 bias, one per weight row.
    pub bias: &'a [f32],
    /// The engine whose activation rules and rescaling the step follows.
    pub engine: Engine,
}

/// Part of a layer's input projection that an int8 step computes besides its own product: the
/// rows of one gate of the step's units, for a few later input rows (see
/// `ProjectionPlan::Ahead`). The values are those [`super::gemm_u8i8_dequantized`]
/// gives, bit for bit; on AVX-512 the step runs both products in one pass over their weights,
/// where the input projection's multiply-adds fill the issue slots the recurrent product,
/// waiting on its weights from L2, leaves idle.
pub struct AheadProjection<'a> {
    /// `W_ih` (`gates · H × in`) as the kernels read it.
    pub w: QuantizedRecurrent<'a>,
    /// The input rows to project, quantized (`rows × w.weight.padded_cols()`).
    pub input: &'a [u8],
    /// The parameters they were quantized with.
    pub params: ActivationParams,
    /// The gate whose rows to project.
    pub gate: usize,
    /// The rows' projection onto every gate of the step's units, `rows × gates × units`
    /// (`[row][gate][unit]`), of which the step fills gate `gate`.
    pub out: &'a mut [f32],
}

impl AheadProjection<'_> {
    /// Input rows to project.
    pub fn rows(&self) -> usize {
        self.input.len() / self.w.weight.padded_cols().max(1)
    }

    /// Checks the lengths against a step of `units` of a layer with `gates` gates of `hidden`
    /// units.
    ///
    /// # Panics
    /// If they do not match (a programming error), naming `caller`.
    fn check(&self, caller: &str, (gates, hidden): (usize, usize), units: &Range<usize>) {
        let rows = self.rows();
        assert!(
            self.w.weight.rows() == gates * hidden
                && units.end <= hidden
                && self.gate < gates
                && (self.w.scales.len() == 1 || self.w.scales.len() == self.w.weight.rows())
                && self.w.bias.len() == self.w.weight.rows()
                && self.input.len() == rows * self.w.weight.padded_cols()
                && self.out.len() == rows * gates * units.len(),
            "{caller}: ahead projection lengths"
        );
    }

    /// Projects the rows of gate `gate` of `units` (of a layer with `gates` gates) on its
    /// own, as the kernels without a fused step do.
    fn project(&mut self, kernel: Kernel, gates: usize, units: &Range<usize>) {
        let (rows, n) = (self.rows(), units.len());
        let hidden = self.w.weight.rows() / gates;
        let first = self.gate * hidden + units.start;
        let out = OutputRows::new(&mut self.out[self.gate * n..], gates * n);
        let dequantization = (self.w.scales, self.w.bias);
        let (x, w) = (self.input, self.w.weight);
        gemm_u8i8_dequantized(
            kernel,
            x,
            rows,
            self.params,
            w,
            dequantization,
            first..first + n,
            out,
        );
    }
}

/// Calls `f(rows, offset)` for the weight rows of `units` in the `gates` gates of a layer
/// with `hidden` units, where the results go to `[batch][gate][unit]` at `offset`: once for
/// all gates when `units` covers every hidden unit (the rows are then contiguous), else once
/// per gate.
pub fn for_each_gate(
    gates: usize,
    hidden: usize,
    units: &Range<usize>,
    mut f: impl FnMut(Range<usize>, usize),
) {
    if units.len() == hidden {
        f(0..gates * hidden, 0);
    } else {
        for gate in 0..gates {
            f(
                gate * hidden + units.start..gate * hidden + units.end,
                gate * units.len(),
            );
        }
    }
}

/// Weight bytes of one piece of [`for_each_gate_piece`].
const PIECE_BYTES: usize = 128 << 10;

/// Rows of one piece of [`for_each_gate_piece`] are a multiple of this: the 8 panels the
/// AVX-512 micro-kernels take at once (fewer would shorten their independent chains).
const PIECE_ROWS: usize = 8 * PANEL;

/// As [`for_each_gate`], but in pieces of about `PIECE_BYTES` (128 KiB) of weights (rows of
/// `row_bytes` each, a multiple of `PIECE_ROWS` (128) rows per piece) and, when `backwards`,
/// last piece first.
///
/// A recurrent step reads every weight of its units: sweeping them in the same direction
/// every step, weights larger than the cache that holds them miss on every line (the line
/// needed next is always the one evicted longest ago). Sweeping every other step backwards
/// starts each step on the weights the previous step read last, which are still cached. The
/// order changes no result: every row's sum is computed whole, the same way.
#[inline]
pub fn for_each_gate_piece(
    gates: usize,
    hidden: usize,
    units: &Range<usize>,
    row_bytes: usize,
    backwards: bool,
    mut f: impl FnMut(Range<usize>, usize),
) {
    let n = units.len();
    let piece = (PIECE_BYTES / row_bytes.max(1)).max(PIECE_ROWS) / PIECE_ROWS * PIECE_ROWS;
    // Every unit: the gates' rows are one contiguous range (as in for_each_gate), cut into
    // pieces that start on whole panels, whatever the hidden size.
    let (ranges, per_range) = if n == hidden {
        (1, gates * hidden)
    } else {
        (gates, n)
    };
    let per_range_pieces = per_range.div_ceil(piece);
    let total = ranges * per_range_pieces;
    for i in 0..total {
        let i = if backwards { total - 1 - i } else { i };
        let (range, p) = (i / per_range_pieces, i % per_range_pieces);
        let start = p * piece;
        let end = (start + piece).min(per_range);
        let first_row = range * hidden + units.start;
        f(first_row + start..first_row + end, range * n + start);
    }
}

/// One time step of an int8 LSTM layer for the hidden units of `state`: quantizes the
/// previous hidden state `h_prev` (`batch × H`) from its range as PyTorch quantizes a dynamic
/// linear map's input (kept in `scratch` and reused while `scratch.h_is_new` is false),
/// projects it onto the units' gate rows, dequantizes ([`super::gemm_u8i8_dequantized`]),
/// adds the units' part of the step's input projection `ih` (`batch × 4 × units`,
/// `[batch][gate][unit]`) and runs [`super::lstm_cell`], updating `state`.
///
/// With `ahead`, the step also fills its part of the input projection of later rows (see
/// [`AheadProjection`]).
///
/// The same operations in the same order on every kernel; AVX-512 fuses them so the gates
/// never make a round trip through memory.
///
/// # Panics
/// If the lengths do not match.
pub fn lstm_units_u8i8(
    kernel: Kernel,
    w: QuantizedRecurrent<'_>,
    (h_prev, ih): (&[f32], &[f32]),
    state: &mut UnitState<'_>,
    scratch: &mut StepScratch,
    mut ahead: Option<AheadProjection<'_>>,
) {
    #[cfg(test)]
    coverage::record(kernel, coverage::Function::LstmStep);
    check_step("lstm_units_u8i8", 4, w, h_prev, ih, state);
    if let Some(ahead) = &ahead {
        ahead.check("lstm_units_u8i8", (4, w.weight.cols()), &state.units());
    }
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni | Kernel::Avx512Amx => {
            let sums = state.batch() * 4 * state.units().len();
            scratch.accumulators.resize_for_overwrite(sums);
            // SAFETY: the kernel's vectors are AVX-512 VNNI only when their features were
            // detected (and its tiles only when AMX was).
            ahead =
                unsafe { avx512::lstm_units_u8i8(kernel, w, h_prev, ih, state, scratch, ahead) };
        }
        _ => {
            project_h(kernel, 4, w, h_prev, state, scratch);
            let values = state.batch() * 4 * state.units().len();
            lstm_cells(kernel, &scratch.gates[..values], &ih[..values], state);
        }
    }
    // What the kernel did not fuse into the step.
    if let Some(ahead) = &mut ahead {
        ahead.project(kernel, 4, &state.units());
    }
}

/// One time step of an int8 GRU layer for the hidden units of `state`, as
/// [`lstm_units_u8i8`] is for an LSTM: quantize `h_prev`, project it onto the units' r, z and
/// n rows, dequantize (`W_hh h + b_hh`), then [`super::gru_cell`] with their input projection `ih`
/// (`batch × 3 × units`) and their part of `h_prev`; `state`'s `c` is left alone. AVX-512
/// fuses it as it does the LSTM's; `ahead` is projected after the step on every kernel (fused,
/// its three rows measured 3% slower than projecting them up front at dim 256).
///
/// # Panics
/// If the lengths do not match.
pub fn gru_units_u8i8(
    kernel: Kernel,
    w: QuantizedRecurrent<'_>,
    (h_prev, ih): (&[f32], &[f32]),
    state: &mut UnitState<'_>,
    scratch: &mut StepScratch,
    mut ahead: Option<AheadProjection<'_>>,
) {
    #[cfg(test)]
    coverage::record(kernel, coverage::Function::GruStep);
    check_step("gru_units_u8i8", 3, w, h_prev, ih, state);
    let units = state.units();
    if let Some(ahead) = &ahead {
        ahead.check("gru_units_u8i8", (3, w.weight.cols()), &units);
    }
    #[cfg(target_arch = "x86_64")]
    if kernel.vectors() == Kernel::Avx512Vnni {
        scratch
            .accumulators
            .resize_for_overwrite(state.batch() * 3 * units.len());
        // SAFETY: as in lstm_units_u8i8.
        unsafe { avx512::gru_units_u8i8(kernel, w, h_prev, ih, state, scratch) };
    } else {
        gru_step_portable(kernel, w, (h_prev, ih), state, scratch);
    }
    #[cfg(not(target_arch = "x86_64"))]
    gru_step_portable(kernel, w, (h_prev, ih), state, scratch);
    if let Some(ahead) = &mut ahead {
        ahead.project(kernel, 3, &units);
    }
}

/// [`gru_units_u8i8`]'s step composed from the portable kernels.
fn gru_step_portable(
    kernel: Kernel,
    w: QuantizedRecurrent<'_>,
    (h_prev, ih): (&[f32], &[f32]),
    state: &mut UnitState<'_>,
    scratch: &mut StepScratch,
) {
    let hidden = w.weight.cols();
    project_h(kernel, 3, w, h_prev, state, scratch);
    let h_rows = state.rows_of(h_prev, hidden);
    let values = state.batch() * 3 * state.units().len();
    gru_cells(
        kernel,
        &scratch.gates[..values],
        &ih[..values],
        h_rows,
        state,
    );
}

/// Checks one step's lengths for a cell with `gates` gates.
fn check_step(
    caller: &str,
    gates: usize,
    w: QuantizedRecurrent<'_>,
    h_prev: &[f32],
    ih: &[f32],
    state: &UnitState<'_>,
) {
    let (hidden, rows) = (w.weight.cols(), w.weight.rows());
    let (units, batch) = (state.units(), state.batch());
    assert!(
        rows == gates * hidden
            && units.end <= hidden
            && (w.scales.len() == 1 || w.scales.len() == rows)
            && w.bias.len() == rows
            && h_prev.len().is_multiple_of(hidden.max(1))
            && state.rows().end * hidden <= h_prev.len()
            && ih.len() == batch * gates * units.len(),
        "{caller}: lengths"
    );
}

/// `W_hh h_prev + b_hh` for the gate rows of `state`'s units and its batch rows into
/// `scratch.gates` (`[batch][gate][unit]`): quantizes the state's rows of `h_prev` from the
/// whole one's range ([`quantize_h`]), multiplies them in i32 and dequantizes
/// ([`gemm_u8i8_dequantized`]).
fn project_h(
    kernel: Kernel,
    gates: usize,
    w: QuantizedRecurrent<'_>,
    h_prev: &[f32],
    state: &UnitState<'_>,
    scratch: &mut StepScratch,
) {
    let (units, batch) = (state.units(), state.batch());
    let (hidden, n) = (w.weight.cols(), units.len());
    let row_len = gates * n;
    quantize_h(kernel, w, h_prev, scratch, state.rows());
    let h_params = scratch.h_params;
    let row_bytes = w.weight.padded_cols();
    let q = state.rows_of(&scratch.quantized, row_bytes);
    let y = &mut scratch.gates;
    y.resize(batch * row_len, 0.0);
    let backwards = scratch.backwards;
    for_each_gate_piece(gates, hidden, &units, row_bytes, backwards, |r, offset| {
        let out = OutputRows::new(&mut y[offset..], row_len);
        let dequantization = (w.scales, w.bias);
        gemm_u8i8_dequantized(kernel, q, batch, h_params, w.weight, dequantization, r, out);
    });
}

/// The whole recurrence of an int8 LSTM layer on the calling thread: [`lstm_units_u8i8`]
/// for every unit, step after step, with `ih` the input projection (`steps × batch × 4H`) and
/// `layer` the state (`h0`, `c` and `out`). With AVX-512 a layer of at most 8 units and one
/// batch row keeps its state in registers throughout, with the same results.
///
/// # Panics
/// If the lengths do not match `layer.shape` and `w`.
pub fn lstm_layer_u8i8(
    kernel: Kernel,
    w: QuantizedRecurrent<'_>,
    ih: &[f32],
    layer: LayerBuffers<'_>,
    scratch: &mut StepScratch,
) {
    #[cfg(target_arch = "x86_64")]
    if kernel.vectors() == Kernel::Avx512Vnni
        && layer.shape.batch == 1
        && !layer.shape.reverse
        && layer.shape.hidden <= avx512::SMALL_HIDDEN
        && w.weight.cols() == layer.shape.hidden
    {
        layer.check("lstm_layer_u8i8", ih);
        #[cfg(test)]
        coverage::record(kernel, coverage::Function::RegisterLayer);
        let LayerBuffers { h0, c, out, .. } = layer;
        // SAFETY: an AVX-512 Kernel value exists only when its features were detected.
        unsafe { avx512::lstm_layer_small_u8i8(w, ih, h0, c, out) };
        return;
    }
    for_each_step(ih, layer, scratch, |h_prev, ih_t, state, scratch| {
        lstm_units_u8i8(kernel, w, (h_prev, ih_t), state, scratch, None);
    });
}

/// The whole recurrence of an int8 GRU layer on the calling thread: [`gru_units_u8i8`] for
/// every unit, step after step (see [`lstm_layer_u8i8`]).
///
/// # Panics
/// If the lengths do not match `layer.shape` and `w`.
pub fn gru_layer_u8i8(
    kernel: Kernel,
    w: QuantizedRecurrent<'_>,
    ih: &[f32],
    layer: LayerBuffers<'_>,
    scratch: &mut StepScratch,
) {
    for_each_step(ih, layer, scratch, |h_prev, ih_t, state, scratch| {
        gru_units_u8i8(kernel, w, (h_prev, ih_t), state, scratch, None);
    });
}

/// Quantizes batch rows `rows` of the hidden state `h_prev` (`batch × w.weight.cols()`) into
/// the same rows of `scratch.quantized` (`batch × w.weight.padded_cols()`) from the range of
/// the whole `h_prev` (`scratch.h_range` when given), as PyTorch's `w.engine` quantizes a
/// dynamic linear map's input, and keeps the parameters in `scratch.h_params`. While
/// `scratch.h_is_new` is false the parameters are kept, and rows already quantized are not
/// quantized again. Always inlined, so the fused kernels run it with their own instruction
/// set.
#[inline(always)]
pub(super) fn quantize_h(
    kernel: Kernel,
    w: QuantizedRecurrent<'_>,
    h_prev: &[f32],
    scratch: &mut StepScratch,
    rows: Range<usize>,
) {
    let weight = w.weight;
    let (cols, stride) = (weight.cols(), weight.padded_cols());
    let known_range = scratch.h_range.take();
    if scratch.h_is_new {
        let (lo, hi) = known_range.unwrap_or_else(|| min_max(kernel, h_prev));
        scratch.h_params = choose_activation_params(w.engine, lo, hi);
        scratch.quantized.resize(h_prev.len() / cols * stride, 0);
        scratch.quantized_rows = 0..0;
        scratch.h_is_new = false;
    }
    let held = &scratch.quantized_rows;
    if held.start <= rows.start && rows.end <= held.end {
        return;
    }
    let params = scratch.h_params;
    quantize_u8(
        kernel,
        &h_prev[rows.start * cols..rows.end * cols],
        cols,
        1.0 / params.scale,
        params.zero_point,
        &mut scratch.quantized[rows.start * stride..rows.end * stride],
        stride,
    );
    scratch.quantized_rows = rows;
}
