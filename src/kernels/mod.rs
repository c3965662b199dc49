//! The numeric kernels: u8 × i8 → i32 and f32 matrix products over packed weights, activation
//! min/max and quantization, the LSTM and GRU cells (a step's batch rows two at a time on
//! AVX-512: `row_cells`) and the int8 step (`int8_step`), the threads that run the recurrence
//! (`pool`, `recurrence`, and `alongside` for a layer whose input one thread projects while
//! another runs its steps; crate-internal) and handing freed memory back to the system
//! (`memory`, the one call into the C library). The safe wrappers
//! here check shapes once and dispatch on a [`Kernel`] chosen at start-up; each instruction
//! set's products are one micro-kernel run by the one blocked driver in `gemm`.
//!
//! This is the only module allowed to contain `unsafe` code; SIMD code runs only behind a
//! [`Kernel`] value, which exists only for features the CPU was detected to have.

mod activation;
mod alongside;
#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod caches;
#[cfg(test)]
pub(crate) mod coverage;
mod dispatch;
mod f32_step;
// The tiled product framework and the lanes' vector helpers serve the x86 kernels; the scalar
// twin, all other targets have, uses only the lanes' arithmetic.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
mod gemm;
mod int8_step;
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
mod lanes;
mod linebuf;
mod memory;
mod pack;
mod pool;
pub mod probe;
mod recurrence;
#[cfg(target_arch = "x86_64")]
mod row_cells;
mod scalar;

use std::ops::Range;

pub use activation::{ACTIVATION_QMAX, ActivationParams, Engine, choose_activation_params};
pub(crate) use alongside::{projects_alongside, run_layer_projecting_alongside};
pub(crate) use caches::CacheSizes;
#[cfg(test)]
pub(crate) use caches::with_l3;
pub use dispatch::{Execution, Kernel, KernelChoice, RunOptions, default_threads};
pub use f32_step::{F32Ahead, gates_f32_with_ahead};
pub use int8_step::{
    AheadProjection, QuantizedRecurrent, for_each_gate, for_each_gate_piece, gru_layer_u8i8,
    gru_units_u8i8, lstm_layer_u8i8, lstm_units_u8i8,
};
pub(crate) use linebuf::LineBuf;
pub use memory::return_large_blocks_when_freed;
pub use pack::{PANEL, PackedF32, PackedI8};
pub(crate) use pool::Pool;
pub(crate) use recurrence::{
    AheadRows, Projection, ProjectionPlan, Split, for_each_step, par_row_ranges, par_rows,
    pass_threads, projects_per_step, row_threads, run_layer, useful_threads,
};
pub(crate) use recurrence::{LayerBuffers, LayerShape};
pub use recurrence::{LinearScratch, StepScratch, UnitState};

/// Where a product's output rows go: row `i` is `data[i · stride..i · stride + n]` for the
/// product's `n` weight rows.
#[derive(Debug)]
pub struct OutputRows<'a, T> {
    /// The output values.
    pub data: &'a mut [T],
    /// Values from the start of one output row to the next.
    pub stride: usize,
}

impl<'a, T> OutputRows<'a, T> {
    /// Output rows `stride` values apart in `data`.
    pub fn new(data: &'a mut [T], stride: usize) -> Self {
        OutputRows { data, stride }
    }

    /// Checks that row `i` exists for every `i < m`, with `n` values.
    fn check(&self, m: usize, n: usize) {
        assert!(
            n <= self.stride && (m == 0 || self.data.len() >= (m - 1) * self.stride + n),
            "gemm: output shape"
        );
    }
}

