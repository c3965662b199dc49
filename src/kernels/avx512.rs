//! AVX-512 kernels (VNNI `vpdpbusd` for int8, AVX-512F FMA for f32), bit-for-bit twins of
//! [`super::scalar`]. `vpdpbusd` sums four u8 × i8 products straight into i32, so any u8
//! activation is exact.

use std::arch::x86_64::*;
use std::ops::Range;

use super::activation::{ActivationParams, choose_activation_params};
use super::avx2::rescale as rescale256;
use super::gemm::{Dequantized, MicroKernel, Panels, Sink, Sums, SumsOut, Tile, emit_tile, gemm};
use super::int8_step::AheadProjection;
use super::lanes::{
    F32Lanes, F64Lanes, F64Map, Lanes, Two, Wide, cell, gru_cell, gru_lanes, lstm_lanes,
};
use super::pack::{PANEL, PackedF32, PackedI8};
use super::{Kernel, OutputRows, QuantizedRecurrent, StepScratch, UnitState, avx2, row_cells};

/// Panels processed together (more independent accumulator chains for one activation row).
const GROUP: usize = 8;

/// See [`super::gemm_u8i8`] and [`super::gemm_u8i8_dequantized`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
pub fn gemm_u8i8<O: StorePanel>(
    a: &[u8],
    m: usize,
    zp: i32,
    w: &PackedI8,
    rows: Range<usize>,
    (out, sums_out): (OutputRows<'_, O::Out>, O),
) {
    gemm(&U8I8::new(zp, w, sums_out), a, m, w, rows, out);
}

/// A [`SumsOut`] applied to a whole panel of sums at once.
///
/// # Safety
/// `store` may use AVX-512: call it only on a CPU that has it.
pub unsafe trait StorePanel: SumsOut {
    /// Writes the outputs of the 16 weight rows from `first_row`, whose sums `sums` holds,
    /// to `dst`.
    ///
    /// # Safety
    /// Those weight rows must exist and `dst` hold 16 values.
    unsafe fn store(&self, sums: __m512i, first_row: usize, dst: *mut Self::Out);
}

// SAFETY: AVX-512 only in `store`, whose callers run behind a Kernel::Avx512Vnni value.
unsafe impl StorePanel for Sums {
    #[inline(always)]
    unsafe fn store(&self, sums: __m512i, _first_row: usize, dst: *mut i32) {
        // SAFETY: the caller guarantees 16 values at dst and the CPU's AVX-512.
        unsafe { _mm512_storeu_si512(dst.cast(), sums) };
    }
}

// SAFETY: as for Sums.
unsafe impl StorePanel for Dequantized<'_> {
    #[inline(always)]
    unsafe fn store(&self, sums: __m512i, first_row: usize, dst: *mut f32) {
        // SAFETY: the caller guarantees the weight rows (so their bias and scales), 16 values
        // at dst and the CPU's AVX-512.
        unsafe {
            let parts = (self.w_scales, self.bias);
            let y = dequantize_lanes(self.x, parts, sums, first_row, ALL_LANES);
            _mm512_storeu_ps(dst, y);
        }
    }
}

/// See [`super::gemm_f32`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
pub fn gemm_f32(
    a: &[f32],
    m: usize,
    w: &PackedF32,
    bias: &[f32],
    rows: Range<usize>,
    out: OutputRows<'_, f32>,
) {
    gemm(&F32 { bias }, a, m, w, rows, out);
}

/// See [`super::f32_step::gates_f32_with_ahead`]: for every 16 of the `n` units from `first`
/// (last first when `backwards`), the `G` gate panels' product with `h` and, in the same loop
/// over the columns, `ahead`'s panel of gate `ahead.gate` with its 1 to `G` input rows, each
/// sum one FMA per column in column order from zero, then the bias added, as
/// [`gemm_f32`] computes them.
///
/// # Safety
/// The CPU must have the AVX-512 features, and the lengths must be those
/// [`super::f32_step::gates_f32_with_ahead`] checks: `w` is `G · H × H` with `H` and the
/// units on whole panels, `h` one row of `H`, `gates_out` `G · n` values, `ahead.w` `G · H`
/// rows, `ahead.x` 1 to `G` rows of `ahead.w.cols()`, `ahead.out` `rows × G × n`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[allow(clippy::needless_range_loop)]
pub unsafe fn gates_f32_with_ahead<const G: usize>(
    (h, w, bias): (&[f32], &PackedF32, &[f32]),
    (first, n): (usize, usize),
    gates_out: &mut [f32],
    ahead: &mut super::f32_step::F32Ahead<'_>,
    backwards: bool,
) {
    let (hidden, k_ih) = (w.cols(), ahead.w.cols());
    let common = hidden.min(k_ih);
    let rows = ahead.x.len() / k_ih;
    let gate = ahead.gate;
    // SAFETY (all pointer arithmetic and accesses below): the caller's contract: every panel
    // read lies in its packed matrix, every column of `h` and of the input rows exists, and
    // every store lands in `gates_out` or `ahead.out`.
    unsafe {
        // Rows past the last read the last one again; their sums are dropped.
        let x_rows: [*const f32; G] =
            std::array::from_fn(|r| ahead.x.as_ptr().add(r.min(rows - 1) * k_ih));
        let panel =
            |m: &PackedF32, row: usize| m.data().as_ptr().add(row / PANEL * m.cols() * PANEL);
        for j in piece_order(n, backwards) {
            let unit = first + j;
            let hh: [*const f32; G] = std::array::from_fn(|g| panel(w, g * hidden + unit));
            let ih = panel(ahead.w, gate * hidden + unit);
            let mut acc = [_mm512_setzero_ps(); G];
            let mut a_acc = [_mm512_setzero_ps(); G];
            // Column kk of each product: one FMA into each of its sums.
            let mut hh_column = |kk: usize| {
                let hv = _mm512_set1_ps(*h.get_unchecked(kk));
                for g in 0..G {
                    acc[g] = _mm512_fmadd_ps(_mm512_loadu_ps(hh[g].add(kk * PANEL)), hv, acc[g]);
                }
            };
            let mut ih_column = |kk: usize| {
                let wv = _mm512_loadu_ps(ih.add(kk * PANEL));
                for r in 0..G {
                    a_acc[r] = _mm512_fmadd_ps(wv, _mm512_set1_ps(*x_rows[r].add(kk)), a_acc[r]);
                }
            };
            for kk in 0..common {
                hh_column(kk);
                ih_column(kk);
            }
            (common..hidden).for_each(&mut hh_column);
            (common..k_ih).for_each(&mut ih_column);
            for g in 0..G {
                let b = _mm512_loadu_ps(bias.as_ptr().add(g * hidden + unit));
                _mm512_storeu_ps(
                    gates_out.as_mut_ptr().add(g * n + j),
                    _mm512_add_ps(acc[g], b),
                );
            }
            let b = _mm512_loadu_ps(ahead.bias.as_ptr().add(gate * hidden + unit));
            let out = ahead.out.as_mut_ptr().add(gate * n + j);
            for r in 0..rows {
                _mm512_storeu_ps(out.add(r * G * n), _mm512_add_ps(a_acc[r], b));
            }
        }
    }
}

/// The u8 × i8 micro-kernel: 16 rows of a panel in one accumulator; its store subtracts the
/// zero-point term `zp · Σ_k w[r][k]` and writes what `sums_out` makes of the sums. Made only
/// inside [`gemm_u8i8`] and the AMX kernel's, which wraps it.
pub(super) struct U8I8<'a, O> {
    zp: i32,
    zp_v: __m512i,
    row_sums: &'a [i32],
    sums_out: O,
}

impl<'a, O: StorePanel> U8I8<'a, O> {
    /// The micro-kernel for activations with zero point `zp` against `w`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
    pub(super) fn new(zp: i32, w: &'a PackedI8, sums_out: O) -> Self {
        U8I8 {
            zp,
            zp_v: _mm512_set1_epi32(zp),
            row_sums: w.row_sums(),
            sums_out,
        }
    }
}

