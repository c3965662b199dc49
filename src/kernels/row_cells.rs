//! The LSTM and GRU cells of a step's batch rows on AVX-512, two rows at a time.
//!
//! A cell is one long chain of dependent operations (a few hundred from the gates to `h'`).
//! Within a row, thirty-two units run as two vectors side by side ([`Two`]), two independent
//! chains; what a row leaves (sixteen units, or the last fewer than sixteen) is one chain, so
//! it runs beside the same part of the next row, as one [`Two`] with a row a half. Every lane
//! still sees the same operations in the same order, so the results are bit for bit those of
//! one row at a time. Both ways in one process (Zen 4, batch 64, outputs equal): GRUs 3 to
//! 15% faster at dimensions 8 to 48, LSTMs level to 5% faster at 48 and 80.

use std::arch::x86_64::*;

use super::UnitState;
use super::lanes::{F32Lanes, Lanes, Two, Wide, cell, gru_cell};

/// One or two batch rows' lanes as one vector: `V` itself for one row, [`Two`] with a row a
/// half for two.
pub(super) trait RowLanes<V>: F32Lanes {
    /// The vector of every row's lanes, `lanes(r)` for row `r`.
    fn gather(lanes: impl FnMut(usize) -> V) -> Self;
    /// Hands row `r`'s lanes to `put(r, lanes)`, for every row.
    fn scatter(self, put: impl FnMut(usize, V));
}

impl<V: F32Lanes> RowLanes<V> for V {
    #[inline(always)]
    fn gather(mut lanes: impl FnMut(usize) -> V) -> Self {
        lanes(0)
    }
    #[inline(always)]
    fn scatter(self, mut put: impl FnMut(usize, V)) {
        put(0, self)
    }
}

impl<V: F32Lanes> RowLanes<V> for Two<V> {
    #[inline(always)]
    fn gather(mut lanes: impl FnMut(usize) -> V) -> Self {
        Two(lanes(0), lanes(1))
    }
    #[inline(always)]
    fn scatter(self, mut put: impl FnMut(usize, V)) {
        put(0, self.0);
        put(1, self.1);
    }
}

/// Where a step's cells read `hh`, the recurrent projection of gate `k` for batch row `b`
/// (counted from the state's first) and units `j..j + 16`, or `j..` the lanes of an 8-lane
/// mask (0 in the others). Their input projection `ih` is read from a buffer laid out as the
/// step's products lay out theirs, `[row][gate][unit]`.
///
/// # Safety
/// Implementations may use AVX-512 (the functions here call them behind it).
pub(super) unsafe trait RecurrentGates {
    /// `hh` of gate `k` for the 16 units from `j` of row `b`.
    ///
    /// # Safety
    /// `j + 16` must lie within the step's units, `b` within its rows.
    unsafe fn sixteen(&self, b: usize, k: usize, j: usize) -> __m512;
    /// `hh` of gate `k` for the units from `j` of row `b` in `mask`'s lanes (0 in the others).
    ///
    /// # Safety
    /// The mask's units from `j` must lie within the step's units, `b` within its rows.
    unsafe fn eight(&self, b: usize, k: usize, j: usize, mask: __mmask8) -> __m256;
}

/// The 8 lanes of `mask` from `p` (the others 0): one unmasked load when all 8 are there, so
/// that it can take its values straight from a store just before it.
///
/// # Safety
/// The mask's lanes from `p` must be readable; AVX-512.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
pub(super) unsafe fn load8(p: *const f32, mask: __mmask8) -> __m256 {
    // SAFETY: the caller's contract.
    unsafe {
        if mask == 0xff {
            _mm256_loadu_ps(p)
        } else {
            _mm256_maskz_loadu_ps(mask, p)
        }
    }
}

/// Writes the lanes of `mask` to `p` (unmasked when all 8).
///
/// # Safety
/// The mask's lanes from `p` must be writable; AVX-512.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
unsafe fn store8(p: *mut f32, mask: __mmask8, v: __m256) {
    // SAFETY: the caller's contract.
    unsafe {
        if mask == 0xff {
            _mm256_storeu_ps(p, v)
        } else {
            _mm256_mask_storeu_ps(p, mask, v)
        }
    }
}

/// The lanes of the first `left` of 8 (all when `left >= 8`).
fn mask8(left: usize) -> __mmask8 {
    if left >= 8 { 0xff } else { (1 << left) - 1 }
}