/// `out[i][r − rows.start] = Σ_k (a[i][k] − zero_point) · w[r][k]` for `r` in `rows`, in
/// exact i32 arithmetic, with `a`'s zero point and engine in `a_params`.
///
/// `a` is `m × w.padded_cols()` row-major (padding bytes are ignored), with values at most
/// `a_params.engine.activation_max()`: 128 on x86 (activations quantized with `reduce_range`:
/// qmax is 127, and rounding `x / scale` and the zero point separately can push the top value
/// to 128), where AVX2's `vpmaddubsw` cannot saturate; 255 on qnnpack, which AVX2 splits into
/// two products that cannot.
///
/// # Panics
/// If the slice lengths do not match the shapes.
pub fn gemm_u8i8(
    kernel: Kernel,
    a: &[u8],
    m: usize,
    a_params: ActivationParams,
    w: &PackedI8,
    rows: Range<usize>,
    out: OutputRows<'_, i32>,
) {
    #[cfg(test)]
    coverage::record(kernel, coverage::Function::GemmU8I8);
    gemm_u8i8_sums(kernel, (a, m, a_params), w, rows, (out, gemm::Sums));
}

/// [`gemm_u8i8`]'s sums dequantized as each panel of them leaves the registers:
/// `out[i][r − rows.start] = fma(sum[i][r], x_scale · w_scales[r], bias[r])`, with
/// `x_scale = a_params.scale`; `w_scales` holds one scale per weight row of `w`, or a single
/// one for every row, and `bias` one value per weight row. Under qnnpack (`a_params.engine`)
/// the product is rounded before the bias is added, `round(sum · (x_scale · w_scale)) + bias`:
/// qnnpack's dynamic-quantization GEMM kernels (`q8gemm` `dq`, NEON and SSE2, neither
/// contracted to an FMA) multiply, then add the bias.
///
/// On x86 the scale product is rounded on its own, then one fused multiply-add (rounded once),
/// as PyTorch's x86 engine computes it: fbgemm's `requantizeForFloatAvx2`
/// (`src/QuantUtilsAvx2.cc`, also its AVX-512 path) writes
/// `_mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc), A_scale · B_scale[j]), bias)`, which
/// GCC (`-ffp-contract=fast`, its default, and `-mfma`) compiles to one `vfmadd`. A separate
/// multiply and add was up to 2.4e-7 off PyTorch's outputs on the reference cases (4 to 5 times
/// further on average).
///
/// # Panics
/// If the slice lengths do not match the shapes.
#[allow(clippy::too_many_arguments)]
pub fn gemm_u8i8_dequantized(
    kernel: Kernel,
    a: &[u8],
    m: usize,
    a_params: ActivationParams,
    w: &PackedI8,
    (w_scales, bias): (&[f32], &[f32]),
    rows: Range<usize>,
    out: OutputRows<'_, f32>,
) {
    assert!(
        bias.len() == w.rows() && (w_scales.len() == 1 || w_scales.len() == w.rows()),
        "gemm_u8i8_dequantized: scales and bias"
    );
    #[cfg(test)]
    coverage::record(kernel, coverage::Function::GemmU8I8Dequantized);
    let dequantized = gemm::Dequantized {
        x: a_params,
        w_scales,
        bias,
    };
    gemm_u8i8_sums(kernel, (a, m, a_params), w, rows, (out, dequantized));
}

/// A [`gemm::SumsOut`] that every instruction set's micro-kernels apply to whole panels.
#[cfg(target_arch = "x86_64")]
trait PanelSumsOut: avx512::StorePanel + avx2::StorePanel {}
#[cfg(target_arch = "x86_64")]
impl<O: avx512::StorePanel + avx2::StorePanel> PanelSumsOut for O {}
#[cfg(not(target_arch = "x86_64"))]
trait PanelSumsOut: gemm::SumsOut {}
#[cfg(not(target_arch = "x86_64"))]
impl<O: gemm::SumsOut> PanelSumsOut for O {}