// SAFETY: a U8I8 exists only inside gemm_u8i8 and AMX's, which enable the AVX-512 features
// and are called only behind a Kernel::Avx512Vnni or Kernel::Avx512Amx value.
unsafe impl<O: StorePanel> MicroKernel for U8I8<'_, O> {
    type Lhs = u8;
    type Rhs = i8;
    type Out = O::Out;
    type Lane = i32;
    type Acc = __m512i;
    const GROUP_PANELS: usize = GROUP;

    /// Four rows, then two, then one.
    #[inline(always)]
    fn block_rows(rows_left: usize) -> usize {
        match rows_left {
            4.. => 4,
            2 | 3 => 2,
            _ => 1,
        }
    }

    #[inline(always)]
    unsafe fn block(
        &self,
        at: Tile<u8, i8>,
        panels: usize,
        rows: usize,
        sink: &mut impl Sink<Self::Acc>,
    ) {
        let Tile {
            a,
            a_stride: stride,
            w,
            panel_len,
            depth: groups,
        } = at;
        // SAFETY (all calls): the caller guarantees `panels` panels and `rows` rows of `groups`
        // groups; each micro-kernel reads its panels and rows only.
        unsafe {
            match (panels, rows) {
                (GROUP, 4) => {
                    for pair in (0..GROUP).step_by(2) {
                        let wp = w.add(pair * panel_len);
                        let acc = micro_i8::<2, 4>(a, stride, wp, panel_len, groups);
                        emit_tile(acc, pair, sink);
                    }
                }
                (GROUP, 2) => emit_tile(
                    micro_i8::<GROUP, 2>(a, stride, w, panel_len, groups),
                    0,
                    sink,
                ),
                (_, 1) => {
                    for pp in 0..panels {
                        sink.put(pp, 0, gemv_i8(a, w.add(pp * panel_len), groups));
                    }
                }
                _ => {
                    for pp in 0..panels {
                        let wp = w.add(pp * panel_len);
                        match rows {
                            4 => emit_tile(
                                micro_i8::<1, 4>(a, stride, wp, panel_len, groups),
                                pp,
                                sink,
                            ),
                            _ => emit_tile(
                                micro_i8::<1, 2>(a, stride, wp, panel_len, groups),
                                pp,
                                sink,
                            ),
                        }
                    }
                }
            }
        }
    }

    /// One panel at a time, with [`gemv_i8`], kept small for the per-step GEMV of small models.
    #[inline(always)]
    unsafe fn row(
        &self,
        at: Tile<u8, i8>,
        _panels_left: usize,
        sink: &mut impl Sink<Self::Acc>,
    ) -> usize {
        // SAFETY: the caller guarantees a panel and a row of `depth` groups.
        sink.put(0, 0, unsafe { gemv_i8(at.a, at.w, at.depth) });
        1
    }

    #[inline(always)]
    unsafe fn store_panel(&self, acc: __m512i, first_row: usize, dst: *mut O::Out) {
        // SAFETY: the caller guarantees rows first_row..first_row + 16 (so row sums) and 16
        // values at dst.
        unsafe {
            let sums = _mm512_loadu_si512(self.row_sums.as_ptr().add(first_row).cast());
            let v = _mm512_sub_epi32(acc, _mm512_mullo_epi32(sums, self.zp_v));
            self.sums_out.store(v, first_row, dst);
        }
    }

    #[inline(always)]
    unsafe fn lanes(&self, acc: __m512i) -> [i32; PANEL] {
        let mut lanes = [0i32; PANEL];
        // SAFETY: lanes holds 16 i32.
        unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), acc) };
        lanes
    }

    #[inline(always)]
    fn finish_lane(&self, lane: i32, row: usize) -> O::Out {
        self.sums_out
            .finish(lane - self.zp * self.row_sums[row], row)
    }
}

/// The f32 micro-kernel: 16 rows of a panel in one accumulator; its store adds each row's
/// bias. Made only inside [`gemm_f32`].
struct F32<'a> {
    /// One per weight row.
    bias: &'a [f32],
}

// SAFETY: an F32 exists only inside gemm_f32, which enables the AVX-512 features and is called
// only behind a Kernel::Avx512Vnni value.
unsafe impl MicroKernel for F32<'_> {
    type Lhs = f32;
    type Rhs = f32;
    type Out = f32;
    type Lane = f32;
    type Acc = __m512;
    const GROUP_PANELS: usize = GROUP;

    /// Eight rows share each weight load when there are eight: with four, a pair of panels
    /// was read from L2 once per four rows, and L2 bandwidth capped the product.
    #[inline(always)]
    fn block_rows(rows_left: usize) -> usize {
        match rows_left {
            8.. => 8,
            4..=7 => 4,
            2 | 3 => 2,
            _ => 1,
        }
    }

    #[inline(always)]
    unsafe fn block(
        &self,
        at: Tile<f32, f32>,
        panels: usize,
        rows: usize,
        sink: &mut impl Sink<Self::Acc>,
    ) {
        let (a, k, w, panel_len) = (at.a, at.depth, at.w, at.panel_len);
        // SAFETY (all calls): the caller guarantees `panels` panels and `rows` rows of `k`
        // columns; each micro-kernel reads its panels and rows only.
        unsafe {
            match (panels, rows) {
                (GROUP, 8) => {
                    for pair in (0..GROUP).step_by(2) {
                        let acc = micro_f32::<2, 8>(a, k, w.add(pair * panel_len));
                        emit_tile(acc, pair, sink);
                    }
                }
                (GROUP, 4) => {
                    for pair in (0..GROUP).step_by(2) {
                        let acc = micro_f32::<2, 4>(a, k, w.add(pair * panel_len));
                        emit_tile(acc, pair, sink);
                    }
                }
                (GROUP, 2) => emit_tile(micro_f32::<GROUP, 2>(a, k, w), 0, sink),
                (GROUP, _) => emit_tile(micro_f32::<GROUP, 1>(a, k, w), 0, sink),
                _ => {
                    for pp in 0..panels {
                        let wp = w.add(pp * panel_len);
                        match rows {
                            8 => emit_tile(micro_f32::<1, 8>(a, k, wp), pp, sink),
                            4 => emit_tile(micro_f32::<1, 4>(a, k, wp), pp, sink),
                            2 => emit_tile(micro_f32::<1, 2>(a, k, wp), pp, sink),
                            _ => emit_tile(micro_f32::<1, 1>(a, k, wp), pp, sink),
                        }
                    }
                }
            }
        }
    }

    /// Four panels at a time (independent FMA chains), then one, kept small for the per-step
    /// GEMV of small models. Eight at a time, eight streams of weights a panel apart, measured
    /// 5 to 6% slower at batch 1 (FP32 forwards at dims 256 and 512, both ways in one
    /// process, outputs bit-identical), two 2% slower.
    #[inline(always)]
    unsafe fn row(
        &self,
        at: Tile<f32, f32>,
        panels_left: usize,
        sink: &mut impl Sink<Self::Acc>,
    ) -> usize {
        let (a, k, w) = (at.a, at.depth, at.w);
        // SAFETY (both): the caller guarantees `panels_left` panels and a row of k columns.
        unsafe {
            if panels_left >= 4 {
                emit_tile(micro_f32::<4, 1>(a, k, w), 0, sink);
                4
            } else {
                emit_tile(micro_f32::<1, 1>(a, k, w), 0, sink);
                1
            }
        }
    }

    #[inline(always)]
    unsafe fn store_panel(&self, acc: __m512, first_row: usize, dst: *mut f32) {
        // SAFETY: the caller guarantees weight rows first_row..first_row + 16 (so their bias)
        // and 16 values at dst.
        unsafe {
            let bias = _mm512_loadu_ps(self.bias.as_ptr().add(first_row));
            _mm512_storeu_ps(dst, _mm512_add_ps(acc, bias));
        }
    }

    #[inline(always)]
    unsafe fn lanes(&self, acc: __m512) -> [f32; PANEL] {
        let mut lanes = [0f32; PANEL];
        // SAFETY: lanes holds 16 f32.
        unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), acc) };
        lanes
    }

    #[inline(always)]
    fn finish_lane(&self, lane: f32, row: usize) -> f32 {
        lane + self.bias[row]
    }
}

/// Accumulates `NP` panels × `MR` activation rows over all column groups.
///
/// # Safety
/// `w` must point at `NP` consecutive panels of `panel_len` bytes each holding `groups` groups,
/// and `a` at `MR` rows of `stride >= 4 * groups` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
// Indexing acc[p][i] by both loop counters reads clearer than nested iterators.
#[allow(clippy::needless_range_loop)]
#[inline]
unsafe fn micro_i8<const NP: usize, const MR: usize>(
    a: *const u8,
    stride: usize,
    w: *const i8,
    panel_len: usize,
    groups: usize,
) -> [[__m512i; MR]; NP] {
    let mut acc = [[_mm512_setzero_si512(); MR]; NP];
    for g in 0..groups {
        let mut wv = [_mm512_setzero_si512(); NP];
        for (p, wv) in wv.iter_mut().enumerate() {
            // SAFETY: the caller guarantees panel p has group g (64 bytes); prefetching an
            // address past the panel is harmless (wrapping_add: no pointer arithmetic UB).
            unsafe {
                *wv = _mm512_loadu_si512(w.add(p * panel_len + g * 64).cast());
                _mm_prefetch::<_MM_HINT_T0>(w.wrapping_add(p * panel_len + (g + 8) * 64).cast());
            }
        }
        for i in 0..MR {
            // SAFETY: the caller guarantees row i has 4 bytes at column 4g.
            let x = unsafe { a.add(i * stride + g * 4).cast::<i32>().read_unaligned() };
            let av = _mm512_set1_epi32(x);
            for p in 0..NP {
                acc[p][i] = _mm512_dpbusd_epi32(acc[p][i], av, wv[p]);
            }
        }
    }
    acc
}

