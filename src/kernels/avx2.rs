//! AVX2 + FMA kernels, bit-for-bit twins of [`super::scalar`].
//!
//! Int8 products use `vpmaddubsw` (u8 × i8, adjacent pairs summed into saturating i16) then
//! `vpmaddwd` with ones (i16 pairs into i32). The i16 step cannot saturate here: activations
//! are quantized with `reduce_range` (qmax = 127), which leaves them at most 128 (`x / scale`
//! and the zero point are rounded separately, and each can gain a half), and weights are
//! −128..=127, so a pair sums to between 2 · 128 · −128 = −32768 and 2 · 128 · 127 = 32512,
//! both within i16. Full-range activations (qnnpack's, up to 255) could saturate, so for them
//! each byte is split into `min(a, 128)` and `a − min(a, 128)` (at most 127), two products
//! that cannot, summed in i32: exact, at twice the work.

use std::arch::x86_64::*;
use std::ops::Range;

use super::OutputRows;
use super::activation::Engine;
use super::gemm::{Dequantized, MicroKernel, Sink, Sums, SumsOut, Tile, emit_tile, gemm};
use super::lanes::{F32Lanes, F64Lanes, F64Map, Lanes, Two, Wide, gru_lanes, lstm_lanes};
use super::pack::{PANEL, PackedF32, PackedI8};
use super::scalar;

/// Panels one pass over a block of activation rows covers.
const GROUP: usize = 2;

/// Activation rows per block: four, then two, then one.
fn block_rows(rows_left: usize) -> usize {
    match rows_left {
        4.. => 4,
        2 | 3 => 2,
        _ => 1,
    }
}

/// See [`super::gemm_u8i8`] and [`super::gemm_u8i8_dequantized`]. Activations must be at
/// most `engine.activation_max()`; the full-range (qnnpack) ones take the split path (see the
/// module doc).
#[target_feature(enable = "avx2,fma")]
pub fn gemm_u8i8<O: StorePanel>(
    a: &[u8],
    m: usize,
    zp: i32,
    engine: Engine,
    w: &PackedI8,
    rows: Range<usize>,
    (out, sums_out): (OutputRows<'_, O::Out>, O),
) {
    let (zp_v, row_sums) = (_mm256_set1_epi32(zp), w.row_sums());
    if engine.activation_max() <= 128 {
        let kernel = U8I8::<O, false> {
            zp,
            zp_v,
            row_sums,
            sums_out,
        };
        gemm(&kernel, a, m, w, rows, out);
    } else {
        let kernel = U8I8::<O, true> {
            zp,
            zp_v,
            row_sums,
            sums_out,
        };
        gemm(&kernel, a, m, w, rows, out);
    }
}

/// A [`SumsOut`] applied to a whole panel of sums at once.
///
/// # Safety
/// `store` may use AVX2 and FMA: call it only on a CPU that has them.
pub unsafe trait StorePanel: SumsOut {
    /// Writes the outputs of the 8 weight rows from `first_row`, whose sums `sums` holds, to
    /// `dst`.
    ///
    /// # Safety
    /// Those weight rows must exist and `dst` hold 8 values.
    unsafe fn store(&self, sums: __m256i, first_row: usize, dst: *mut Self::Out);
}

// SAFETY: AVX2 only in `store`, whose callers run behind a Kernel::Avx2 value.
unsafe impl StorePanel for Sums {
    #[inline(always)]
    unsafe fn store(&self, sums: __m256i, _first_row: usize, dst: *mut i32) {
        // SAFETY: the caller guarantees 8 values at dst and the CPU's AVX2.
        unsafe { _mm256_storeu_si256(dst.cast(), sums) };
    }
}

// SAFETY: as for Sums.
unsafe impl StorePanel for Dequantized<'_> {
    #[inline(always)]
    unsafe fn store(&self, sums: __m256i, first_row: usize, dst: *mut f32) {
        // SAFETY: the caller guarantees the weight rows (so their bias and scales), 8 values
        // at dst and the CPU's AVX2 and FMA; the same operations as `SumsOut::finish`'s.
        unsafe {
            let scale = if self.w_scales.len() == 1 {
                _mm256_set1_ps(self.x.scale * self.w_scales[0])
            } else {
                let w_scales = _mm256_loadu_ps(self.w_scales.as_ptr().add(first_row));
                _mm256_mul_ps(_mm256_set1_ps(self.x.scale), w_scales)
            };
            let bias = _mm256_loadu_ps(self.bias.as_ptr().add(first_row));
            let fused = self.x.engine.fused_rescale();
            let y = rescale(fused, _mm256_cvtepi32_ps(sums), scale, bias);
            _mm256_storeu_ps(dst, y);
        }
    }
}