/// The product of [`gemm_u8i8`], each row's sum written as `sums_out` makes it.
fn gemm_u8i8_sums<O: PanelSumsOut>(
    kernel: Kernel,
    (a, m, a_params): (&[u8], usize, ActivationParams),
    w: &PackedI8,
    rows: Range<usize>,
    (out, sums_out): (OutputRows<'_, O::Out>, O),
) {
    assert_eq!(a.len(), m * w.padded_cols(), "gemm_u8i8: activation shape");
    assert!(
        rows.start <= rows.end && rows.end <= w.rows(),
        "gemm_u8i8: rows"
    );
    out.check(m, rows.len());
    let (zp, engine) = (a_params.zero_point, a_params.engine);
    // Only the real columns: a row's padding bytes may hold anything a buffer held before
    // (a model of another engine or shape), as the padded weights they meet are 0.
    debug_assert!(
        a.chunks_exact(w.padded_cols().max(1))
            .all(|row| row[..w.cols()]
                .iter()
                .all(|&v| v <= engine.activation_max())),
        "gemm_u8i8: activations above the engine's range"
    );
    let out = (out, sums_out);
    match kernel {
        Kernel::Scalar => scalar::gemm_u8i8(a, m, zp, w, rows, out),
        // SAFETY: a Kernel::Avx2 value exists only when avx2 and fma were detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { avx2::gemm_u8i8(a, m, zp, engine, w, rows, out) },
        // SAFETY: an AVX-512 Kernel value exists only when its features were detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni => unsafe { avx512::gemm_u8i8(a, m, zp, w, rows, out) },
        // SAFETY: a Kernel::Avx512Amx value exists only when AMX-INT8 was detected and this
        // process was granted its tiles, with Kernel::Avx512Vnni's features.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Amx => unsafe { amx::gemm_u8i8(a, m, zp, w, rows, out) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => scalar::gemm_u8i8(a, m, zp, w, rows, out),
    }
}

/// `out[i][r − rows.start] = Σ_k a[i][k] · w[r][k] + bias[r]` for `r` in `rows` (that is
/// `A · Wᵀ + b`), accumulated with one fused multiply-add per column, in column order, then
/// the bias added once (as `addmm` rounds it), on every kernel.
///
/// `a` is `m × w.cols()` row-major; `bias` holds one value per weight row. Adding the bias in
/// the store, rather than in a pass of its own, saves a round trip of the whole output
/// through the caches (an input projection's is megabytes at batch 64).
///
/// # Panics
/// If the slice lengths do not match the shapes.
pub fn gemm_f32(
    kernel: Kernel,
    a: &[f32],
    m: usize,
    w: &PackedF32,
    bias: &[f32],
    rows: Range<usize>,
    out: OutputRows<'_, f32>,
) {
    assert_eq!(a.len(), m * w.cols(), "gemm_f32: input shape");
    assert_eq!(bias.len(), w.rows(), "gemm_f32: bias");
    assert!(
        rows.start <= rows.end && rows.end <= w.rows(),
        "gemm_f32: rows"
    );
    out.check(m, rows.len());
    #[cfg(test)]
    coverage::record(kernel, coverage::Function::GemmF32);
    match kernel {
        Kernel::Scalar => scalar::gemm_f32(a, m, w, bias, rows, out),
        // SAFETY: a Kernel::Avx2 value exists only when avx2 and fma were detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { avx2::gemm_f32(a, m, w, bias, rows, out) },
        // SAFETY: an AVX-512 Kernel value exists only when its features were detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni | Kernel::Avx512Amx => unsafe {
            avx512::gemm_f32(a, m, w, bias, rows, out)
        },
        #[cfg(not(target_arch = "x86_64"))]
        _ => scalar::gemm_f32(a, m, w, bias, rows, out),
    }
}