/// One panel × one activation row: the panel is read front to back (one stream for the
/// prefetcher) into four accumulators over alternating column groups, summed at the end
/// (integer sums: the order does not change the result).
///
/// # Safety
/// `w` must point at one panel holding `groups` groups, `a` at `4 * groups` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
pub(super) unsafe fn gemv_i8(a: *const u8, w: *const i8, groups: usize) -> __m512i {
    let mut acc = [_mm512_setzero_si512(); 4];
    let full = groups / 4 * 4;
    for g in (0..full).step_by(4) {
        for (j, acc) in acc.iter_mut().enumerate() {
            // SAFETY: groups g..g+4 exist in the panel and in the activation row.
            unsafe {
                let wv = _mm512_loadu_si512(w.add((g + j) * 64).cast());
                let x = a.add((g + j) * 4).cast::<i32>().read_unaligned();
                *acc = _mm512_dpbusd_epi32(*acc, _mm512_set1_epi32(x), wv);
            }
        }
        // Prefetching past the panel is harmless (wrapping_add: no pointer-arithmetic UB).
        _mm_prefetch::<_MM_HINT_T0>(w.wrapping_add((g + 8) * 64).cast());
    }
    for g in full..groups {
        // SAFETY: group g exists in the panel and in the activation row.
        unsafe {
            let wv = _mm512_loadu_si512(w.add(g * 64).cast());
            let x = a.add(g * 4).cast::<i32>().read_unaligned();
            acc[0] = _mm512_dpbusd_epi32(acc[0], _mm512_set1_epi32(x), wv);
        }
    }
    _mm512_add_epi32(
        _mm512_add_epi32(acc[0], acc[1]),
        _mm512_add_epi32(acc[2], acc[3]),
    )
}

/// See [`super::lstm_units_u8i8`]: the same operations in the same order as its portable
/// composition. The product goes straight to the accumulators and the cell dequantizes them
/// itself, 16 units at a time (8 for the last ones), so no intermediate values make a round
/// trip through a gates buffer.
///
/// Returns `ahead` when it was not fused into the step (the caller then projects it).
///
/// # Safety
/// `kernel` must be [`Kernel::Avx512Vnni`] or [`Kernel::Avx512Amx`]: its batch products run
/// as [`step_product`] runs them.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
pub unsafe fn lstm_units_u8i8<'a>(
    kernel: Kernel,
    w: QuantizedRecurrent<'_>,
    h_prev: &[f32],
    ih: &[f32],
    state: &mut UnitState<'_>,
    scratch: &mut StepScratch,
    mut ahead: Option<AheadProjection<'a>>,
) -> Option<AheadProjection<'a>> {
    let hidden = w.weight.cols();
    let (units, batch) = (state.units(), state.batch());
    let n = units.len();
    super::int8_step::quantize_h(Kernel::Avx512Vnni, w, h_prev, scratch, state.rows());
    let h_params = scratch.h_params;
    let zp = h_params.zero_point;
    let q = state.rows_of(&scratch.quantized, w.weight.padded_cols());
    if interleaves(batch, hidden, &units) {
        let (c, h) = state.row(0);
        let mut fused = ahead.take_if(|a| fuses(a));
        lstm_units_interleaved(scratch, q, w, ih, units.start, c, h, fused.as_mut());
        return ahead;
    }
    let acc = &mut scratch.accumulators[..];
    if batch == 1 && n == hidden {
        gemv_all_rows(q, zp, w.weight, acc);
    } else {
        let (row_bytes, backwards) = (w.weight.padded_cols(), scratch.backwards);
        super::for_each_gate_piece(4, hidden, &units, row_bytes, backwards, |r, offset| {
            let out = OutputRows::new(&mut acc[offset..], 4 * n);
            // SAFETY: the caller guarantees the kernel.
            unsafe { step_product(kernel, (q, batch, zp), w.weight, r, out) };
        });
    }
    let sums = RecurrentSums::<4>::new(h_params, w, acc, units.start, (n, batch));
    // SAFETY: the sums hold every unit of the state's rows (checked by `new`); this function's
    // features are row_cells'.
    unsafe { row_cells::lstm_rows(state, &sums, ih) };
    ahead
}

/// A step's recurrent sums for weight rows `rows` and every batch row: in AMX tiles behind
/// [`Kernel::Avx512Amx`] (when the batch fills them), else with `vpdpbusd`.
///
/// # Safety
/// `kernel` must be [`Kernel::Avx512Vnni`] or [`Kernel::Avx512Amx`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
unsafe fn step_product(
    kernel: Kernel,
    (q, batch, zp): (&[u8], usize, i32),
    w: &PackedI8,
    rows: Range<usize>,
    out: OutputRows<'_, i32>,
) {
    if kernel == Kernel::Avx512Amx {
        // SAFETY: a Kernel::Avx512Amx value exists only when AMX-INT8 was detected and this
        // process was granted its tiles.
        unsafe { super::amx::gemm_u8i8(q, batch, zp, w, rows, (out, Sums)) };
    } else {
        gemm_u8i8(q, batch, zp, w, rows, (out, Sums));
    }
}

/// See [`super::gru_units_u8i8`]: the same operations in the same order as its portable
/// composition, with the product going straight to the accumulators and the cell
/// dequantizing them itself (as [`lstm_units_u8i8`] does for the LSTM).
///
/// # Safety
/// As for [`lstm_units_u8i8`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
pub unsafe fn gru_units_u8i8(
    kernel: Kernel,
    w: QuantizedRecurrent<'_>,
    h_prev: &[f32],
    ih: &[f32],
    state: &mut UnitState<'_>,
    scratch: &mut StepScratch,
) {
    let hidden = w.weight.cols();
    let (units, batch) = (state.units(), state.batch());
    let n = units.len();
    super::int8_step::quantize_h(Kernel::Avx512Vnni, w, h_prev, scratch, state.rows());
    let h_params = scratch.h_params;
    let zp = h_params.zero_point;
    let q = state.rows_of(&scratch.quantized, w.weight.padded_cols());
    let h_rows = state.rows_of(h_prev, hidden);
    if interleaves(batch, hidden, &units) {
        let (_, h) = state.row(0);
        let h_old = &h_rows[units.start..units.end];
        gru_units_interleaved(scratch, q, w, ih, units.start, h_old, h);
        return;
    }
    let acc = &mut scratch.accumulators[..];
    if batch == 1 && n == hidden {
        gemv_all_rows(q, zp, w.weight, acc);
    } else {
        let (row_bytes, backwards) = (w.weight.padded_cols(), scratch.backwards);
        super::for_each_gate_piece(3, hidden, &units, row_bytes, backwards, |r, offset| {
            let out = OutputRows::new(&mut acc[offset..], 3 * n);
            // SAFETY: the caller guarantees the kernel.
            unsafe { step_product(kernel, (q, batch, zp), w.weight, r, out) };
        });
    }
    let sums = RecurrentSums::<3>::new(h_params, w, acc, units.start, (n, batch));
    // SAFETY: as in lstm_units_u8i8.
    unsafe { row_cells::gru_rows(state, &sums, ih, h_rows) };
}

/// A step's recurrent products as int8 sums (`[row][gate][unit]`, `G · n` a row, for the `n`
/// units from `first` of every batch row), dequantized as [`super::gemm_u8i8_dequantized`] computes them when a
/// cell reads them.
struct RecurrentSums<'a, const G: usize> {
    x: ActivationParams,
    w: QuantizedRecurrent<'a>,
    acc: &'a [i32],
    first: usize,
    n: usize,
}