/// See [`super::gemm_f32`].
#[target_feature(enable = "avx2,fma")]
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

/// The u8 × i8 micro-kernel: 16 rows of a panel in two 256-bit accumulators; its store
/// subtracts the zero-point term `zp · Σ_k w[r][k]` and writes what `sums_out` makes of the
/// sums. `FULL_RANGE` activations (above 128) are split in two products. Made only inside
/// [`gemm_u8i8`].
struct U8I8<'a, O, const FULL_RANGE: bool> {
    zp: i32,
    zp_v: __m256i,
    row_sums: &'a [i32],
    sums_out: O,
}

// SAFETY: a U8I8 exists only inside gemm_u8i8, which enables avx2 and fma and is called only
// behind a Kernel::Avx2 value.
unsafe impl<O: StorePanel, const FULL_RANGE: bool> MicroKernel for U8I8<'_, O, FULL_RANGE> {
    type Lhs = u8;
    type Rhs = i8;
    type Out = O::Out;
    type Lane = i32;
    type Acc = [__m256i; 2];
    const GROUP_PANELS: usize = GROUP;

    #[inline(always)]
    fn block_rows(rows_left: usize) -> usize {
        block_rows(rows_left)
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
                    for pp in 0..GROUP {
                        let wp = w.add(pp * panel_len);
                        let acc = micro_i8::<1, 4, FULL_RANGE>(a, stride, wp, panel_len, groups);
                        emit_tile(acc, pp, sink);
                    }
                }
                (GROUP, 2) => emit_tile(
                    micro_i8::<2, 2, FULL_RANGE>(a, stride, w, panel_len, groups),
                    0,
                    sink,
                ),
                (GROUP, _) => emit_tile(
                    micro_i8::<2, 1, FULL_RANGE>(a, stride, w, panel_len, groups),
                    0,
                    sink,
                ),
                (_, 4) => emit_tile(
                    micro_i8::<1, 4, FULL_RANGE>(a, stride, w, panel_len, groups),
                    0,
                    sink,
                ),
                (_, 2) => emit_tile(
                    micro_i8::<1, 2, FULL_RANGE>(a, stride, w, panel_len, groups),
                    0,
                    sink,
                ),
                _ => emit_tile(
                    micro_i8::<1, 1, FULL_RANGE>(a, stride, w, panel_len, groups),
                    0,
                    sink,
                ),
            }
        }
    }

    #[inline(always)]
    unsafe fn row(
        &self,
        at: Tile<u8, i8>,
        panels_left: usize,
        sink: &mut impl Sink<Self::Acc>,
    ) -> usize {
        let (a, w, panel_len, groups) = (at.a, at.w, at.panel_len, at.depth);
        // SAFETY (both): the caller guarantees `panels_left` panels and one row of `groups`
        // groups.
        if panels_left >= GROUP {
            let acc = unsafe { micro_i8::<2, 1, FULL_RANGE>(a, at.a_stride, w, panel_len, groups) };
            emit_tile(acc, 0, sink);
            GROUP
        } else {
            let acc = unsafe { micro_i8::<1, 1, FULL_RANGE>(a, at.a_stride, w, panel_len, groups) };
            emit_tile(acc, 0, sink);
            1
        }
    }

    #[inline(always)]
    unsafe fn store_panel(&self, acc: Self::Acc, first_row: usize, dst: *mut O::Out) {
        for (h, acc) in acc.iter().enumerate() {
            // SAFETY: the caller guarantees rows first_row..first_row + 16 (so row sums) and 16
            // values at dst; the two stores write 8 each.
            unsafe {
                let row = first_row + 8 * h;
                let sums = _mm256_loadu_si256(self.row_sums.as_ptr().add(row).cast());
                let v = _mm256_sub_epi32(*acc, _mm256_mullo_epi32(sums, self.zp_v));
                self.sums_out.store(v, row, dst.add(8 * h));
            }
        }
    }

    #[inline(always)]
    unsafe fn lanes(&self, acc: Self::Acc) -> [i32; PANEL] {
        let mut lanes = [0i32; PANEL];
        // SAFETY: lanes holds 16 i32, the two stores write 8 each.
        unsafe {
            _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc[0]);
            _mm256_storeu_si256(lanes.as_mut_ptr().add(8).cast(), acc[1]);
        }
        lanes
    }

    #[inline(always)]
    fn finish_lane(&self, lane: i32, row: usize) -> O::Out {
        self.sums_out
            .finish(lane - self.zp * self.row_sums[row], row)
    }
}