/// Row pointers of one batch row's state: `c` and `h` for the step's units (`c` unused by a
/// GRU), and the GRU's previous `h` of those units.
#[derive(Clone, Copy)]
struct RowState {
    c: *mut f32,
    h: *mut f32,
    h_old: *const f32,
}

/// Runs `group(rows, b)` for every batch row of `state`, two at a time (`rows` the two rows'
/// [`RowState`] from row `b`) while two are left, then for the last one alone; `h_old` is the
/// previous hidden state of every row of the step (`hidden` values a row), or empty.
fn for_row_groups(
    state: &mut UnitState<'_>,
    h_old: &[f32],
    mut group: impl FnMut(&[RowState], usize),
) {
    let (units, batch) = (state.units(), state.batch());
    // Row b's previous `h` of the units (a GRU's; an LSTM passes none).
    let old = |b: usize| match h_old.len() / batch {
        0 => std::ptr::null(),
        hidden => h_old[b * hidden + units.start..][..units.len()].as_ptr(),
    };
    let row_state = |(c, h): (&mut [f32], &mut [f32]), b: usize| RowState {
        c: c.as_mut_ptr(),
        h: h.as_mut_ptr(),
        h_old: old(b),
    };
    let mut b = 0;
    while b + 1 < batch {
        let [first, second] = state.row_pair(b);
        group(&[row_state(first, b), row_state(second, b + 1)], b);
        b += 2;
    }
    if b < batch {
        group(&[row_state(state.row(b), b)], b);
    }
}

/// A step's gates for one group of rows from batch row `b`: `hh` from `hh`, `ih` from `ih`
/// (`[row][gate][unit]`, `G · n` values a row, for the step's `n` units).
struct Gates<'a, R, const G: usize> {
    hh: &'a R,
    ih: *const f32,
    n: usize,
    b: usize,
}

impl<R: RecurrentGates, const G: usize> Gates<'_, R, G> {
    /// `hh` and `ih` of gate `k` for the 16 units from `j` of the group's row `r`, as `L`
    /// gathers the group's rows.
    ///
    /// # Safety
    /// `j + 16 <= n`, and the group's rows lie within the step's; AVX-512.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
    #[inline]
    unsafe fn sixteen<L: RowLanes<__m512>>(&self, k: usize, j: usize) -> (L, L) {
        // SAFETY: the caller's contract; row b + r's gate k units j..j + 16 lie within ih.
        unsafe {
            let hh = L::gather(|r| self.hh.sixteen(self.b + r, k, j));
            let at = |r: usize| ((self.b + r) * G + k) * self.n + j;
            let ih = L::gather(|r| _mm512_loadu_ps(self.ih.add(at(r))));
            (hh, ih)
        }
    }

    /// As [`Gates::sixteen`] for the units from `j` in `mask`'s lanes.
    ///
    /// # Safety
    /// The mask's units from `j` lie below `n`, and the group's rows within the step's; AVX-512.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
    #[inline]
    unsafe fn eight<L: RowLanes<__m256>>(&self, k: usize, j: usize, mask: __mmask8) -> (L, L) {
        // SAFETY: as above, for the mask's lanes.
        unsafe {
            let hh = L::gather(|r| self.hh.eight(self.b + r, k, j, mask));
            let at = |r: usize| ((self.b + r) * G + k) * self.n + j;
            let ih = L::gather(|r| load8(self.ih.add(at(r)), mask));
            (hh, ih)
        }
    }
}

/// The LSTM cells of every batch row of `state` from `hh` and `ih` (`[row][gate][unit]`,
/// `4 · units` values a row): each row's thirty-two-unit pieces as two vectors, then the rest
/// of two rows at once.
///
/// # Safety
/// AVX-512; `hh` may be asked for every unit of `state`'s rows.
///
/// # Panics
/// If `ih` does not hold `state`'s rows.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
pub(super) unsafe fn lstm_rows(state: &mut UnitState<'_>, hh: &impl RecurrentGates, ih: &[f32]) {
    let n = state.units().len();
    assert_eq!(ih.len(), state.batch() * 4 * n, "lstm_rows: ih");
    for_row_groups(state, &[], |rows, b| {
        let gates = Gates::<_, 4> {
            hh,
            ih: ih.as_ptr(),
            n,
            b,
        };
        // SAFETY: each RowState points at its row's n values of c and h (from the state), ih
        // holds every row (checked above) and hh covers them (the caller's contract).
        unsafe {
            if rows.len() == 2 {
                lstm_group::<_, Two<__m512>, Two<__m256>>(rows, &gates);
            } else {
                lstm_group::<_, __m512, __m256>(rows, &gates);
            }
        }
    });
}