impl<'a, const G: usize> RecurrentSums<'a, G> {
    /// The sums `acc` of `batch` rows of the `n` units from `first`.
    ///
    /// # Panics
    /// If `acc` does not hold `batch` rows of `G · n` sums, the units lie outside the hidden
    /// size, or the weight's bias and scales do not have its `G · H` rows.
    fn new(
        x: ActivationParams,
        w: QuantizedRecurrent<'a>,
        acc: &'a [i32],
        first: usize,
        (n, batch): (usize, usize),
    ) -> Self {
        let rows = w.bias.len();
        assert!(
            acc.len() >= batch * G * n
                && rows == G * w.weight.cols()
                && first + n <= w.weight.cols()
                && (w.scales.len() == 1 || w.scales.len() == rows),
            "recurrent sums: shapes"
        );
        RecurrentSums {
            x,
            w,
            acc,
            first,
            n,
        }
    }

    /// The index in `acc` of row `b`'s gate `k` unit `j`, and its weight row.
    fn at(&self, b: usize, k: usize, j: usize) -> (usize, usize) {
        let hidden = self.w.weight.cols();
        ((b * G + k) * self.n + j, k * hidden + self.first + j)
    }
}

// SAFETY: AVX-512 only, reached from row_cells' functions, which run behind it.
unsafe impl<const G: usize> row_cells::RecurrentGates for RecurrentSums<'_, G> {
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
    #[inline]
    unsafe fn sixteen(&self, b: usize, k: usize, j: usize) -> __m512 {
        let (a, r) = self.at(b, k, j);
        // SAFETY: the caller keeps j + 16 within the units and b within the rows, so 16 sums
        // from `a` lie in acc and weight rows r..r + 16 within G · H (checked by `new`).
        unsafe {
            let sums = _mm512_loadu_si512(self.acc.as_ptr().add(a).cast());
            dequantize_lanes(self.x, (self.w.scales, self.w.bias), sums, r, ALL_LANES)
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
    #[inline]
    unsafe fn eight(&self, b: usize, k: usize, j: usize, mask: __mmask8) -> __m256 {
        let (a, r) = self.at(b, k, j);
        let (w, x) = (self.w, self.x);
        // SAFETY: the caller keeps the mask's units within the units and b within the rows,
        // so their sums lie in acc and their weight rows within G · H (checked by `new`).
        unsafe {
            let scale = if w.scales.len() == 1 {
                _mm256_set1_ps(x.scale * w.scales[0])
            } else {
                _mm256_mul_ps(
                    _mm256_set1_ps(x.scale),
                    row_cells::load8(w.scales.as_ptr().add(r), mask),
                )
            };
            let sums = row_cells::load8(self.acc.as_ptr().add(a).cast(), mask);
            let v = _mm256_cvtepi32_ps(_mm256_castps_si256(sums));
            let bias = row_cells::load8(w.bias.as_ptr().add(r), mask);
            rescale256(x.engine.fused_rescale(), v, scale, bias)
        }
    }
}

/// [`super::lanes::activations`] on this kernel's vectors, for the tests.
#[cfg(test)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
pub(super) fn activations(x: &[f32]) -> [Vec<f32>; 3] {
    // SAFETY: this function's features are those of __m512's F32Lanes.
    unsafe { super::lanes::activations::<__m512>(x) }
}

/// Hidden units [`lstm_layer_small_u8i8`] handles at most: one 256-bit vector.
pub const SMALL_HIDDEN: usize = 8;

/// The whole recurrence of an int8 layer with one batch row and at most [`SMALL_HIDDEN`]
/// units: [`lstm_units_u8i8`] step after step, the same operations in the same order, but
/// with the weights, `h` and `c` kept in registers from one step to the next. A small
/// model's step is one long chain of dependent operations, and the loads, stores and calls
/// between the step's parts were a good part of it.
///
/// `ih` is `steps × 4H`, `h0` and `c` are `H` (`c` is updated), `out` is `steps × H`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
pub fn lstm_layer_small_u8i8(
    w: QuantizedRecurrent<'_>,
    ih: &[f32],
    h0: &[f32],
    c: &mut [f32],
    out: &mut [f32],
) {
    let (hidden, rows) = (w.weight.cols(), w.weight.rows());
    let steps = out.len() / hidden.max(1);
    assert!(
        (1..=SMALL_HIDDEN).contains(&hidden)
            && rows == 4 * hidden
            && w.bias.len() == rows
            && (w.scales.len() == 1 || w.scales.len() == rows)
            && h0.len() == hidden
            && c.len() == hidden
            && out.len() == steps * hidden
            && ih.len() == steps * rows
    );
    // At most 2 panels of 16 rows and 2 groups of 4 columns (hidden <= 8).
    let (panels, groups) = (rows.div_ceil(PANEL), w.weight.groups());
    let panel_len = groups * PANEL * 4;
    let units: __mmask8 = ((1u16 << hidden) - 1) as __mmask8;
    let fused = w.engine.fused_rescale();
    // SAFETY (this block): every load below stays inside its slice: panel p < panels holds
    // `groups` groups of 64 bytes; row sums, bias and scales are masked to rows < `rows`;
    // h0, c, ih and out are masked to the first `hidden` lanes of rows that exist (checked
    // above).
    unsafe {
        let weights: [[__m512i; 2]; 2] = std::array::from_fn(|p| {
            std::array::from_fn(|g| {
                if p < panels && g < groups {
                    _mm512_loadu_si512(w.weight.data().as_ptr().add(p * panel_len + g * 64).cast())
                } else {
                    _mm512_setzero_si512()
                }
            })
        });
        let row_sums: [__m512i; 2] = std::array::from_fn(|p| {
            let mask = row_mask(rows.saturating_sub(p * PANEL));
            _mm512_maskz_loadu_epi32(mask, w.weight.row_sums().as_ptr().add(p * PANEL))
        });
        let per_gate =
            |v: &[f32], k: usize| _mm256_maskz_loadu_ps(units, v.as_ptr().add(k * hidden));
        let bias: [__m256; 4] = std::array::from_fn(|k| per_gate(w.bias, k));
        let w_scales: [__m256; 4] = if w.scales.len() == 1 {
            [_mm256_set1_ps(w.scales[0]); 4]
        } else {
            std::array::from_fn(|k| per_gate(w.scales, k))
        };
        // Lanes past `hidden` hold 0 and stay 0: their gates are 0, so c' = 0 and h' = 0.
        // Zeros do not change the range either, which is widened to include 0 anyway.
        let mut h = _mm256_maskz_loadu_ps(units, h0.as_ptr());
        let mut c_t = _mm256_maskz_loadu_ps(units, c.as_ptr());
        // Gate k is rows k·H.. of the two panels' accumulators side by side: these indices
        // pick them out with one permutation, without a trip through memory.
        let gate_rows: [__m512i; 4] = std::array::from_fn(|k| {
            let first = (k * hidden) as i32;
            _mm512_add_epi32(
                _mm512_set1_epi32(first),
                _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0),
            )
        });
        for t in 0..steps {
            let (lo, hi) = avx2::fold_lanes(h, h);
            let params = choose_activation_params(w.engine, lo, hi);
            // As avx2::quantize_u8: round(h / scale) + zp, clamped to 0..=255.
            let zp = _mm256_set1_ps(params.zero_point as f32);
            let scaled = _mm256_mul_ps(h, _mm256_set1_ps(1.0 / params.scale));
            let rounded =
                _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(scaled);
            let clamped = _mm256_min_ps(
                _mm256_max_ps(_mm256_add_ps(rounded, zp), _mm256_setzero_ps()),
                _mm256_set1_ps(255.0),
            );
            let words = _mm256_cvtepi32_epi8(_mm256_cvttps_epi32(clamped));
            let quads = [
                _mm512_set1_epi32(_mm_cvtsi128_si32(words)),
                _mm512_set1_epi32(_mm_extract_epi32::<1>(words)),
            ];
            let zp_v = _mm512_set1_epi32(params.zero_point);
            let acc: [__m512i; 2] = std::array::from_fn(|p| {
                let init = zero_point_term(row_sums[p], zp_v);
                let even = _mm512_dpbusd_epi32(init, quads[0], weights[p][0]);
                _mm512_dpbusd_epi32(even, quads[1], weights[p][1])
            });
            let x_scale = _mm256_set1_ps(params.scale);
            let ih_t = ih.as_ptr().add(t * rows);
            let gate = |k: usize| {
                let scale = if w.scales.len() == 1 {
                    _mm256_set1_ps(params.scale * w.scales[0])
                } else {
                    _mm256_mul_ps(x_scale, w_scales[k])
                };
                // Lanes past `hidden` are zeroed (they would hold the next gate's rows).
                let rows_k =
                    _mm512_maskz_permutex2var_epi32(units.into(), acc[0], gate_rows[k], acc[1]);
                let v = _mm256_cvtepi32_ps(_mm512_castsi512_si256(rows_k));
                let hh = rescale256(fused, v, scale, bias[k]);
                _mm256_add_ps(hh, _mm256_maskz_loadu_ps(units, ih_t.add(k * hidden)))
            };
            (c_t, h) = cell([gate(0), gate(1), gate(2), gate(3)], c_t);
            _mm256_mask_storeu_ps(out.as_mut_ptr().add(t * hidden), units, h);
        }
        _mm256_mask_storeu_ps(c.as_mut_ptr(), units, c_t);
    }
}