/// Whether every value of `x` is finite (neither infinite nor NaN): the check every input
/// and state passes before a forward.
#[inline]
pub fn all_finite(kernel: Kernel, x: &[f32]) -> bool {
    #[cfg(test)]
    coverage::record(kernel, coverage::Function::AllFinite);
    match kernel {
        Kernel::Scalar => scalar::all_finite(x),
        // SAFETY: an AVX-512 Kernel value exists only when its features were detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni | Kernel::Avx512Amx => unsafe { avx512::all_finite(x) },
        // SAFETY: any non-scalar Kernel value implies avx2 was detected.
        #[cfg(target_arch = "x86_64")]
        _ => unsafe { avx2::all_finite(x) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => scalar::all_finite(x),
    }
}

/// The minimum and maximum of `x` (`(0, 0)` for an empty slice), skipping NaNs, which an
/// overflowing model can produce (only NaNs: `(∞, −∞)`).
#[inline]
pub fn min_max(kernel: Kernel, x: &[f32]) -> (f32, f32) {
    #[cfg(test)]
    coverage::record(kernel, coverage::Function::MinMax);
    match kernel {
        Kernel::Scalar => scalar::min_max(x),
        // SAFETY: an AVX-512 Kernel value exists only when its features were detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni | Kernel::Avx512Amx => unsafe { avx512::min_max(x) },
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
    #[cfg(test)]
    coverage::record(kernel, coverage::Function::QuantizeU8);
    match kernel {
        Kernel::Scalar => scalar::quantize_u8(x, cols, inv_scale, zero_point, out, out_stride),
        // SAFETY: an AVX-512 Kernel value exists only when its features were detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni | Kernel::Avx512Amx => unsafe {
            avx512::quantize_u8(x, cols, inv_scale, zero_point, out, out_stride)
        },
        // SAFETY: any non-scalar Kernel value implies avx2 was detected.
        #[cfg(target_arch = "x86_64")]
        _ => unsafe { avx2::quantize_u8(x, cols, inv_scale, zero_point, out, out_stride) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => scalar::quantize_u8(x, cols, inv_scale, zero_point, out, out_stride),
    }
}

/// The LSTM cell for `n` hidden units: with `gate_k = hh[k] + ih[k]` (k = i, f, g, o),
/// `c' = σ(f)·c + σ(i)·tanh(g)` and `h' = σ(o)·tanh(c')`, overwriting `c` and `h`.
/// σ is ATen's vectorized sigmoid on Sleef's `expf_u10` (PyTorch's own, bit for bit) and tanh
/// is correctly rounded from f64 (within 1 ULP of PyTorch's MKL one), identical on every
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
    #[cfg(test)]
    coverage::record(kernel, coverage::Function::LstmCell);
    match kernel {
        Kernel::Scalar => scalar::lstm_cell(hh, ih, c, h),
        // SAFETY: an AVX-512 Kernel value exists only when its features were detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni | Kernel::Avx512Amx => unsafe { avx512::lstm_cell(hh, ih, c, h) },
        // SAFETY: any non-scalar Kernel value implies avx2 and fma were detected.
        #[cfg(target_arch = "x86_64")]
        _ => unsafe { avx2::lstm_cell(hh, ih, c, h) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => scalar::lstm_cell(hh, ih, c, h),
    }
}

/// [`lstm_cell`] for every batch row of `state`, whose gates `hh` and `ih` hold
/// (`[row][gate][unit]`, `4 · units` values a row). AVX-512 runs the cells of two rows side
/// by side, the same operations lane for lane.
///
/// # Panics
/// If `hh` or `ih` does not hold `state`'s rows.
pub fn lstm_cells(kernel: Kernel, hh: &[f32], ih: &[f32], state: &mut UnitState<'_>) {
    let n = state.units().len();
    let row_len = 4 * n;
    assert!(
        hh.len() == state.batch() * row_len && ih.len() == hh.len(),
        "lstm_cells: lengths"
    );
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni | Kernel::Avx512Amx => {
            #[cfg(test)]
            coverage::record(kernel, coverage::Function::LstmCell);
            let hh = row_cells::F32Gates::<4> { hh, n };
            // SAFETY: an AVX-512 Kernel value exists only when its features were detected;
            // hh holds every unit of the state's rows (checked above).
            unsafe { row_cells::lstm_rows(state, &hh, ih) }
        }
        _ => {
            for b in 0..state.batch() {
                let (hh, ih) = (&hh[b * row_len..][..row_len], &ih[b * row_len..][..row_len]);
                let (c, h) = state.row(b);
                lstm_cell(
                    kernel,
                    [0, 1, 2, 3].map(|k| &hh[k * n..][..n]),
                    [0, 1, 2, 3].map(|k| &ih[k * n..][..n]),
                    c,
                    h,
                );
            }
        }
    }
}

/// [`gru_cell`] for every batch row of `state`, whose gates `hh` and `ih` hold
/// (`[row][gate][unit]`, `3 · units` values a row), from `h_old`, the previous hidden state of
/// those rows (`hidden` values a row). AVX-512 runs the cells of two rows side by side, the
/// same operations lane for lane.
///
/// # Panics
/// If `hh`, `ih` or `h_old` does not hold `state`'s rows.
pub fn gru_cells(kernel: Kernel, hh: &[f32], ih: &[f32], h_old: &[f32], state: &mut UnitState<'_>) {
    let (units, batch) = (state.units(), state.batch());
    let (n, row_len) = (units.len(), 3 * units.len());
    assert!(
        hh.len() == batch * row_len
            && ih.len() == hh.len()
            && (batch == 0
                || (h_old.len().is_multiple_of(batch) && h_old.len() / batch >= units.end)),
        "gru_cells: lengths"
    );
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni | Kernel::Avx512Amx => {
            #[cfg(test)]
            coverage::record(kernel, coverage::Function::GruCell);
            let hh = row_cells::F32Gates::<3> { hh, n };
            // SAFETY: as in lstm_cells.
            unsafe { row_cells::gru_rows(state, &hh, ih, h_old) }
        }
        _ => {
            let hidden = h_old.len() / batch.max(1);
            for b in 0..batch {
                let (hh, ih) = (&hh[b * row_len..][..row_len], &ih[b * row_len..][..row_len]);
                let old = &h_old[b * hidden + units.start..][..n];
                let (_, h) = state.row(b);
                gru_cell(
                    kernel,
                    [0, 1, 2].map(|k| &hh[k * n..][..n]),
                    [0, 1, 2].map(|k| &ih[k * n..][..n]),
                    old,
                    h,
                );
            }
        }
    }
}