/// The f32 micro-kernel: 16 rows of a panel in two 256-bit accumulators; its store adds each
/// row's bias. Made only inside [`gemm_f32`].
struct F32<'a> {
    /// One per weight row.
    bias: &'a [f32],
}

// SAFETY: an F32 exists only inside gemm_f32, which enables avx2 and fma and is called only
// behind a Kernel::Avx2 value.
unsafe impl MicroKernel for F32<'_> {
    type Lhs = f32;
    type Rhs = f32;
    type Out = f32;
    type Lane = f32;
    type Acc = [__m256; 2];
    const GROUP_PANELS: usize = GROUP;

    #[inline(always)]
    fn block_rows(rows_left: usize) -> usize {
        block_rows(rows_left)
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
                (GROUP, 4) => {
                    for pp in 0..GROUP {
                        let acc = micro_f32::<1, 4>(a, k, w.add(pp * panel_len));
                        emit_tile(acc, pp, sink);
                    }
                }
                (GROUP, 2) => emit_tile(micro_f32::<2, 2>(a, k, w), 0, sink),
                (GROUP, _) => emit_tile(micro_f32::<2, 1>(a, k, w), 0, sink),
                (_, 4) => emit_tile(micro_f32::<1, 4>(a, k, w), 0, sink),
                (_, 2) => emit_tile(micro_f32::<1, 2>(a, k, w), 0, sink),
                _ => emit_tile(micro_f32::<1, 1>(a, k, w), 0, sink),
            }
        }
    }

    #[inline(always)]
    unsafe fn row(
        &self,
        at: Tile<f32, f32>,
        panels_left: usize,
        sink: &mut impl Sink<Self::Acc>,
    ) -> usize {
        // SAFETY (both): the caller guarantees `panels_left` panels and one row of k columns.
        if panels_left >= GROUP {
            emit_tile(unsafe { micro_f32::<2, 1>(at.a, at.depth, at.w) }, 0, sink);
            GROUP
        } else {
            emit_tile(unsafe { micro_f32::<1, 1>(at.a, at.depth, at.w) }, 0, sink);
            1
        }
    }

    #[inline(always)]
    unsafe fn store_panel(&self, acc: Self::Acc, first_row: usize, dst: *mut f32) {
        // SAFETY: the caller guarantees weight rows first_row..first_row + 16 (so their bias)
        // and 16 values at dst; each half loads and stores 8.
        unsafe {
            let bias = self.bias.as_ptr().add(first_row);
            _mm256_storeu_ps(dst, _mm256_add_ps(acc[0], _mm256_loadu_ps(bias)));
            _mm256_storeu_ps(
                dst.add(8),
                _mm256_add_ps(acc[1], _mm256_loadu_ps(bias.add(8))),
            );
        }
    }

    #[inline(always)]
    unsafe fn lanes(&self, acc: Self::Acc) -> [f32; PANEL] {
        let mut lanes = [0f32; PANEL];
        // SAFETY: lanes holds 16 f32; the two stores write 8 each.
        unsafe {
            _mm256_storeu_ps(lanes.as_mut_ptr(), acc[0]);
            _mm256_storeu_ps(lanes.as_mut_ptr().add(8), acc[1]);
        }
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
#[target_feature(enable = "avx2,fma")]
// Indexing acc[p][i] by both loop counters reads clearer than nested iterators.
#[allow(clippy::needless_range_loop)]
#[inline]
unsafe fn micro_i8<const NP: usize, const MR: usize, const FULL_RANGE: bool>(
    a: *const u8,
    stride: usize,
    w: *const i8,
    panel_len: usize,
    groups: usize,
) -> [[[__m256i; 2]; MR]; NP] {
    let ones = _mm256_set1_epi16(1);
    let mut acc = [[[_mm256_setzero_si256(); 2]; MR]; NP];
    for g in 0..groups {
        let mut wv = [[_mm256_setzero_si256(); 2]; NP];
        for (p, wv) in wv.iter_mut().enumerate() {
            // SAFETY: the caller guarantees panel p has group g (64 bytes).
            unsafe {
                let ptr = w.add(p * panel_len + g * 64);
                wv[0] = _mm256_loadu_si256(ptr.cast());
                wv[1] = _mm256_loadu_si256(ptr.add(32).cast());
            }
        }
        for i in 0..MR {
            // SAFETY: the caller guarantees row i has 4 bytes at column 4g.
            let x = unsafe { a.add(i * stride + g * 4).cast::<i32>().read_unaligned() };
            let av = _mm256_set1_epi32(x);
            if FULL_RANGE {
                let low = _mm256_min_epu8(av, _mm256_set1_epi8(i8::MIN));
                let high = _mm256_subs_epu8(av, _mm256_set1_epi8(i8::MIN));
                for p in 0..NP {
                    for h in 0..2 {
                        let low = _mm256_madd_epi16(_mm256_maddubs_epi16(low, wv[p][h]), ones);
                        let high = _mm256_madd_epi16(_mm256_maddubs_epi16(high, wv[p][h]), ones);
                        let sum = _mm256_add_epi32(low, high);
                        acc[p][i][h] = _mm256_add_epi32(acc[p][i][h], sum);
                    }
                }
            } else {
                for p in 0..NP {
                    for h in 0..2 {
                        let pairs = _mm256_maddubs_epi16(av, wv[p][h]);
                        let quads = _mm256_madd_epi16(pairs, ones);
                        acc[p][i][h] = _mm256_add_epi32(acc[p][i][h], quads);
                    }
                }
            }
        }
    }
    acc
}

/// `NP` panels × `MR` rows of f32, one FMA per column in column order.
///
/// # Safety
/// `w` must point at `NP` consecutive panels of `16 k` floats, `a` at `MR` rows of `k` floats.
#[target_feature(enable = "avx2,fma")]
// Indexing acc[p][i] by both loop counters reads clearer than nested iterators.
#[allow(clippy::needless_range_loop)]
#[inline]
unsafe fn micro_f32<const NP: usize, const MR: usize>(
    a: *const f32,
    k: usize,
    w: *const f32,
) -> [[[__m256; 2]; MR]; NP] {
    let mut acc = [[[_mm256_setzero_ps(); 2]; MR]; NP];
    for kk in 0..k {
        let mut wv = [[_mm256_setzero_ps(); 2]; NP];
        for (p, wv) in wv.iter_mut().enumerate() {
            // SAFETY: the caller guarantees panel p has column kk (16 floats).
            unsafe {
                let ptr = w.add((p * k + kk) * PANEL);
                wv[0] = _mm256_loadu_ps(ptr);
                wv[1] = _mm256_loadu_ps(ptr.add(8));
            }
        }
        for i in 0..MR {
            // SAFETY: the caller guarantees row i has column kk.
            let av = _mm256_set1_ps(unsafe { *a.add(i * k + kk) });
            for p in 0..NP {
                for h in 0..2 {
                    acc[p][i][h] = _mm256_fmadd_ps(wv[p][h], av, acc[p][i][h]);
                }
            }
        }
    }
    acc
}

/// The bits of a float's exponent: all of them set means infinite or NaN.
pub(super) const EXPONENT_BITS: i32 = 0x7f80_0000;

/// See [`super::all_finite`]: 8 values a vector, their exponents compared with all ones; the
/// last ones one by one.
#[target_feature(enable = "avx2,fma")]
pub fn all_finite(x: &[f32]) -> bool {
    let chunks = x.chunks_exact(8);
    let tail = scalar::all_finite(chunks.remainder());
    let exponent = _mm256_set1_epi32(EXPONENT_BITS);
    let mut not_finite = _mm256_setzero_si256();
    for c in chunks {
        // SAFETY: c has exactly 8 floats.
        let v = unsafe { _mm256_loadu_si256(c.as_ptr().cast()) };
        let e = _mm256_and_si256(v, exponent);
        not_finite = _mm256_or_si256(not_finite, _mm256_cmpeq_epi32(e, exponent));
    }
    tail && _mm256_testz_si256(not_finite, not_finite) == 1
}

/// See [`super::min_max`].
#[target_feature(enable = "avx2,fma")]
#[inline]
pub fn min_max(x: &[f32]) -> (f32, f32) {
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder();
    if chunks.len() == 0 {
        return scalar::min_max(x);
    }
    let mut lo = _mm256_set1_ps(f32::INFINITY);
    let mut hi = _mm256_set1_ps(f32::NEG_INFINITY);
    for c in chunks {
        // SAFETY: c has exactly 8 floats.
        let v = unsafe { _mm256_loadu_ps(c.as_ptr()) };
        // `v` first: minps/maxps return the second operand when either is NaN, so a NaN is
        // skipped, as the scalar twin's f32::min/max skip it.
        lo = _mm256_min_ps(v, lo);
        hi = _mm256_max_ps(v, hi);
    }
    let (mut lo, mut hi) = fold_lanes(lo, hi);
    for &v in tail {
        (lo, hi) = (lo.min(v), hi.max(v));
    }
    (lo, hi)
}

/// The smallest lane of `lo` and the largest of `hi`, folded with shuffles (the order does not
/// change a minimum or a maximum of values without NaN).
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn fold_lanes(lo: __m256, hi: __m256) -> (f32, f32) {
    let lo = _mm_min_ps(_mm256_castps256_ps128(lo), _mm256_extractf128_ps::<1>(lo));
    let hi = _mm_max_ps(_mm256_castps256_ps128(hi), _mm256_extractf128_ps::<1>(hi));
    let lo = _mm_min_ps(lo, _mm_movehl_ps(lo, lo));
    let hi = _mm_max_ps(hi, _mm_movehl_ps(hi, hi));
    let lo = _mm_min_ss(lo, _mm_shuffle_ps::<1>(lo, lo));
    let hi = _mm_max_ss(hi, _mm_shuffle_ps::<1>(hi, hi));
    (_mm_cvtss_f32(lo), _mm_cvtss_f32(hi))
}

/// See [`super::quantize_u8`].
#[target_feature(enable = "avx2,fma")]
#[inline]
pub fn quantize_u8(
    x: &[f32],
    cols: usize,
    inv_scale: f32,
    zero_point: i32,
    out: &mut [u8],
    out_stride: usize,
) {
    let inv = _mm256_set1_ps(inv_scale);
    let zp = _mm256_set1_ps(zero_point as f32);
    let (lo, hi) = (_mm256_setzero_ps(), _mm256_set1_ps(255.0));
    for (x_row, out_row) in x.chunks_exact(cols).zip(out.chunks_exact_mut(out_stride)) {
        let full = cols / 8 * 8;
        for j in (0..full).step_by(8) {
            // SAFETY: j + 8 <= cols = x_row.len().
            let v = unsafe { _mm256_loadu_ps(x_row.as_ptr().add(j)) };
            let t = _mm256_mul_ps(v, inv);
            let t = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(t);
            let t = _mm256_add_ps(t, zp);
            let q = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(t, lo), hi));
            let words = _mm256_packus_epi32(q, q);
            let bytes = _mm256_packus_epi16(words, words);
            let low = _mm_cvtsi128_si32(_mm256_castsi256_si128(bytes)) as u32;
            let high = _mm_cvtsi128_si32(_mm256_extracti128_si256::<1>(bytes)) as u32;
            out_row[j..j + 4].copy_from_slice(&low.to_le_bytes());
            out_row[j + 4..j + 8].copy_from_slice(&high.to_le_bytes());
        }
        if full < cols {
            let rest = cols - full;
            scalar::quantize_u8(
                &x_row[full..],
                rest,
                inv_scale,
                zero_point,
                &mut out_row[full..cols],
                rest,
            );
        }
    }
}