/// One batch row's LSTM step for the `n = c.len()` units from `first` (both multiples of
/// 16, as is the hidden size; last units first when `scratch.backwards`): for every 16
/// units, the product of the row's quantized `h` `q` with their four gates' panels, then
/// at once their cell, as [`row_cells::lstm_rows`] computes it, from the sums still in
/// registers. Interleaving the two lets the cell's arithmetic run
/// while the next panels stream in from the cache, where a product over every row followed
/// by the cell over every unit leaves the vector units idle during one and the loads idle
/// during the other.
///
/// With `ahead`, each 16 units' product also computes their panel of the ahead projection
/// ([`hh_and_ahead_of_panels`]).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
fn lstm_units_interleaved(
    scratch: &StepScratch,
    q: &[u8],
    w: QuantizedRecurrent<'_>,
    ih: &[f32],
    first: usize,
    c: &mut [f32],
    h: &mut [f32],
    mut ahead: Option<&mut AheadProjection<'_>>,
) {
    let n = c.len();
    let (x, backwards) = (scratch.h_params, scratch.backwards);
    check_interleaved(4, w, q, ih, first, n);
    assert_eq!(h.len(), n);
    for j in piece_order(n, backwards) {
        // SAFETY: the checks above hold (see hh_of_panels, and the ahead projection's were
        // checked against the step); the ih index k·n + j + 16 <= 4n, and c and h hold
        // j + 16 <= n values.
        unsafe {
            let hh = match ahead.as_deref_mut() {
                // Every other block takes two blocks' panels of the ahead projection.
                Some(ahead) if (j / PANEL).is_multiple_of(2) => match (n - j) / PANEL {
                    1 => hh_and_ahead_of_panels::<4, 1>(x, w, q, (first, j, n), ahead),
                    _ => hh_and_ahead_of_panels::<4, 2>(x, w, q, (first, j, n), ahead),
                },
                _ => hh_of_panels::<4>(x, w, q, first + j),
            };
            let gate = |k: usize| _mm512_add_ps(hh[k], _mm512_loadu_ps(ih.as_ptr().add(k * n + j)));
            let c_old = _mm512_loadu_ps(c.as_ptr().add(j));
            let (c_new, h_new) = cell([gate(0), gate(1), gate(2), gate(3)], c_old);
            _mm512_storeu_ps(c.as_mut_ptr().add(j), c_new);
            _mm512_storeu_ps(h.as_mut_ptr().add(j), h_new);
        }
    }
}

/// One batch row's GRU step for the `n = h.len()` units from `first`, interleaved as
/// [`lstm_units_interleaved`] is for the LSTM, computing what [`row_cells::gru_rows`] does;
/// `h_old` is their previous state.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
fn gru_units_interleaved(
    scratch: &StepScratch,
    q: &[u8],
    w: QuantizedRecurrent<'_>,
    ih: &[f32],
    first: usize,
    h_old: &[f32],
    h: &mut [f32],
) {
    let n = h.len();
    let (x, backwards) = (scratch.h_params, scratch.backwards);
    check_interleaved(3, w, q, ih, first, n);
    assert_eq!(h_old.len(), n);
    for j in piece_order(n, backwards) {
        // SAFETY: the checks above hold (see hh_of_panels); the ih index k·n + j + 16 <= 3n,
        // and h_old and h hold j + 16 <= n values.
        unsafe {
            let hh = hh_of_panels::<3>(x, w, q, first + j);
            let ih = |k: usize| _mm512_loadu_ps(ih.as_ptr().add(k * n + j));
            let r_z = [0, 1].map(|k| _mm512_add_ps(hh[k], ih(k)));
            let h_new = gru_cell(r_z, ih(2), hh[2], _mm512_loadu_ps(h_old.as_ptr().add(j)));
            _mm512_storeu_ps(h.as_mut_ptr().add(j), h_new);
        }
    }
}

/// Whether a step of `units` runs interleaved ([`lstm_units_interleaved`],
/// [`gru_units_interleaved`]): one batch row, and the hidden size and the units' bounds on
/// whole panels.
fn interleaves(batch: usize, hidden: usize, units: &Range<usize>) -> bool {
    batch == 1
        && [hidden, units.start, units.end]
            .iter()
            .all(|v| v.is_multiple_of(PANEL))
}

/// The first unit of every 16 of `n`, last first when `backwards` (see
/// [`super::for_each_gate_piece`]).
fn piece_order(n: usize, backwards: bool) -> impl Iterator<Item = usize> {
    let count = n / PANEL;
    (0..count).map(move |i| PANEL * if backwards { count - 1 - i } else { i })
}

/// The conditions [`hh_of_panels`] needs for every 16 of the `n` units from `first` of a
/// layer with `gates` gates, and `ih` holding their `gates · n` input projections.
///
/// # Panics
/// If they do not hold.
fn check_interleaved(
    gates: usize,
    w: QuantizedRecurrent<'_>,
    q: &[u8],
    ih: &[f32],
    first: usize,
    n: usize,
) {
    let (hidden, rows) = (w.weight.cols(), gates * w.weight.cols());
    assert!(
        [hidden, first, n].iter().all(|v| v.is_multiple_of(PANEL))
            && first + n <= hidden
            && w.weight.rows() == rows
            && w.bias.len() == rows
            && (w.scales.len() == 1 || w.scales.len() == rows)
            && ih.len() == gates * n
            && q.len() >= 4 * w.weight.groups(),
        "interleaved step: shapes"
    );
}

/// `W_hh h + b_hh` of the `G` gates for the 16 units from `unit`, dequantized as
/// [`super::gemm_u8i8_dequantized`] computes it, from the sums of one panel per gate (eight dpbusd
/// chains for an LSTM) with the quantized `h` `q` (zero point and scale `x`).
///
/// # Safety
/// [`check_interleaved`] holds for `G` gates and these units: the hidden size and `unit`
/// are multiples of 16, so gate k's rows `k·H + unit..+16` are one whole panel.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
unsafe fn hh_of_panels<const G: usize>(
    x: ActivationParams,
    w: QuantizedRecurrent<'_>,
    q: &[u8],
    unit: usize,
) -> [__m512; G] {
    // SAFETY: the caller's contract (see gate_panels and dequantize_gates); q holds the
    // weight's groups.
    unsafe {
        let (panels, init) = gate_panels::<G>(x, w, unit);
        let acc = panels_dot::<G>(q.as_ptr(), panels, w.weight.groups(), init);
        dequantize_gates::<G>(x, w, acc, unit)
    }
}

/// The panel of each of the `G` gates for the 16 units from `unit`, and each one's sums'
/// starting value, its zero-point term (see [`zero_point_sums`]).
///
/// # Safety
/// As for [`hh_of_panels`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
unsafe fn gate_panels<const G: usize>(
    x: ActivationParams,
    w: QuantizedRecurrent<'_>,
    unit: usize,
) -> ([*const i8; G], [__m512i; G]) {
    let row = |k: usize| k * w.weight.cols() + unit;
    // SAFETY: row(k) + 16 <= G·H rows, on a whole panel (the caller's contract).
    unsafe {
        let panels = std::array::from_fn(|k| panel_of(w.weight, row(k)));
        let init = std::array::from_fn(|k| zero_point_sums(w.weight, row(k), x.zero_point));
        (panels, init)
    }
}

/// `W_hh h + b_hh` of the `G` gates for the 16 units from `unit` from their sums `acc`, as
/// [`super::gemm_u8i8_dequantized`] computes it.
///
/// # Safety
/// As for [`hh_of_panels`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
unsafe fn dequantize_gates<const G: usize>(
    x: ActivationParams,
    w: QuantizedRecurrent<'_>,
    acc: [__m512i; G],
    unit: usize,
) -> [__m512; G] {
    let row = |k: usize| k * w.weight.cols() + unit;
    // SAFETY: rows row(k)..+16 have their bias and scales (the caller's contract).
    std::array::from_fn(|k| unsafe {
        dequantize_lanes(x, (w.scales, w.bias), acc[k], row(k), ALL_LANES)
    })
}

/// The first byte of the panel holding weight row `row` of `m`.
///
/// # Safety
/// `row < m.rows()`.
#[inline]
unsafe fn panel_of(m: &PackedI8, row: usize) -> *const i8 {
    // SAFETY: the panel of an existing row lies within the packed data.
    unsafe { m.data().as_ptr().add(row / PANEL * m.panel_len()) }
}

