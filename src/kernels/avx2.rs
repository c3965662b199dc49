//! AVX2 + FMA kernels, bit-for-bit twins of [`super::scalar`].
//!
//! Int8 products use `vpmaddubsw` (u8 × i8, adjacent pairs summed into saturating i16) then
//! `vpmaddwd` with ones (i16 pairs into i32). The i16 step cannot saturate here: activations
//! are quantized with `reduce_range` (qmax = 127), which leaves them at most 128 (`x / scale`
//! and the zero point are rounded separately, and each can gain a half), and weights are
//! −128..=127, so a pair sums to between 2 · 128 · −128 = −32768 and 2 · 128 · 127 = 32512,
//! both within i16. (Full-range u8 activations could saturate.)

use std::arch::x86_64::*;
use std::ops::Range;

use super::pack::{PANEL, PackedF32, PackedI8, store_panel};
use super::scalar;

/// See [`super::gemm_u8i8`]. Activations must be at most 128 (see the module doc).
#[target_feature(enable = "avx2,fma")]
pub fn gemm_u8i8(
    a: &[u8],
    m: usize,
    zp: i32,
    w: &PackedI8,
    rows: Range<usize>,
    out: &mut [i32],
    out_stride: usize,
) {
    let stride = w.padded_cols();
    let groups = w.groups();
    let n = rows.len();
    assert!(
        a.len() >= m * stride
            && n <= out_stride
            && out.len() >= (m.max(1) - 1) * out_stride + n
            && rows.end <= w.rows()
    );
    let panel_len = groups * PANEL * 4;
    let (first, last) = (rows.start / PANEL, rows.end.div_ceil(PANEL));
    let mut tmp = [0i32; PANEL];
    let zp_v = _mm256_set1_epi32(zp);
    let mut p = first;
    while p < last {
        let np = (last - p).min(2);
        let mut i = 0;
        while i < m {
            let mr = match m - i {
                4.. => 4,
                2 | 3 => 2,
                _ => 1,
            };
            // SAFETY: panels p..p+np exist (p + np <= last <= panel count), activation rows
            // i..i+mr exist (i + mr <= m), both checked against the slice lengths above.
            let (w_ptr, a_ptr) = unsafe {
                (
                    w.data().as_ptr().add(p * panel_len),
                    a.as_ptr().add(i * stride),
                )
            };
            let mut emit = |pp: usize, ii: usize, acc: [__m256i; 2]| {
                let base = (p + pp) * PANEL;
                let out_row = &mut out[(i + ii) * out_stride..(i + ii) * out_stride + n];
                if base >= rows.start && base + PANEL <= rows.end {
                    let dst = &mut out_row[base - rows.start..base - rows.start + PANEL];
                    for (h, acc) in acc.iter().enumerate() {
                        // SAFETY: row_sums has an entry per row and base + 16 <= rows.end <=
                        // rows; dst holds 16 i32.
                        unsafe {
                            let sums = w.row_sums().as_ptr().add(base + 8 * h);
                            let sums = _mm256_loadu_si256(sums.cast());
                            let v = _mm256_sub_epi32(*acc, _mm256_mullo_epi32(sums, zp_v));
                            _mm256_storeu_si256(dst.as_mut_ptr().add(8 * h).cast(), v);
                        }
                    }
                } else {
                    // SAFETY: tmp holds 16 i32, the two stores write 8 each.
                    unsafe {
                        _mm256_storeu_si256(tmp.as_mut_ptr().cast(), acc[0]);
                        _mm256_storeu_si256(tmp.as_mut_ptr().add(8).cast(), acc[1]);
                    }
                    store_panel(&tmp, p + pp, &rows, zp, w.row_sums(), out_row);
                }
            };
            // SAFETY (all calls): pointers as above; each micro-kernel reads `groups` column
            // groups of its panels and 4 bytes per group of its activation rows.
            match (np, mr) {
                (2, 4) => {
                    for pp in 0..2 {
                        let acc = unsafe {
                            micro_i8::<1, 4>(
                                a_ptr,
                                stride,
                                w_ptr.add(pp * panel_len),
                                panel_len,
                                groups,
                            )
                        };
                        for (ii, acc) in acc[0].iter().enumerate() {
                            emit(pp, ii, *acc);
                        }
                    }
                }
                (2, 2) => emit_all(
                    unsafe { micro_i8::<2, 2>(a_ptr, stride, w_ptr, panel_len, groups) },
                    &mut emit,
                ),
                (2, _) => emit_all(
                    unsafe { micro_i8::<2, 1>(a_ptr, stride, w_ptr, panel_len, groups) },
                    &mut emit,
                ),
                (_, 4) => emit_all(
                    unsafe { micro_i8::<1, 4>(a_ptr, stride, w_ptr, panel_len, groups) },
                    &mut emit,
                ),
                (_, 2) => emit_all(
                    unsafe { micro_i8::<1, 2>(a_ptr, stride, w_ptr, panel_len, groups) },
                    &mut emit,
                ),
                _ => emit_all(
                    unsafe { micro_i8::<1, 1>(a_ptr, stride, w_ptr, panel_len, groups) },
                    &mut emit,
                ),
            }
            i += mr;
        }
        p += np;
    }
}