/// `acc · scale + bias` rounded once (`fused`, x86) or the product rounded first (qnnpack),
/// as [`super::gemm_u8i8_dequantized`] describes.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub fn rescale(fused: bool, acc: __m256, scale: __m256, bias: __m256) -> __m256 {
    if fused {
        _mm256_fmadd_ps(acc, scale, bias)
    } else {
        _mm256_add_ps(_mm256_mul_ps(acc, scale), bias)
    }
}

/// See [`super::lstm_cell`]: sixteen units a pass while they last (two vectors side by side,
/// [`Two`]: two independent dependency chains), then eight, the rest on scalar code (the same
/// operations, lane for lane).
#[target_feature(enable = "avx2,fma")]
#[inline]
pub fn lstm_cell(hh: [&[f32]; 4], ih: [&[f32]; 4], c: &mut [f32], h: &mut [f32]) {
    let n = c.len();
    assert!(h.len() == n && hh.iter().chain(&ih).all(|s| s.len() == n));
    let (pairs, full) = (n / 16 * 16, n / 8 * 8);
    // SAFETY (both loops): every slice holds n >= full floats (checked above), and each pass
    // reads and writes below j + 16 <= pairs or j + 8 <= full.
    unsafe {
        for j in (0..pairs).step_by(16) {
            lstm_lanes::<Two<__m256>>(hh, ih, c, h, j);
        }
        for j in (pairs..full).step_by(8) {
            lstm_lanes::<__m256>(hh, ih, c, h, j);
        }
    }
    scalar::lstm_cell(
        tail(hh, full),
        tail(ih, full),
        &mut c[full..],
        &mut h[full..],
    );
}