/// `−zp · Σ_k w[r][k]` for the 16 weight rows of `m` from `row`: where a panel's exact sums
/// start.
///
/// # Safety
/// Rows `row..row + 16` of `m` must exist.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
unsafe fn zero_point_sums(m: &PackedI8, row: usize, zp: i32) -> __m512i {
    // SAFETY: the caller guarantees the 16 row sums.
    let sums = unsafe { _mm512_loadu_si512(m.row_sums().as_ptr().add(row).cast()) };
    zero_point_term(sums, _mm512_set1_epi32(zp))
}

/// Whether the interleaved LSTM step runs `ahead` in its own pass over the weights: it must
/// have 1 to 4 input rows (as many as the step has panels a block, so that the fused loop
/// keeps every sum in registers).
fn fuses(ahead: &AheadProjection<'_>) -> bool {
    (1..=4).contains(&ahead.rows())
}

/// [`hh_of_panels`] for the 16 units from `first + j` (`j` counted among the step's `n`
/// units from `first`), and in the same pass over the weights `ahead`'s panels of its gate
/// for the `AP` blocks of 16 units from there, dequantized into `ahead.out` as
/// [`super::gemm_u8i8_dequantized`] computes them.
///
/// # Safety
/// As for [`hh_of_panels`]; `ahead` was checked against the step (so `W_ih` has the layer's
/// `G · H` rows, each 16 of them one whole panel), it has 1 to `G` input rows, and
/// `j + 16 · AP <= n`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
unsafe fn hh_and_ahead_of_panels<const G: usize, const AP: usize>(
    x: ActivationParams,
    w: QuantizedRecurrent<'_>,
    q: &[u8],
    (first, j, n): (usize, usize, usize),
    ahead: &mut AheadProjection<'_>,
) -> [__m512; G] {
    let a_w = ahead.w.weight;
    let a_row = |p: usize| ahead.gate * w.weight.cols() + first + j + p * PANEL;
    let rows = ahead.rows();
    // SAFETY: the caller's contract: every panel, row sum, bias and scale read here exists
    // (rows a_row(p) to +16 of W_ih, and those of hh_of_panels), q and the input rows hold
    // their groups, and out holds rows × G × n values, of which gate `gate`'s units
    // j..j + 16 · AP are written.
    unsafe {
        let (panels, init) = gate_panels::<G>(x, w, first + j);
        // Rows past the last read the last one again; their sums are dropped.
        let input = ahead.input.as_ptr();
        let x_rows = std::array::from_fn(|r| input.add(r.min(rows - 1) * a_w.padded_cols()));
        let a_zp = ahead.params.zero_point;
        let a_init = std::array::from_fn(|p| zero_point_sums(a_w, a_row(p), a_zp));
        let a_panels = std::array::from_fn(|p| panel_of(a_w, a_row(p)));
        let other = (x_rows, (a_panels, a_w.groups(), a_init));
        let groups = w.weight.groups();
        let (acc, a_acc) = panels_dot_with_rows::<G, AP>(q.as_ptr(), (panels, groups, init), other);
        let a_parts = (ahead.w.scales, ahead.w.bias);
        let out = ahead.out.as_mut_ptr().add(ahead.gate * n + j);
        for (p, panel) in a_acc.iter().enumerate() {
            for (r, sums) in panel.iter().enumerate().take(rows) {
                let y = dequantize_lanes(ahead.params, a_parts, *sums, a_row(p), ALL_LANES);
                _mm512_storeu_ps(out.add(r * G * n + p * PANEL), y);
            }
        }
        dequantize_gates::<G>(x, w, acc, first + j)
    }
}

/// [`panels_dot`] of `q` with `NP` panels (`groups` groups, sums from `init`), and in the same
/// loop the sums of `AP` other panels `a_w` (`a_groups` groups) with `NP` rows `x_rows`, each
/// from `a_init`: exact integer sums, so the order of the terms changes nothing.
///
/// # Safety
/// As for [`panels_dot`]; every `a_w[p]` must point at a panel of `a_groups` groups of 64
/// bytes and every `x_rows[r]` at `4 · a_groups` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[allow(clippy::needless_range_loop, clippy::type_complexity)]
#[inline]
unsafe fn panels_dot_with_rows<const NP: usize, const AP: usize>(
    q: *const u8,
    (w, groups, init): ([*const i8; NP], usize, [__m512i; NP]),
    (x_rows, (a_w, a_groups, a_init)): ([*const u8; NP], ([*const i8; AP], usize, [__m512i; AP])),
) -> ([__m512i; NP], [[__m512i; NP]; AP]) {
    let mut even = init;
    let mut odd = [_mm512_setzero_si512(); NP];
    let mut other = a_init.map(|v| [v; NP]);
    // SAFETY (all reads): groups g < groups of q and every panel, g < a_groups of every a_w
    // panel and every row (the caller's contract).
    let x = |p: *const u8, g: usize| unsafe {
        _mm512_set1_epi32(p.add(g * 4).cast::<i32>().read_unaligned())
    };
    let wv = |p: *const i8, g: usize| unsafe { _mm512_loadu_si512(p.add(g * 64).cast()) };
    // Pairs of groups both products have.
    let both = groups.min(a_groups) / 2 * 2;
    for g in (0..both).step_by(2) {
        let (x0, x1) = (x(q, g), x(q, g + 1));
        for p in 0..NP {
            even[p] = _mm512_dpbusd_epi32(even[p], x0, wv(w[p], g));
            odd[p] = _mm512_dpbusd_epi32(odd[p], x1, wv(w[p], g + 1));
        }
        let w0: [__m512i; AP] = std::array::from_fn(|p| wv(a_w[p], g));
        let w1: [__m512i; AP] = std::array::from_fn(|p| wv(a_w[p], g + 1));
        for r in 0..NP {
            let (x0, x1) = (x(x_rows[r], g), x(x_rows[r], g + 1));
            for p in 0..AP {
                let sum = _mm512_dpbusd_epi32(other[p][r], x0, w0[p]);
                other[p][r] = _mm512_dpbusd_epi32(sum, x1, w1[p]);
            }
        }
    }
    // The rest of the longer one.
    // SAFETY: groups both..groups of q and of every panel exist.
    let rest = unsafe {
        let w = w.map(|p| p.add(both * 64));
        panels_dot::<NP>(q.add(both * 4), w, groups - both, even)
    };
    for g in both..a_groups {
        for r in 0..NP {
            let x0 = x(x_rows[r], g);
            for p in 0..AP {
                other[p][r] = _mm512_dpbusd_epi32(other[p][r], x0, wv(a_w[p], g));
            }
        }
    }
    (
        std::array::from_fn(|p| _mm512_add_epi32(rest[p], odd[p])),
        other,
    )
}

/// Every lane of a 16-lane mask.
const ALL_LANES: __mmask16 = 0xffff;

/// `acc · (x_scale · w_scale) + bias` for the weight rows from `row` in the lanes of `mask`
/// (the other lanes 0), whose sums `acc` holds, as [`super::gemm_u8i8_dequantized`] computes it;
/// `w_scales` holds one scale, or one per weight row. A full mask loads unmasked.
///
/// # Safety
/// The weight rows of `mask`'s lanes from `row` must exist in `bias` (and in `w_scales` when
/// it holds one per row).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
unsafe fn dequantize_lanes(
    x: ActivationParams,
    (w_scales, bias): (&[f32], &[f32]),
    acc: __m512i,
    row: usize,
    mask: __mmask16,
) -> __m512 {
    // SAFETY: the caller guarantees the rows of the mask's lanes.
    let load = |values: &[f32]| unsafe {
        let p = values.as_ptr().add(row);
        if mask == ALL_LANES {
            _mm512_loadu_ps(p)
        } else {
            _mm512_maskz_loadu_ps(mask, p)
        }
    };
    let scale = if w_scales.len() == 1 {
        _mm512_set1_ps(x.scale * w_scales[0])
    } else {
        _mm512_mul_ps(_mm512_set1_ps(x.scale), load(w_scales))
    };
    let fused = x.engine.fused_rescale();
    rescale(fused, _mm512_cvtepi32_ps(acc), scale, load(bias))
}

