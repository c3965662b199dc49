//! The numeric kernels: u8 × i8 → i32 and f32 matrix products over packed weights, activation
//! min/max and quantization, the fused LSTM cell, and the threads that run the recurrence.
//! Safe wrappers here check shapes once and dispatch on a [`Kernel`] chosen at start-up.
//!
//! This is the only module allowed to contain `unsafe` code; SIMD code runs only behind a
//! [`Kernel`] value, which exists only for features the CPU was detected to have.

mod activation;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod dispatch;
mod linebuf;
mod pack;
mod pool;
mod recurrence;
mod scalar;

use std::ops::Range;

pub use activation::{ACTIVATION_QMAX, ActivationParams, choose_activation_params};
pub use dispatch::{Execution, Kernel, KernelChoice, RunOptions, default_threads};
pub use linebuf::LineBuf;
pub use pack::{PANEL, PackedF32, PackedI8};
pub use pool::Pool;
pub use recurrence::{
    LayerShape, StepScratch, UnitState, for_each_step, par_rows, run_layer, useful_threads,
};

/// `out[i][r − rows.start] = Σ_k (a[i][k] − a_zero_point) · w[r][k]` for `r` in `rows`, in
/// exact i32 arithmetic.
///
/// `a` is `m × w.padded_cols()` row-major (padding bytes are ignored), with values at most 128
/// (activations quantized with `reduce_range`: qmax is 127, and rounding `x / scale` and the
/// zero point separately can push the top value to 128); row `i` of the output starts at
/// `out[i · out_stride]`.
///
/// # Panics
/// If the slice lengths do not match the shapes.
#[allow(clippy::too_many_arguments)]
pub fn gemm_u8i8(
    kernel: Kernel,
    a: &[u8],
    m: usize,
    a_zero_point: i32,
    w: &PackedI8,
    rows: Range<usize>,
    out: &mut [i32],
    out_stride: usize,
) {
    assert_eq!(a.len(), m * w.padded_cols(), "gemm_u8i8: activation shape");
    assert!(
        rows.start <= rows.end && rows.end <= w.rows(),
        "gemm_u8i8: rows"
    );
    check_output(m, rows.len(), out.len(), out_stride);
    debug_assert!(
        a.iter().all(|&v| v <= 128),
        "gemm_u8i8: activations above 128"
    );
    match kernel {
        Kernel::Scalar => scalar::gemm_u8i8(a, m, a_zero_point, w, rows, out, out_stride),
        // SAFETY: a Kernel::Avx2 value exists only when avx2 and fma were detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { avx2::gemm_u8i8(a, m, a_zero_point, w, rows, out, out_stride) },
        // SAFETY: a Kernel::Avx512Vnni value exists only when its features were detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni => unsafe {
            avx512::gemm_u8i8(a, m, a_zero_point, w, rows, out, out_stride)
        },
        #[cfg(not(target_arch = "x86_64"))]
        _ => scalar::gemm_u8i8(a, m, a_zero_point, w, rows, out, out_stride),
    }
}

/// `out[i][r − rows.start] = Σ_k a[i][k] · w[r][k]` for `r` in `rows` (that is `A · Wᵀ`),
/// accumulated with one fused multiply-add per column, in column order, on every kernel.
///
/// `a` is `m × w.cols()` row-major; row `i` of the output starts at `out[i · out_stride]`.
///
/// # Panics
/// If the slice lengths do not match the shapes.
pub fn gemm_f32(
    kernel: Kernel,
    a: &[f32],
    m: usize,
    w: &PackedF32,
    rows: Range<usize>,
    out: &mut [f32],
    out_stride: usize,
) {
    assert_eq!(a.len(), m * w.cols(), "gemm_f32: input shape");
    assert!(
        rows.start <= rows.end && rows.end <= w.rows(),
        "gemm_f32: rows"
    );
    check_output(m, rows.len(), out.len(), out_stride);
    match kernel {
        Kernel::Scalar => scalar::gemm_f32(a, m, w, rows, out, out_stride),
        // SAFETY: a Kernel::Avx2 value exists only when avx2 and fma were detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { avx2::gemm_f32(a, m, w, rows, out, out_stride) },
        // SAFETY: a Kernel::Avx512Vnni value exists only when its features were detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni => unsafe { avx512::gemm_f32(a, m, w, rows, out, out_stride) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => scalar::gemm_f32(a, m, w, rows, out, out_stride),
    }
}