/// See [`super::gru_cell`]: sixteen units a pass while they last (two vectors, [`Two`]), then
/// eight, the rest on scalar code.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub fn gru_cell(hh: [&[f32]; 3], ih: [&[f32]; 3], h_old: &[f32], h: &mut [f32]) {
    let n = h.len();
    assert!(h_old.len() == n && hh.iter().chain(&ih).all(|s| s.len() == n));
    let (pairs, full) = (n / 16 * 16, n / 8 * 8);
    // SAFETY (both loops): as in lstm_cell.
    unsafe {
        for j in (0..pairs).step_by(16) {
            gru_lanes::<Two<__m256>>(hh, ih, h_old, h, j);
        }
        for j in (pairs..full).step_by(8) {
            gru_lanes::<__m256>(hh, ih, h_old, h, j);
        }
    }
    scalar::gru_cell(
        hh.map(|x| &x[full..]),
        ih.map(|x| &x[full..]),
        &h_old[full..],
        &mut h[full..],
    );
}

// SAFETY: __m256 reaches these only from functions enabling AVX.
unsafe impl Wide for __m256 {
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the trait's contract.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the trait's contract.
        unsafe { _mm256_storeu_ps(p, self) }
    }
}

fn tail(s: [&[f32]; 4], from: usize) -> [&[f32]; 4] {
    s.map(|x| &x[from..])
}