/// [`lstm_rows`] for `rows` (one or two, as `L16` and `L8` hold) from `gates`' row: each
/// row's thirty-two-unit pieces, then sixteen units of every row a pass, then eight, the last
/// masked (a cell is one long dependent chain, which 256-bit operations run with less latency
/// than 512-bit ones on Zen 4, and unmasked loads can take their values straight from the
/// stores just before them: a step at dimension 8 took 125 ns with one masked 16-lane block,
/// 111 ns with an unmasked 8-lane one).
///
/// # Safety
/// As [`lstm_rows`]; each of `rows` points at n values of `c` and of `h`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
unsafe fn lstm_group<R: RecurrentGates, L16: RowLanes<__m512>, L8: RowLanes<__m256>>(
    rows: &[RowState],
    gates: &Gates<'_, R, 4>,
) {
    let n = gates.n;
    let pairs = n / 32 * 32;
    // SAFETY (the whole body): every unit index j + lanes read or written is below n, within
    // each row's c and h and the units gates may be asked for (the caller's contract).
    unsafe {
        for (r, row) in rows.iter().enumerate() {
            let one_row = Gates::<_, 4> {
                b: gates.b + r,
                ..*gates
            };
            for j in (0..pairs).step_by(32) {
                let gate = |k: usize| {
                    let (lo, hi) = (one_row.sixteen::<__m512>(k, j), one_row.sixteen(k, j + 16));
                    Two(lo.0, hi.0).add(Two(lo.1, hi.1))
                };
                let c_old = Two::<__m512>::load(row.c.add(j));
                let (c_new, h_new) = cell([0, 1, 2, 3].map(gate), c_old);
                c_new.store(row.c.add(j));
                h_new.store(row.h.add(j));
            }
        }
        let mut j = pairs;
        while n - j >= 16 {
            let gate = |k: usize| {
                let (hh, ih) = gates.sixteen::<L16>(k, j);
                hh.add(ih)
            };
            let c_old = L16::gather(|r| _mm512_loadu_ps(rows[r].c.add(j)));
            let (c_new, h_new) = cell([0, 1, 2, 3].map(gate), c_old);
            c_new.scatter(|r, v| _mm512_storeu_ps(rows[r].c.add(j), v));
            h_new.scatter(|r, v| _mm512_storeu_ps(rows[r].h.add(j), v));
            j += 16;
        }
        while j < n {
            let mask = mask8(n - j);
            let gate = |k: usize| {
                let (hh, ih) = gates.eight::<L8>(k, j, mask);
                hh.add(ih)
            };
            let c_old = L8::gather(|r| load8(rows[r].c.add(j), mask));
            let (c_new, h_new) = cell([0, 1, 2, 3].map(gate), c_old);
            c_new.scatter(|r, v| store8(rows[r].c.add(j), mask, v));
            h_new.scatter(|r, v| store8(rows[r].h.add(j), mask, v));
            j += 8;
        }
    }
}

/// The GRU cells of every batch row of `state` from `hh` and `ih` (r, z, n; `[row][gate]
/// [unit]`, `3 · units` values a row) and `h_old`, the previous hidden state of every row of
/// the step (`hidden` values a row): each row's thirty-two-unit pieces as two vectors, then
/// the rest of two rows at once.
///
/// # Safety
/// AVX-512; `hh` may be asked for every unit of `state`'s rows.
///
/// # Panics
/// If `ih` or `h_old` does not hold `state`'s rows.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
pub(super) unsafe fn gru_rows(
    state: &mut UnitState<'_>,
    hh: &impl RecurrentGates,
    ih: &[f32],
    h_old: &[f32],
) {
    let (n, batch) = (state.units().len(), state.batch());
    assert_eq!(ih.len(), batch * 3 * n, "gru_rows: ih");
    assert!(
        batch == 0
            || (h_old.len().is_multiple_of(batch) && h_old.len() / batch >= state.units().end),
        "gru_rows: h_old"
    );
    for_row_groups(state, h_old, |rows, b| {
        let gates = Gates::<_, 3> {
            hh,
            ih: ih.as_ptr(),
            n,
            b,
        };
        // SAFETY: each RowState points at its row's n values of h and h_old (from the state
        // and h_old, checked above), ih holds every row and hh covers them (the caller's
        // contract).
        unsafe {
            if rows.len() == 2 {
                gru_group::<_, Two<__m512>, Two<__m256>>(rows, &gates);
            } else {
                gru_group::<_, __m512, __m256>(rows, &gates);
            }
        }
    });
}