/// `acc[r] = Σ_k (q[k] − zp) · w[r][k]` for every row of `w` (one activation row), four
/// panels at a time (eight dpbusd chains, so the product runs at the units' throughput rather
/// than one chain's latency), each panel starting from its zero-point term (exact integer
/// sums: the order does not change them).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
fn gemv_all_rows(q: &[u8], zp: i32, w: &PackedI8, acc: &mut [i32]) {
    let (rows, groups) = (w.rows(), w.groups());
    assert!(q.len() >= 4 * groups && acc.len() == rows);
    let zp_v = _mm512_set1_epi32(zp);
    let panels = rows.div_ceil(PANEL);
    let full_quads = rows / PANEL / 4 * 4;
    // SAFETY (both loops): the masks limit the row sums and outputs to rows < `rows`; each
    // panel holds `groups` groups of 64 bytes and q has 4 bytes per group (checked above).
    for panel in (0..full_quads).step_by(4) {
        unsafe {
            let row = |p: usize| (panel + p) * PANEL;
            let init = std::array::from_fn(|p| zero_point_sums(w, row(p), zp));
            let panels = std::array::from_fn(|p| panel_of(w, row(p)));
            let sums = panels_dot::<4>(q.as_ptr(), panels, groups, init);
            for (p, sum) in sums.iter().enumerate() {
                let dst = acc.as_mut_ptr().add((panel + p) * PANEL);
                _mm512_storeu_si512(dst.cast(), *sum);
            }
        }
    }
    for panel in full_quads..panels {
        let r = panel * PANEL;
        let mask = row_mask(rows - r);
        unsafe {
            let sums = _mm512_maskz_loadu_epi32(mask, w.row_sums().as_ptr().add(r));
            let init = [zero_point_term(sums, zp_v)];
            let [sum] = panels_dot::<1>(q.as_ptr(), [panel_of(w, r)], groups, init);
            // A full store can forward to the cell's loads; a masked one makes them wait.
            if mask == ALL_LANES {
                _mm512_storeu_si512(acc.as_mut_ptr().add(r).cast(), sum);
            } else {
                _mm512_mask_storeu_epi32(acc.as_mut_ptr().add(r), mask, sum);
            }
        }
    }
}

/// `−zp · Σ_k w[r][k]` for the 16 rows of `sums`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
fn zero_point_term(sums: __m512i, zp: __m512i) -> __m512i {
    _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_mullo_epi32(sums, zp))
}

/// `init[p] + Σ_g dpbusd(q[g], panel p group g)` for the `NP` panels starting at `w[p]`, with
/// two chains per panel (even and odd groups).
///
/// # Safety
/// Every `w[p]` must point at a panel holding `groups` groups of 64 bytes, and `q` at
/// `4 · groups` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
// Indexing even[p] and odd[p] by the panel reads clearer than zipped iterators.
#[allow(clippy::needless_range_loop)]
#[inline]
unsafe fn panels_dot<const NP: usize>(
    q: *const u8,
    w: [*const i8; NP],
    groups: usize,
    init: [__m512i; NP],
) -> [__m512i; NP] {
    let mut even = init;
    let mut odd = [_mm512_setzero_si512(); NP];
    // SAFETY: the caller guarantees every group g < groups of every panel, and of q.
    let x = |g: usize| unsafe { _mm512_set1_epi32(q.add(g * 4).cast::<i32>().read_unaligned()) };
    let wv = |p: usize, g: usize| unsafe { _mm512_loadu_si512(w[p].add(g * 64).cast()) };
    for g in (0..groups - groups % 2).step_by(2) {
        let (x0, x1) = (x(g), x(g + 1));
        for p in 0..NP {
            even[p] = _mm512_dpbusd_epi32(even[p], x0, wv(p, g));
            odd[p] = _mm512_dpbusd_epi32(odd[p], x1, wv(p, g + 1));
        }
    }
    if groups % 2 == 1 {
        let x0 = x(groups - 1);
        for p in 0..NP {
            even[p] = _mm512_dpbusd_epi32(even[p], x0, wv(p, groups - 1));
        }
    }
    std::array::from_fn(|p| _mm512_add_epi32(even[p], odd[p]))
}

/// See [`super::all_finite`]: 64 values a pass, the largest exponent bits of each lane kept in
/// four accumulators (all ones only if some value was infinite or NaN), the last ones with a
/// masked load (the lanes it leaves out read as 0, finite).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
pub fn all_finite(x: &[f32]) -> bool {
    let exponent = _mm512_set1_epi32(avx2::EXPONENT_BITS);
    let largest = |acc: __m512i, v: __m512i| _mm512_max_epu32(acc, _mm512_and_si512(v, exponent));
    let chunks = x.chunks_exact(64);
    let tail = chunks.remainder();
    let mut acc = [_mm512_setzero_si512(); 4];
    for c in chunks {
        for (k, acc) in acc.iter_mut().enumerate() {
            // SAFETY: c has exactly 64 floats.
            let v = unsafe { _mm512_loadu_si512(c.as_ptr().add(16 * k).cast()) };
            *acc = largest(*acc, v);
        }
    }
    for part in tail.chunks(PANEL) {
        let mask = row_mask(part.len());
        // SAFETY: the mask covers the part's floats only.
        let v = unsafe { _mm512_maskz_loadu_epi32(mask, part.as_ptr().cast()) };
        acc[0] = largest(acc[0], v);
    }
    let acc = _mm512_max_epu32(
        _mm512_max_epu32(acc[0], acc[1]),
        _mm512_max_epu32(acc[2], acc[3]),
    );
    _mm512_cmpeq_epi32_mask(acc, exponent) == 0
}

/// See [`super::min_max`]: 32 values a pass in two pairs of accumulators (two independent
/// chains), then the last ones one by one. A NaN is skipped as [`avx2::min_max`] skips it.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
pub fn min_max(x: &[f32]) -> (f32, f32) {
    let chunks = x.chunks_exact(32);
    let tail = chunks.remainder();
    if chunks.len() == 0 {
        return avx2::min_max(x);
    }
    let mut lo = [_mm512_set1_ps(f32::INFINITY); 2];
    let mut hi = [_mm512_set1_ps(f32::NEG_INFINITY); 2];
    for c in chunks {
        for k in 0..2 {
            // SAFETY: c has exactly 32 floats.
            let v = unsafe { _mm512_loadu_ps(c.as_ptr().add(16 * k)) };
            // `v` first: vminps/vmaxps return the second operand when either is NaN.
            lo[k] = _mm512_min_ps(v, lo[k]);
            hi[k] = _mm512_max_ps(v, hi[k]);
        }
    }
    let (lo, hi) = (_mm512_min_ps(lo[0], lo[1]), _mm512_max_ps(hi[0], hi[1]));
    let upper = |v: __m512| _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
    let (mut lo, mut hi) = avx2::fold_lanes(
        _mm256_min_ps(_mm512_castps512_ps256(lo), upper(lo)),
        _mm256_max_ps(_mm512_castps512_ps256(hi), upper(hi)),
    );
    for &v in tail {
        (lo, hi) = (lo.min(v), hi.max(v));
    }
    (lo, hi)
}

/// See [`super::quantize_u8`]: 16 values a vector, stored with one saturating narrowing
/// (exact: they are already clamped to 0..=255), the rest of each row on AVX2.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
pub fn quantize_u8(
    x: &[f32],
    cols: usize,
    inv_scale: f32,
    zero_point: i32,
    out: &mut [u8],
    out_stride: usize,
) {
    let inv = _mm512_set1_ps(inv_scale);
    let zp = _mm512_set1_ps(zero_point as f32);
    let (lo, hi) = (_mm512_setzero_ps(), _mm512_set1_ps(255.0));
    let full = cols / 16 * 16;
    for (x_row, out_row) in x.chunks_exact(cols).zip(out.chunks_exact_mut(out_stride)) {
        for j in (0..full).step_by(16) {
            // SAFETY: j + 16 <= cols = x_row.len() <= out_row.len().
            unsafe {
                let t = _mm512_mul_ps(_mm512_loadu_ps(x_row.as_ptr().add(j)), inv);
                let t =
                    _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(t);
                // max first: a NaN becomes 0, as on AVX2.
                let t = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(t, zp), lo), hi);
                let bytes = _mm512_cvtusepi32_epi8(_mm512_cvttps_epi32(t));
                _mm_storeu_si128(out_row.as_mut_ptr().add(j).cast(), bytes);
            }
        }
        if full < cols {
            let rest = cols - full;
            let (x_rest, out_rest) = (&x_row[full..], &mut out_row[full..cols]);
            avx2::quantize_u8(x_rest, rest, inv_scale, zero_point, out_rest, rest);
        }
    }
}

/// `acc · scale + bias` rounded once (`fused`, x86) or the product rounded first (qnnpack),
/// as [`super::gemm_u8i8_dequantized`] describes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
fn rescale(fused: bool, acc: __m512, scale: __m512, bias: __m512) -> __m512 {
    if fused {
        _mm512_fmadd_ps(acc, scale, bias)
    } else {
        _mm512_add_ps(_mm512_mul_ps(acc, scale), bias)
    }
}