fn emit_all<T: Copy, const NP: usize, const MR: usize>(
    acc: [[T; MR]; NP],
    emit: &mut impl FnMut(usize, usize, T),
) {
    for (pp, panel) in acc.iter().enumerate() {
        for (ii, v) in panel.iter().enumerate() {
            emit(pp, ii, *v);
        }
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
unsafe fn micro_i8<const NP: usize, const MR: usize>(
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
            for p in 0..NP {
                for h in 0..2 {
                    let pairs = _mm256_maddubs_epi16(av, wv[p][h]);
                    acc[p][i][h] = _mm256_add_epi32(acc[p][i][h], _mm256_madd_epi16(pairs, ones));
                }
            }
        }
    }
    acc
}

/// See [`super::gemm_f32`].
#[target_feature(enable = "avx2,fma")]
pub fn gemm_f32(
    a: &[f32],
    m: usize,
    w: &PackedF32,
    rows: Range<usize>,
    out: &mut [f32],
    out_stride: usize,
) {
    let k = w.cols();
    let n = rows.len();
    assert!(
        a.len() >= m * k
            && n <= out_stride
            && out.len() >= (m.max(1) - 1) * out_stride + n
            && rows.end <= w.rows()
    );
    let panel_len = k * PANEL;
    let (first, last) = (rows.start / PANEL, rows.end.div_ceil(PANEL));
    let mut tmp = [0f32; PANEL];
    let mut p = first;
    while p < last {
        let np = (last - p).min(2);
        let mut i = 0;
        while i < m {
            let mr = match m - i {
                4.. => 4,
                2 | 3 => 2,
                _ => 1,
            };
            // SAFETY: as in gemm_u8i8: panels p..p+np and rows i..i+mr are in bounds.
            let (w_ptr, a_ptr) =
                unsafe { (w.data().as_ptr().add(p * panel_len), a.as_ptr().add(i * k)) };
            let mut emit = |pp: usize, ii: usize, acc: [__m256; 2]| {
                // SAFETY: tmp holds 16 f32, the two stores write 8 each.
                unsafe {
                    _mm256_storeu_ps(tmp.as_mut_ptr(), acc[0]);
                    _mm256_storeu_ps(tmp.as_mut_ptr().add(8), acc[1]);
                }
                let row = i + ii;
                let dst = &mut out[row * out_stride..row * out_stride + n];
                let base = (p + pp) * PANEL;
                for r in rows.start.max(base)..rows.end.min(base + PANEL) {
                    dst[r - rows.start] = tmp[r - base];
                }
            };
            // SAFETY (all calls): pointers as above; each micro-kernel reads `k` columns.
            match (np, mr) {
                (2, 4) => {
                    for pp in 0..2 {
                        let acc = unsafe { micro_f32::<1, 4>(a_ptr, k, w_ptr.add(pp * panel_len)) };
                        for (ii, acc) in acc[0].iter().enumerate() {
                            emit(pp, ii, *acc);
                        }
                    }
                }
                (2, 2) => emit_all(unsafe { micro_f32::<2, 2>(a_ptr, k, w_ptr) }, &mut emit),
                (2, _) => emit_all(unsafe { micro_f32::<2, 1>(a_ptr, k, w_ptr) }, &mut emit),
                (_, 4) => emit_all(unsafe { micro_f32::<1, 4>(a_ptr, k, w_ptr) }, &mut emit),
                (_, 2) => emit_all(unsafe { micro_f32::<1, 2>(a_ptr, k, w_ptr) }, &mut emit),
                _ => emit_all(unsafe { micro_f32::<1, 1>(a_ptr, k, w_ptr) }, &mut emit),
            }
            i += mr;
        }
        p += np;
    }
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
        lo = _mm256_min_ps(lo, v);
        hi = _mm256_max_ps(hi, v);
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

#[target_feature(enable = "avx2,fma")]
#[inline]
fn exp8(x: __m256) -> __m256 {
    let x = _mm256_min_ps(
        _mm256_max_ps(x, _mm256_set1_ps(scalar::EXP_LO)),
        _mm256_set1_ps(scalar::EXP_HI),
    );
    let n = _mm256_floor_ps(_mm256_fmadd_ps(
        x,
        _mm256_set1_ps(scalar::LOG2E),
        _mm256_set1_ps(0.5),
    ));
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(scalar::LN2_HI), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(scalar::LN2_LO), r);
    let z = _mm256_mul_ps(r, r);
    let mut p = _mm256_set1_ps(scalar::EXP_P[0]);
    for &c in &scalar::EXP_P[1..] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
    }
    let y = _mm256_add_ps(_mm256_fmadd_ps(p, z, r), _mm256_set1_ps(1.0));
    let bits = _mm256_slli_epi32::<23>(_mm256_add_epi32(
        _mm256_cvttps_epi32(n),
        _mm256_set1_epi32(127),
    ));
    _mm256_mul_ps(y, _mm256_castsi256_ps(bits))
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn sigmoid8(x: __m256) -> __m256 {
    let one = _mm256_set1_ps(1.0);
    let neg = _mm256_xor_ps(x, _mm256_set1_ps(-0.0));
    _mm256_div_ps(one, _mm256_add_ps(one, exp8(neg)))
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn tanh8(x: __m256) -> __m256 {
    let sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0));
    let ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0), x);
    let z = _mm256_mul_ps(x, x);
    let mut p = _mm256_set1_ps(scalar::TANH_P[0]);
    for &c in &scalar::TANH_P[1..] {
        p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(c));
    }
    let small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
    let one = _mm256_set1_ps(1.0);
    let e = exp8(_mm256_add_ps(ax, ax));
    let large = _mm256_sub_ps(
        one,
        _mm256_div_ps(_mm256_set1_ps(2.0), _mm256_add_ps(e, one)),
    );
    let large = _mm256_or_ps(large, sign);
    let is_small = _mm256_cmp_ps::<_CMP_LT_OQ>(ax, _mm256_set1_ps(scalar::TANH_SMALL));
    _mm256_blendv_ps(large, small, is_small)
}