/// The GRU cell for `n` hidden units, as ATen's `GRUCell` computes it: with `hh` and `ih` the
/// two projections' r, z and n rows, `r = σ(hh_r + ih_r)`, `z = σ(hh_z + ih_z)`,
/// `n = tanh(ih_n + hh_n · r)` and `h' = (h − n) · z + n` (separate multiplies and adds, no
/// FMA), from the old state `h_old` into `h`. σ and tanh as in [`lstm_cell`].
///
/// # Panics
/// If any slice's length differs from `h.len()`.
pub fn gru_cell(kernel: Kernel, hh: [&[f32]; 3], ih: [&[f32]; 3], h_old: &[f32], h: &mut [f32]) {
    let n = h.len();
    assert!(
        h_old.len() == n && hh.iter().chain(&ih).all(|s| s.len() == n),
        "gru_cell: lengths"
    );
    #[cfg(test)]
    coverage::record(kernel, coverage::Function::GruCell);
    match kernel {
        Kernel::Scalar => scalar::gru_cell(hh, ih, h_old, h),
        // SAFETY: an AVX-512 Kernel value exists only when its features were detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni | Kernel::Avx512Amx => unsafe {
            avx512::gru_cell_rows(hh, ih, h_old, h)
        },
        // SAFETY: any non-scalar Kernel value implies avx2 and fma were detected.
        #[cfg(target_arch = "x86_64")]
        _ => unsafe { avx2::gru_cell(hh, ih, h_old, h) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => scalar::gru_cell(hh, ih, h_old, h),
    }
}

#[cfg(test)]
mod tests;