/// The lanes of the first `n` rows of a panel (all 16 when `n >= 16`).
fn row_mask(n: usize) -> __mmask16 {
    if n >= PANEL { 0xffff } else { (1 << n) - 1 }
}

/// See [`super::lstm_cell`]: thirty-two units a pass while they last (two vectors, [`Two`]),
/// then sixteen, the rest on AVX2 (the same operations, lane for lane).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
pub fn lstm_cell(hh: [&[f32]; 4], ih: [&[f32]; 4], c: &mut [f32], h: &mut [f32]) {
    let n = c.len();
    assert!(h.len() == n && hh.iter().chain(&ih).all(|s| s.len() == n));
    let (pairs, full) = (n / 32 * 32, n / 16 * 16);
    // SAFETY (both loops): every slice holds n >= full floats (checked above), and each
    // pass reads and writes below j + 32 <= pairs or j + 16 <= full.
    unsafe {
        for j in (0..pairs).step_by(32) {
            lstm_lanes::<Two<__m512>>(hh, ih, c, h, j);
        }
        for j in (pairs..full).step_by(16) {
            lstm_lanes::<__m512>(hh, ih, c, h, j);
        }
    }
    let (hh, ih) = (hh.map(|x| &x[full..]), ih.map(|x| &x[full..]));
    avx2::lstm_cell(hh, ih, &mut c[full..], &mut h[full..]);
}

/// See [`super::gru_cell`]: thirty-two units a pass while they last (two vectors, [`Two`]),
/// then sixteen, the rest on AVX2.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
pub fn gru_cell_rows(hh: [&[f32]; 3], ih: [&[f32]; 3], h_old: &[f32], h: &mut [f32]) {
    let n = h.len();
    assert!(h_old.len() == n && hh.iter().chain(&ih).all(|s| s.len() == n));
    let (pairs, full) = (n / 32 * 32, n / 16 * 16);
    // SAFETY (both loops): every slice holds n >= full floats (checked above), and each
    // pass reads and writes below j + 32 <= pairs or j + 16 <= full.
    unsafe {
        for j in (0..pairs).step_by(32) {
            gru_lanes::<Two<__m512>>(hh, ih, h_old, h, j);
        }
        for j in (pairs..full).step_by(16) {
            gru_lanes::<__m512>(hh, ih, h_old, h, j);
        }
    }
    let (hh, ih) = (hh.map(|x| &x[full..]), ih.map(|x| &x[full..]));
    avx2::gru_cell(hh, ih, &h_old[full..], &mut h[full..]);
}

// SAFETY: __m512 reaches these only from functions enabling AVX-512F.
unsafe impl Wide for __m512 {
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the trait's contract.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the trait's contract.
        unsafe { _mm512_storeu_ps(p, self) }
    }
}

/// `NP` panels × `MR` rows of f32, one FMA per column in column order.
///
/// # Safety
/// `w` must point at `NP` consecutive panels of `16 k` floats, `a` at `MR` rows of `k` floats.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
// Indexing acc[p][i] by both loop counters reads clearer than nested iterators.
#[allow(clippy::needless_range_loop)]
#[inline]
unsafe fn micro_f32<const NP: usize, const MR: usize>(
    a: *const f32,
    k: usize,
    w: *const f32,
) -> [[__m512; MR]; NP] {
    let mut acc = [[_mm512_setzero_ps(); MR]; NP];
    for kk in 0..k {
        let mut wv = [_mm512_setzero_ps(); NP];
        for (p, wv) in wv.iter_mut().enumerate() {
            // SAFETY: the caller guarantees panel p has column kk (16 floats).
            *wv = unsafe { _mm512_loadu_ps(w.add((p * k + kk) * PANEL)) };
        }
        for i in 0..MR {
            // SAFETY: the caller guarantees row i has column kk.
            let av = _mm512_set1_ps(unsafe { *a.add(i * k + kk) });
            for p in 0..NP {
                acc[p][i] = _mm512_fmadd_ps(wv[p], av, acc[p][i]);
            }
        }
    }
    acc
}

// SAFETY: every method is one AVX-512F instruction or a short sequence of them, and __m512
// values reach these methods only from functions enabling the AVX-512 features.
unsafe impl Lanes for __m512 {
    type Float = f32;
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        // SAFETY (every method): the trait's contract: the CPU has avx512f.
        unsafe { _mm512_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        unsafe { _mm512_add_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        unsafe { _mm512_sub_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        unsafe { _mm512_mul_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn div(self, b: Self) -> Self {
        unsafe { _mm512_div_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        unsafe { _mm512_fmadd_ps(self, b, c) }
    }
    #[inline(always)]
    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self {
        unsafe { _mm512_fnmadd_ps(self, b, c) }
    }
    #[inline(always)]
    unsafe fn round_even(self) -> Self {
        // To nearest, ties to even, exceptions suppressed.
        unsafe { _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self) }
    }
}

// SAFETY: as above.
unsafe impl F32Lanes for __m512 {
    #[inline(always)]
    unsafe fn floor(self) -> Self {
        // SAFETY (every method): as for Lanes.
        // Round toward −∞, exceptions suppressed.
        unsafe { _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(self) }
    }
    #[inline(always)]
    unsafe fn abs(self) -> Self {
        unsafe { _mm512_abs_ps(self) }
    }
    #[inline(always)]
    unsafe fn or_sign_of(self, x: Self) -> Self {
        unsafe {
            let sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(i32::MIN));
            _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(self), sign))
        }
    }
    #[inline(always)]
    unsafe fn pow2(n: Self) -> Self {
        unsafe {
            let bits = _mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127));
            _mm512_castsi512_ps(_mm512_slli_epi32::<23>(bits))
        }
    }
    #[inline(always)]
    unsafe fn ldexp(self, q: Self) -> Self {
        // `self · 2^floor(q)`, rounded once to nearest even (subnormals included, as the
        // two steps' second rounding gives them): q holds integers, so floor(q) = q.
        unsafe { _mm512_scalef_ps(self, q) }
    }
    #[inline(always)]
    unsafe fn select_below(self, threshold: Self, below: Self, otherwise: Self) -> Self {
        unsafe {
            let is_below = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(self, threshold);
            _mm512_mask_blend_ps(is_below, otherwise, below)
        }
    }

    type F64 = __m512d;
    #[inline(always)]
    unsafe fn via_f64<F: F64Map>(self) -> Self {
        unsafe {
            let as_f64 = _mm512_castps_pd(self);
            let low = F::apply(_mm512_cvtps_pd(_mm512_castps512_ps256(self)));
            let high = F::apply(_mm512_cvtps_pd(_mm256_castpd_ps(
                _mm512_extractf64x4_pd::<1>(as_f64),
            )));
            let low = _mm512_castps256_ps512(_mm512_cvtpd_ps(low));
            let high = _mm256_castps_pd(_mm512_cvtpd_ps(high));
            _mm512_castpd_ps(_mm512_insertf64x4::<1>(_mm512_castps_pd(low), high))
        }
    }
}

// SAFETY: every method is one AVX-512F instruction, and __m512d values reach these methods
// only from functions enabling the AVX-512 features.
unsafe impl Lanes for __m512d {
    type Float = f64;
    #[inline(always)]
    unsafe fn splat(v: f64) -> Self {
        // SAFETY (every method): the trait's contract: the CPU has avx512f.
        unsafe { _mm512_set1_pd(v) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        unsafe { _mm512_add_pd(self, b) }
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        unsafe { _mm512_sub_pd(self, b) }
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        unsafe { _mm512_mul_pd(self, b) }
    }
    #[inline(always)]
    unsafe fn div(self, b: Self) -> Self {
        unsafe { _mm512_div_pd(self, b) }
    }
    #[inline(always)]
    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        unsafe { _mm512_fmadd_pd(self, b, c) }
    }
    #[inline(always)]
    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self {
        unsafe { _mm512_fnmadd_pd(self, b, c) }
    }
    #[inline(always)]
    unsafe fn round_even(self) -> Self {
        unsafe { _mm512_roundscale_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self) }
    }
}

// SAFETY: as above.
unsafe impl F64Lanes for __m512d {
    #[inline(always)]
    unsafe fn pow2(n: Self) -> Self {
        // `1 · 2^floor(n)`, exact: n holds integers.
        // SAFETY: the trait's contract: the CPU has avx512f.
        unsafe { _mm512_scalef_pd(_mm512_set1_pd(1.0), n) }
    }
}