/// See [`super::lstm_cell`].
#[target_feature(enable = "avx2,fma")]
#[inline]
pub fn lstm_cell(hh: [&[f32]; 4], ih: [&[f32]; 4], c: &mut [f32], h: &mut [f32]) {
    let n = c.len();
    assert!(h.len() == n && hh.iter().chain(&ih).all(|s| s.len() == n));
    let full = n / 8 * 8;
    for j in (0..full).step_by(8) {
        // SAFETY: every slice has n >= j + 8 floats (checked above).
        let gate = |k: usize| unsafe {
            _mm256_add_ps(
                _mm256_loadu_ps(hh[k].as_ptr().add(j)),
                _mm256_loadu_ps(ih[k].as_ptr().add(j)),
            )
        };
        // SAFETY: as above.
        unsafe {
            let c_old = _mm256_loadu_ps(c.as_ptr().add(j));
            let (c_new, h_new) = cell8([gate(0), gate(1), gate(2), gate(3)], c_old);
            _mm256_storeu_ps(c.as_mut_ptr().add(j), c_new);
            _mm256_storeu_ps(h.as_mut_ptr().add(j), h_new);
        }
    }
    scalar::lstm_cell(
        tail(hh, full),
        tail(ih, full),
        &mut c[full..],
        &mut h[full..],
    );
}

/// The cell for 8 units from their gate pre-activations (i, f, g, o): returns `(c', h')`.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn cell8(gates: [__m256; 4], c_old: __m256) -> (__m256, __m256) {
    let i = sigmoid8(gates[0]);
    let f = sigmoid8(gates[1]);
    let g = tanh8(gates[2]);
    let o = sigmoid8(gates[3]);
    let c_new = _mm256_add_ps(_mm256_mul_ps(f, c_old), _mm256_mul_ps(i, g));
    (c_new, _mm256_mul_ps(o, tanh8(c_new)))
}

fn tail(s: [&[f32]; 4], from: usize) -> [&[f32]; 4] {
    s.map(|x| &x[from..])
}