/// [`super::lanes::activations`] on this kernel's vectors, for the tests.
#[cfg(test)]
#[target_feature(enable = "avx2,fma")]
pub(super) fn activations(x: &[f32]) -> [Vec<f32>; 3] {
    // SAFETY: this function's features are those of __m256's F32Lanes.
    unsafe { super::lanes::activations::<__m256>(x) }
}

// SAFETY: every method is one AVX (or AVX2/FMA) instruction or a short sequence of them, and
// __m256 values reach these methods only from functions enabling avx2 and fma.
unsafe impl Lanes for __m256 {
    type Float = f32;
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        // SAFETY (every method): the trait's contract: the CPU has avx2 and fma.
        unsafe { _mm256_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        unsafe { _mm256_add_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        unsafe { _mm256_sub_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        unsafe { _mm256_mul_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn div(self, b: Self) -> Self {
        unsafe { _mm256_div_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        unsafe { _mm256_fmadd_ps(self, b, c) }
    }
    #[inline(always)]
    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self {
        unsafe { _mm256_fnmadd_ps(self, b, c) }
    }
    #[inline(always)]
    unsafe fn round_even(self) -> Self {
        // To nearest, ties to even, exceptions suppressed.
        unsafe { _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self) }
    }
}

// SAFETY: as above.
unsafe impl F32Lanes for __m256 {
    #[inline(always)]
    unsafe fn floor(self) -> Self {
        // SAFETY (every method): as for Lanes.
        unsafe { _mm256_floor_ps(self) }
    }
    #[inline(always)]
    unsafe fn abs(self) -> Self {
        unsafe { _mm256_andnot_ps(_mm256_set1_ps(-0.0), self) }
    }
    #[inline(always)]
    unsafe fn or_sign_of(self, x: Self) -> Self {
        unsafe { _mm256_or_ps(self, _mm256_and_ps(x, _mm256_set1_ps(-0.0))) }
    }
    #[inline(always)]
    unsafe fn pow2(n: Self) -> Self {
        unsafe {
            let bits = _mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127));
            _mm256_castsi256_ps(_mm256_slli_epi32::<23>(bits))
        }
    }
    #[inline(always)]
    unsafe fn select_below(self, threshold: Self, below: Self, otherwise: Self) -> Self {
        unsafe {
            let is_below = _mm256_cmp_ps::<_CMP_LT_OQ>(self, threshold);
            _mm256_blendv_ps(otherwise, below, is_below)
        }
    }

    type F64 = __m256d;
    #[inline(always)]
    unsafe fn via_f64<F: F64Map>(self) -> Self {
        unsafe {
            let low = F::apply(_mm256_cvtps_pd(_mm256_castps256_ps128(self)));
            let high = F::apply(_mm256_cvtps_pd(_mm256_extractf128_ps::<1>(self)));
            _mm256_set_m128(_mm256_cvtpd_ps(high), _mm256_cvtpd_ps(low))
        }
    }
}

// SAFETY: every method is one AVX (or AVX2/FMA) instruction or a short exact sequence of
// them, and __m256d values reach these methods only from functions enabling avx2 and fma.
unsafe impl Lanes for __m256d {
    type Float = f64;
    #[inline(always)]
    unsafe fn splat(v: f64) -> Self {
        // SAFETY (every method): the trait's contract: the CPU has avx2 and fma.
        unsafe { _mm256_set1_pd(v) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        unsafe { _mm256_add_pd(self, b) }
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        unsafe { _mm256_sub_pd(self, b) }
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        unsafe { _mm256_mul_pd(self, b) }
    }
    #[inline(always)]
    unsafe fn div(self, b: Self) -> Self {
        unsafe { _mm256_div_pd(self, b) }
    }
    #[inline(always)]
    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        unsafe { _mm256_fmadd_pd(self, b, c) }
    }
    #[inline(always)]
    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self {
        unsafe { _mm256_fnmadd_pd(self, b, c) }
    }
    #[inline(always)]
    unsafe fn round_even(self) -> Self {
        unsafe { _mm256_round_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self) }
    }
}

// SAFETY: as above.
unsafe impl F64Lanes for __m256d {
    #[inline(always)]
    unsafe fn pow2(n: Self) -> Self {
        // Adding 1.5 · 2^52 puts a small integer n in the low bits of the sum's mantissa;
        // re-biasing those to n + 1023 and shifting them into the exponent gives 2^n.
        // SAFETY: the trait's contract: the CPU has avx2.
        unsafe {
            const MAGIC: f64 = 6_755_399_441_055_744.0;
            let bits = _mm256_castpd_si256(_mm256_add_pd(n, _mm256_set1_pd(MAGIC)));
            let biased = _mm256_sub_epi64(bits, _mm256_set1_epi64x(MAGIC.to_bits() as i64 - 1023));
            _mm256_castsi256_pd(_mm256_slli_epi64::<52>(biased))
        }
    }
}