/// [`gru_rows`] for `rows` (one or two, as `L16` and `L8` hold) from `gates`' row.
///
/// # Safety
/// As [`gru_rows`]; each of `rows` points at n values of `h` and `h_old`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
unsafe fn gru_group<R: RecurrentGates, L16: RowLanes<__m512>, L8: RowLanes<__m256>>(
    rows: &[RowState],
    gates: &Gates<'_, R, 3>,
) {
    let n = gates.n;
    let pairs = n / 32 * 32;
    // SAFETY (the whole body): as in lstm_group, for h and h_old.
    unsafe {
        for (r, row) in rows.iter().enumerate() {
            let one_row = Gates::<_, 3> {
                b: gates.b + r,
                ..*gates
            };
            for j in (0..pairs).step_by(32) {
                let gate = |k: usize| {
                    let (lo, hi) = (one_row.sixteen::<__m512>(k, j), one_row.sixteen(k, j + 16));
                    (Two(lo.0, hi.0), Two(lo.1, hi.1))
                };
                let [r_gate, z_gate, (hh_n, ih_n)] = [0, 1, 2].map(gate);
                let r_z = [r_gate, z_gate].map(|(hh, ih)| hh.add(ih));
                let h_old = Two::<__m512>::load(row.h_old.add(j));
                gru_cell(r_z, ih_n, hh_n, h_old).store(row.h.add(j));
            }
        }
        let mut j = pairs;
        while n - j >= 16 {
            let [r_gate, z_gate, (hh_n, ih_n)] = [0, 1, 2].map(|k| gates.sixteen::<L16>(k, j));
            let r_z = [r_gate, z_gate].map(|(hh, ih)| hh.add(ih));
            let h_old = L16::gather(|r| _mm512_loadu_ps(rows[r].h_old.add(j)));
            let h_new = gru_cell(r_z, ih_n, hh_n, h_old);
            h_new.scatter(|r, v| _mm512_storeu_ps(rows[r].h.add(j), v));
            j += 16;
        }
        while j < n {
            let mask = mask8(n - j);
            let [r_gate, z_gate, (hh_n, ih_n)] = [0, 1, 2].map(|k| gates.eight::<L8>(k, j, mask));
            let r_z = [r_gate, z_gate].map(|(hh, ih)| hh.add(ih));
            let h_old = L8::gather(|r| load8(rows[r].h_old.add(j), mask));
            let h_new = gru_cell(r_z, ih_n, hh_n, h_old);
            h_new.scatter(|r, v| store8(rows[r].h.add(j), mask, v));
            j += 8;
        }
    }
}

/// A step's recurrent products already in f32 (`[row][gate][unit]`, `G · n` values a row),
/// as the f32 step's product leaves them.
pub(super) struct F32Gates<'a, const G: usize> {
    /// The products.
    pub hh: &'a [f32],
    /// Units a row.
    pub n: usize,
}

// SAFETY: AVX-512 only, reached from this module's functions, which run behind it.
unsafe impl<const G: usize> RecurrentGates for F32Gates<'_, G> {
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
    #[inline]
    unsafe fn sixteen(&self, b: usize, k: usize, j: usize) -> __m512 {
        // SAFETY: the caller keeps j + 16 within the n units and b within the rows, which
        // `hh` holds (the callers check its length).
        unsafe { _mm512_loadu_ps(self.hh.as_ptr().add((b * G + k) * self.n + j)) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
    #[inline]
    unsafe fn eight(&self, b: usize, k: usize, j: usize, mask: __mmask8) -> __m256 {
        // SAFETY: as above, for the mask's units.
        unsafe { load8(self.hh.as_ptr().add((b * G + k) * self.n + j), mask) }
    }
}