/// Output row `i` is `out[i · stride..i · stride + n]`: it must exist for every `i < m`.
fn check_output(m: usize, n: usize, len: usize, stride: usize) {
    assert!(
        n <= stride && (m == 0 || len >= (m - 1) * stride + n),
        "gemm: output shape"
    );
}

/// The minimum and maximum of `x` (`(0, 0)` for an empty slice); `x` must hold no NaN.
#[inline]
pub fn min_max(kernel: Kernel, x: &[f32]) -> (f32, f32) {
    match kernel {
        Kernel::Scalar => scalar::min_max(x),
        // SAFETY: any non-scalar Kernel value implies avx2 was detected.
        #[cfg(target_arch = "x86_64")]
        _ => unsafe { avx2::min_max(x) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => scalar::min_max(x),
    }
}

/// `out[i][j] = clamp(round_half_even(x[i][j] · inv_scale) + zero_point, 0, 255)` for `x` of
/// `rows × cols` and `out` of `rows × out_stride`; the padding bytes of each output row are
/// left as they are. The zero point is added after rounding, as fbgemm's `Quantize` (and
/// ATen's `quantize_val`) do for dynamic quantization: adding it first rounds differently at
/// ties and when the f32 sum loses the product's low bits, which moved one PyTorch case's
/// output by 9e-6.
///
/// # Panics
/// If the lengths do not match or `out_stride < cols`.
#[inline]
pub fn quantize_u8(
    kernel: Kernel,
    x: &[f32],
    cols: usize,
    inv_scale: f32,
    zero_point: i32,
    out: &mut [u8],
    out_stride: usize,
) {
    assert!(
        cols > 0 && out_stride >= cols && x.len().is_multiple_of(cols),
        "quantize_u8: shape"
    );
    assert_eq!(
        x.len() / cols * out_stride,
        out.len(),
        "quantize_u8: output length"
    );
    match kernel {
        Kernel::Scalar => scalar::quantize_u8(x, cols, inv_scale, zero_point, out, out_stride),
        // SAFETY: any non-scalar Kernel value implies avx2 was detected.
        #[cfg(target_arch = "x86_64")]
        _ => unsafe { avx2::quantize_u8(x, cols, inv_scale, zero_point, out, out_stride) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => scalar::quantize_u8(x, cols, inv_scale, zero_point, out, out_stride),
    }
}

/// The LSTM cell for `n` hidden units: with `gate_k = hh[k] + ih[k]` (k = i, f, g, o),
/// `c' = σ(f)·c + σ(i)·tanh(g)` and `h' = σ(o)·tanh(c')`, overwriting `c` and `h`.
/// σ and tanh are Cephes' single-precision approximations (about 1 ULP), identical on every
/// kernel.
///
/// # Panics
/// If any slice's length differs from `c.len()`.
pub fn lstm_cell(kernel: Kernel, hh: [&[f32]; 4], ih: [&[f32]; 4], c: &mut [f32], h: &mut [f32]) {
    let n = c.len();
    assert!(
        h.len() == n && hh.iter().chain(&ih).all(|s| s.len() == n),
        "lstm_cell: lengths"
    );
    match kernel {
        Kernel::Scalar => scalar::lstm_cell(hh, ih, c, h),
        // SAFETY: any non-scalar Kernel value implies avx2 and fma were detected.
        #[cfg(target_arch = "x86_64")]
        _ => unsafe { avx2::lstm_cell(hh, ih, c, h) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => scalar::lstm_cell(hh, ih, c, h),
    }
}

/// The recurrent map of an int8 LSTM layer as [`lstm_units_u8i8`] reads it: `W_hh`
/// (`4H × H`), its scales (one per tensor, or one per row) and `b_hh`.
#[derive(Debug, Clone, Copy)]
pub struct QuantizedRecurrent<'a> {
    /// The packed int8 weights, `4H × H`.
    pub weight: &'a PackedI8,
    /// One scale, or one per weight row.
    pub scales: &'a [f32],
    /// The f32 bias, one per weight row.
    pub bias: &'a [f32],
}

impl QuantizedRecurrent<'_> {
    /// The scales of weight rows `rows`: all of them per channel, else the single one.
    fn scales_of(&self, rows: Range<usize>) -> &[f32] {
        if self.scales.len() == 1 {
            self.scales
        } else {
            &self.scales[rows]
        }
    }
}

/// Calls `f(rows, offset)` for the weight rows of `units` in the four gates of an LSTM layer
/// with `hidden` units, where the results go to `[batch][gate][unit]` at `offset`: once for
/// all four gates when `units` covers every hidden unit (the rows are then contiguous), else
/// once per gate.
pub fn for_each_gate(hidden: usize, units: &Range<usize>, mut f: impl FnMut(Range<usize>, usize)) {
    if units.len() == hidden {
        f(0..4 * hidden, 0);
    } else {
        for gate in 0..4 {
            f(
                gate * hidden + units.start..gate * hidden + units.end,
                gate * units.len(),
            );
        }
    }
}

/// One time step of an int8 LSTM layer for the hidden units of `state`: quantizes the
/// previous hidden state `h_prev` (`batch × H`) from its range as PyTorch quantizes a dynamic
/// linear map's input (kept in `scratch` and reused while `scratch.h_is_new` is false),
/// projects it onto the units' gate rows, dequantizes (`acc · (h_scale · w_scale) + bias`),
/// adds the units' part of the step's input projection `ih` (`batch × 4 × units`,
/// `[batch][gate][unit]`) and runs [`lstm_cell`], updating `state`.
///
/// The same operations in the same order on every kernel; AVX-512 fuses them so the gates
/// never make a round trip through memory.
///
/// # Panics
/// If the lengths do not match.
pub fn lstm_units_u8i8(
    kernel: Kernel,
    w: QuantizedRecurrent<'_>,
    h_prev: &[f32],
    ih: &[f32],
    state: &mut UnitState<'_>,
    scratch: &mut StepScratch,
) {
    let (hidden, rows) = (w.weight.cols(), w.weight.rows());
    let (units, batch) = (state.units(), state.batch());
    let n = units.len();
    assert!(
        rows == 4 * hidden
            && units.end <= hidden
            && (w.scales.len() == 1 || w.scales.len() == rows)
            && w.bias.len() == rows
            && h_prev.len() == batch * hidden
            && ih.len() == batch * 4 * n,
        "lstm_units_u8i8: lengths"
    );
    scratch.accumulators.resize(batch * 4 * n, 0);
    match kernel {
        // SAFETY: a Kernel::Avx512Vnni value exists only when its features were detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni => unsafe { avx512::lstm_units_u8i8(w, h_prev, ih, state, scratch) },
        _ => {
            quantize_h(kernel, h_prev, w.weight, scratch);
            let ActivationParams {
                scale: h_scale,
                zero_point: h_zero_point,
            } = scratch.h_params;
            let (q, acc) = (&scratch.quantized[..], &mut scratch.accumulators[..]);
            for_each_gate(hidden, &units, |r, offset| {
                gemm_u8i8(
                    kernel,
                    q,
                    batch,
                    h_zero_point,
                    w.weight,
                    r,
                    &mut acc[offset..],
                    4 * n,
                );
            });
            let gates = &mut scratch.gates;
            gates.resize(batch * 4 * n, 0.0);
            for b in 0..batch {
                let (acc, gates) = (&acc[b * 4 * n..][..4 * n], &mut gates[b * 4 * n..][..4 * n]);
                for_each_gate(hidden, &units, |r, offset| {
                    let (acc, y) = (&acc[offset..][..r.len()], &mut gates[offset..][..r.len()]);
                    dequantize(kernel, h_scale, w.scales_of(r.clone()), &w.bias[r], acc, y);
                });
                let ih = &ih[b * 4 * n..][..4 * n];
                let (c, h) = state.row(b);
                lstm_cell(
                    kernel,
                    [0, 1, 2, 3].map(|k| &gates[k * n..][..n]),
                    [0, 1, 2, 3].map(|k| &ih[k * n..][..n]),
                    c,
                    h,
                );
            }
        }
    }
}

/// The whole recurrence of an int8 LSTM layer on the calling thread: [`lstm_units_u8i8`]
/// for every unit, step after step (see [`for_each_step`] for the buffers). With AVX-512 a
/// layer of at most 8 units and one batch row keeps its state in registers throughout,
/// with the same results.
///
/// # Panics
/// If the lengths do not match `shape` and `w`.
#[allow(clippy::too_many_arguments)]
pub fn lstm_layer_u8i8(
    kernel: Kernel,
    w: QuantizedRecurrent<'_>,
    shape: LayerShape,
    ih: &[f32],
    h0: &[f32],
    c: &mut [f32],
    out: &mut [f32],
    scratch: &mut StepScratch,
) {
    #[cfg(target_arch = "x86_64")]
    if kernel == Kernel::Avx512Vnni
        && shape.batch == 1
        && shape.hidden <= avx512::SMALL_HIDDEN
        && w.weight.cols() == shape.hidden
    {
        shape.check_buffers("lstm_layer_u8i8", ih, h0, c, out);
        // SAFETY: a Kernel::Avx512Vnni value exists only when its features were detected.
        unsafe { avx512::lstm_layer_small_u8i8(w, ih, h0, c, out) };
        return;
    }
    for_each_step(shape, ih, h0, c, out, |h_prev, ih_t, state| {
        scratch.h_is_new = true;
        lstm_units_u8i8(kernel, w, h_prev, ih_t, state, scratch);
    });
}

/// Quantizes the hidden state `h_prev` (`batch × weight.cols()`) into `scratch.quantized`
/// (`batch × weight.padded_cols()`) from its range, as PyTorch quantizes a dynamic linear
/// map's input, and keeps the parameters in `scratch.h_params`; does nothing while
/// `scratch.h_is_new` is false. Always inlined, so the fused kernels run it with their own
/// instruction set.
#[inline(always)]
fn quantize_h(kernel: Kernel, h_prev: &[f32], weight: &PackedI8, scratch: &mut StepScratch) {
    if !scratch.h_is_new {
        return;
    }
    let (cols, stride) = (weight.cols(), weight.padded_cols());
    let (lo, hi) = min_max(kernel, h_prev);
    let params = choose_activation_params(lo, hi);
    scratch.quantized.resize(h_prev.len() / cols * stride, 0);
    let q = &mut scratch.quantized;
    quantize_u8(
        kernel,
        h_prev,
        cols,
        1.0 / params.scale,
        params.zero_point,
        q,
        stride,
    );
    scratch.h_params = params;
    scratch.h_is_new = false;
}

/// `y[i][r] = acc[i][r] · (x_scale · w_scales[r]) + bias[r]` (multiply, then add: no FMA)
/// for `rows = bias.len()` and every row `i` of `acc` and `y` (`m × rows`); `w_scales` holds
/// one scale per row, or a single one for every row.
///
/// # Panics
/// If the lengths do not match.
pub fn dequantize(
    kernel: Kernel,
    x_scale: f32,
    w_scales: &[f32],
    bias: &[f32],
    acc: &[i32],
    y: &mut [f32],
) {
    let rows = bias.len();
    assert!(
        (w_scales.len() == 1 || w_scales.len() == rows)
            && acc.len() == y.len()
            && (rows == 0 && y.is_empty() || rows > 0 && y.len().is_multiple_of(rows)),
        "dequantize: lengths"
    );
    match kernel {
        // SAFETY: a Kernel::Avx512Vnni value exists only when its features were detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni => unsafe { avx512::dequantize(x_scale, w_scales, bias, acc, y) },
        _ => scalar::dequantize(x_scale, w_scales, bias, acc, y),
    }
}

#[cfg(test)]
mod tests;
