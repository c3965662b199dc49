//! The LSTM cell's arithmetic written once for any vector of f32 lanes: Sleef's `expf` (the
//! 1-ULP `u10` version PyTorch's vectorized CPU kernels call) and the sigmoid on it as ATen
//! writes it, a tanh correctly rounded from f64, and the cell itself. Each instruction set
//! implements [`F32Lanes`] (and [`F64Lanes`]) for its vector types and [`super::scalar`] for a
//! plain `f32` (and `f64`), so every width runs the same operations in the same order and
//! rounds alike, lane for lane. The functions here are always inlined into each instruction
//! set's `#[target_feature]` functions, so the intrinsics inline there.
//!
//! `exp` follows Sleef 3's `sleefsimdsp.c` as built with FMA (`xexpf`); the numerics notes
//! give the details, and why tanh is not Sleef's.

// Sleef's constants and coefficients are written as Sleef writes them, digit for digit, so
// they can be checked against its source; each rounds to the f32 Sleef uses.

/// `1 / ln 2` (Sleef's `R_LN2f`).
const R_LN2: f32 = std::f32::consts::LOG2_E;
/// `ln 2` split so that `q · L2U` is exact for the `q` that occur.
#[allow(clippy::excessive_precision)]
const L2U: f32 = 0.693_145_751_953_125;
/// The rest of `ln 2`.
#[allow(clippy::excessive_precision)]
const L2L: f32 = 1.428_606_765_330_187e-6;

/// A vector of float lanes and the IEEE operations on them that both [`F32Lanes`] and
/// [`F64Lanes`] need, each one instruction, rounding alike on every width.
///
/// # Safety
/// Every method may use instructions of the implementing instruction set: call them only on
/// a CPU that has it (from code behind the [`super::Kernel`] that proves it).
pub(super) unsafe trait Lanes: Copy {
    /// The float each lane holds.
    type Float: Copy;
    /// Every lane `v`.
    unsafe fn splat(v: Self::Float) -> Self;
    /// `self + b`.
    unsafe fn add(self, b: Self) -> Self;
    /// `self − b`.
    unsafe fn sub(self, b: Self) -> Self;
    /// `self · b`.
    unsafe fn mul(self, b: Self) -> Self;
    /// `self / b`.
    unsafe fn div(self, b: Self) -> Self;
    /// `self · b + c`, fused.
    unsafe fn mul_add(self, b: Self, c: Self) -> Self;
    /// `c − self · b`, fused.
    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self;
    /// Rounded to the nearest integer, ties to even.
    unsafe fn round_even(self) -> Self;
}

/// A vector of f32 lanes and the rest of the operations the cell needs, each one instruction
/// (or the same short sequence on every width).
///
/// # Safety
/// As for [`Lanes`].
pub(super) unsafe trait F32Lanes: Lanes<Float = f32> {
    /// Rounded toward −∞.
    unsafe fn floor(self) -> Self;
    /// The sign bit cleared.
    unsafe fn abs(self) -> Self;
    /// `self` with the sign bit of `x` or-ed in.
    unsafe fn or_sign_of(self, x: Self) -> Self;
    /// `2^n` for lanes holding integers `n` in −126..=127, from the exponent bits: the
    /// truncating conversion to i32 (`i32::MIN` when out of range), plus 127, shifted left 23.
    unsafe fn pow2(n: Self) -> Self;
    /// Per lane: `below` where `self < threshold` (ordered, quiet), else `otherwise`.
    unsafe fn select_below(self, threshold: Self, below: Self, otherwise: Self) -> Self;

    /// The f64 vectors [`Self::via_f64`] widens the lanes into.
    type F64: F64Lanes;
    /// `F` on the lanes converted (exactly) to f64, rounded back to f32 to nearest even.
    unsafe fn via_f64<F: F64Map>(self) -> Self;

    /// `self · 2^q` for lanes holding integers `q` in −150..=150 and `self` in ±[2^-30, 4)
    /// or 0, rounded once: [`ldexp2`]'s two exact-then-rounded steps, or one instruction
    /// where the instruction set has it (AVX-512's `vscalefps`), which rounds the same
    /// exact product the same way.
    #[inline(always)]
    unsafe fn ldexp(self, q: Self) -> Self {
        // SAFETY: the caller's CPU has this instruction set (the trait's contract).
        unsafe { ldexp2(self, q) }
    }
}

/// `x · 2^q` for lanes holding integers `q`, in two steps so that neither power leaves the
/// normal range (Sleef's `vldexp2_vf_vf_vi2`).
///
/// # Safety
/// See [`F32Lanes`].
#[inline(always)]
unsafe fn ldexp2<V: F32Lanes>(x: V, q: V) -> V {
    // SAFETY: the caller's CPU has V's instruction set (this function's contract).
    unsafe {
        let half = q.mul(V::splat(0.5)).floor();
        x.mul(V::pow2(half)).mul(V::pow2(q.sub(half)))
    }
}

/// `e^x` (Sleef's `xexpf`): +0 below −104, +∞ above 100.
///
/// # Safety
/// See [`F32Lanes`].
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub(super) unsafe fn exp<V: F32Lanes>(d: V) -> V {
    // SAFETY: the caller's CPU has V's instruction set (this function's contract).
    unsafe {
        let q = d.mul(V::splat(R_LN2)).round_even();
        let s = q.neg_mul_add(V::splat(L2U), d);
        let s = q.neg_mul_add(V::splat(L2L), s);
        let mut u = V::splat(0.000_198_527_617_612_853_646_278_381);
        for c in [
            0.001_393_043_552_525_341_510_772_71,
            0.008_333_360_776_305_198_669_433_59,
            0.041_666_485_369_205_474_853_515_6,
            0.166_666_671_633_720_397_949_219,
            0.5,
        ] {
            u = u.mul_add(s, V::splat(c));
        }
        let u = V::splat(1.0).add(s.mul(s).mul_add(u, s));
        let u = u.ldexp(q);
        let u = d.select_below(V::splat(-104.0), V::splat(0.0), u);
        V::splat(100.0).select_below(d, V::splat(f32::INFINITY), u)
    }
}

/// `1 / (e^(0 − x) + 1)`, the operations of ATen's vectorized sigmoid.
///
/// # Safety
/// See [`F32Lanes`].
#[inline(always)]
pub(super) unsafe fn sigmoid<V: F32Lanes>(x: V) -> V {
    // SAFETY: the caller's CPU has V's instruction set (this function's contract).
    unsafe {
        let one = V::splat(1.0);
        one.div(exp(V::splat(0.0).sub(x)).add(one))
    }
}

/// A vector of f64 lanes and the rest of the operations [`tanh`]'s f64 part needs.
///
/// # Safety
/// As for [`Lanes`].
pub(super) unsafe trait F64Lanes: Lanes<Float = f64> {
    /// `2^n`, exactly, for lanes holding integers `n` in 0..=64 (any value for a NaN lane).
    unsafe fn pow2(n: Self) -> Self;
}

/// A function of f64 lanes written once for every width, for [`F32Lanes::via_f64`] (a trait
/// rather than a closure, so that it inlines into each instruction set's functions and
/// takes on their target features).
pub(super) trait F64Map {
    /// The function on `d`'s lanes.
    ///
    /// # Safety
    /// See [`F64Lanes`].
    unsafe fn apply<D: F64Lanes>(d: D) -> D;
}

/// [`tanh_f64`] as an [`F64Map`].
struct TanhF64;

impl F64Map for TanhF64 {
    #[inline(always)]
    unsafe fn apply<D: F64Lanes>(d: D) -> D {
        // SAFETY: the caller's contract.
        unsafe { tanh_f64(d) }
    }
}

/// From this magnitude on, tanh rounds to 1 in f32 (1 − tanh(9.5) ≈ 1.1e-8 is under half
/// the gap below 1, 3.0e-8): [`tanh`] clamps its input here so that `e^2a` stays finite.
const TANH_SATURATES: f32 = 9.5;

/// `e^r − 1 − r` is `r²` times this polynomial in `r` (highest power first, the last exactly
/// 1/2), near-minimax on `|r| ≤ ln 2 / 2`: `e^r − 1` within 2^-43 of the exact value,
/// relatively (`tools/expm1_coefficients.py` fits and prints it).
#[allow(clippy::excessive_precision)]
const EXPM1_QUOTIENT: [f64; 8] = [
    2.7545375271404863e-06,
    2.4869461057738587e-05,
    0.00019841387343327036,
    0.0013888836991577617,
    0.008333333235217295,
    0.04166666678597466,
    0.16666666666862126,
    0.5,
];

/// `tanh(a)` for lanes `0 ≤ a ≤ 9.5` (or NaN), in f64: `(e^2a − 1) / (e^2a + 1)`, with
/// `e^2a − 1` from `2a = k ln 2 + r` as `2^k (e^r − 1) + (2^k − 1)`, so that small `a` lose
/// nothing to cancellation. Its relative error, about 2^-43, is far below f32's 2^-24.
///
/// # Safety
/// See [`F64Lanes`].
#[inline(always)]
unsafe fn tanh_f64<D: F64Lanes>(a: D) -> D {
    // SAFETY: the caller's CPU has D's instruction set (this function's contract).
    unsafe {
        let t = a.add(a);
        let k = t.mul(D::splat(std::f64::consts::LOG2_E)).round_even();
        let r = k.neg_mul_add(D::splat(std::f64::consts::LN_2), t);
        let [first, rest @ ..] = EXPM1_QUOTIENT;
        let mut q = D::splat(first);
        for c in rest {
            q = q.mul_add(r, D::splat(c));
        }
        let expm1_r = r.mul(r).mul_add(q, r);
        let scale = D::pow2(k);
        let expm1_t = scale.mul_add(expm1_r, scale.sub(D::splat(1.0)));
        expm1_t.div(expm1_t.add(D::splat(2.0)))
    }
}

/// `tanh(x)` rounded to f32 from [`tanh_f64`] of `|x|` (clamped at [`TANH_SATURATES`]), with
/// the sign of `x`; NaN stays NaN. That is the correctly rounded tanh for all but 31 of the
/// 1,092,196,763 non-negative floats up to 9.6, each of those one ULP off (checked against
/// f64 `tanh` rounded to f32, every one of them); Sleef's `tanhf_u10`, which dynq used before,
/// misses on 1,584,334. PyTorch's own tanh (MKL's `vmsTanh`) differs from this one on 82,396
/// of those floats, from Sleef's on 1,648,449.
///
/// # Safety
/// See [`F32Lanes`].
#[inline(always)]
pub(super) unsafe fn tanh<V: F32Lanes>(x: V) -> V {
    // SAFETY: the caller's CPU has V's instruction set (this function's contract).
    unsafe {
        let ax = x.abs();
        let saturates = V::splat(TANH_SATURATES);
        let a = saturates.select_below(ax, saturates, ax);
        a.via_f64::<TanhF64>().or_sign_of(x)
    }
}

/// The GRU cell for one vector of units from the sums `hh + ih` of their r and z rows, their
/// n rows' two projections and their old state: returns `h'`, as ATen's `GRUCell` computes it.
///
/// # Safety
/// See [`F32Lanes`].
#[inline(always)]
pub(super) unsafe fn gru_cell<V: F32Lanes>(r_z: [V; 2], ih_n: V, hh_n: V, h_old: V) -> V {
    // SAFETY: the caller's CPU has V's instruction set (this function's contract).
    unsafe {
        let r = sigmoid(r_z[0]);
        let z = sigmoid(r_z[1]);
        let n = tanh(ih_n.add(hh_n.mul(r)));
        h_old.sub(n).mul(z).add(n)
    }
}

/// The LSTM cell for one vector of units from their gate pre-activations (i, f, g, o) and
/// their old cell state: returns `(c', h')`, as ATen's `lstm_cell` computes them.
///
/// # Safety
/// See [`F32Lanes`].
#[inline(always)]
pub(super) unsafe fn cell<V: F32Lanes>(gates: [V; 4], c_old: V) -> (V, V) {
    // SAFETY: the caller's CPU has V's instruction set (this function's contract).
    unsafe {
        let i = sigmoid(gates[0]);
        let f = sigmoid(gates[1]);
        let g = tanh(gates[2]);
        let o = sigmoid(gates[3]);
        let c_new = f.mul(c_old).add(i.mul(g));
        (c_new, o.mul(tanh(c_new)))
    }
}

/// Vectors the cells read from and write to consecutive floats: one register, or two
/// ([`Two`]) of twice the lanes.
///
/// # Safety
/// As [`F32Lanes`]; each pointer must hold as many floats as the vector has lanes.
pub(super) unsafe trait Wide: F32Lanes {
    /// The vector's lanes.
    const LANES: usize;
    /// The vector's floats from `p`.
    unsafe fn load(p: *const f32) -> Self;
    /// Writes the lanes to `p`.
    unsafe fn store(self, p: *mut f32);
}

// SAFETY: V's, on two consecutive runs of its lanes.
unsafe impl<V: Wide> Wide for Two<V> {
    const LANES: usize = 2 * V::LANES;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the trait's contract: 2 · V::LANES floats at p.
        unsafe { Two(V::load(p), V::load(p.add(V::LANES))) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: as above.
        unsafe {
            self.0.store(p);
            self.1.store(p.add(V::LANES));
        }
    }
}

/// `a + b` for the `V::LANES` values from `j` of each.
///
/// # Safety
/// Both slices must hold `j + V::LANES` values; see [`F32Lanes`].
#[inline(always)]
unsafe fn sum_at<V: Wide>(a: &[f32], b: &[f32], j: usize) -> V {
    // SAFETY: the caller's contract.
    unsafe { V::load(a.as_ptr().add(j)).add(V::load(b.as_ptr().add(j))) }
}

/// [`cell`] for the `V::LANES` units from `j` of slices laid out as the kernels' `lstm_cell`
/// takes them (each gate's `hh` and `ih`, then `c`, updated, and `h`).
///
/// # Safety
/// Every slice must hold `j + V::LANES` values; see [`F32Lanes`].
#[inline(always)]
pub(super) unsafe fn lstm_lanes<V: Wide>(
    hh: [&[f32]; 4],
    ih: [&[f32]; 4],
    c: &mut [f32],
    h: &mut [f32],
    j: usize,
) {
    // SAFETY: the caller's contract.
    unsafe {
        let gates = [
            sum_at(hh[0], ih[0], j),
            sum_at(hh[1], ih[1], j),
            sum_at(hh[2], ih[2], j),
            sum_at(hh[3], ih[3], j),
        ];
        let (c_new, h_new) = cell::<V>(gates, V::load(c.as_ptr().add(j)));
        c_new.store(c.as_mut_ptr().add(j));
        h_new.store(h.as_mut_ptr().add(j));
    }
}

/// [`gru_cell`] for the `V::LANES` units from `j` of slices laid out as the kernels' `gru_cell`
/// takes them (each gate's `hh` and `ih`, the old state, then `h`).
///
/// # Safety
/// Every slice must hold `j + V::LANES` values; see [`F32Lanes`].
#[inline(always)]
pub(super) unsafe fn gru_lanes<V: Wide>(
    hh: [&[f32]; 3],
    ih: [&[f32]; 3],
    h_old: &[f32],
    h: &mut [f32],
    j: usize,
) {
    // SAFETY: the caller's contract.
    unsafe {
        let r_z = [sum_at(hh[0], ih[0], j), sum_at(hh[1], ih[1], j)];
        let load = |s: &[f32]| s.as_ptr().add(j);
        let (ih_n, hh_n, old) = (
            V::load(load(ih[2])),
            V::load(load(hh[2])),
            V::load(load(h_old)),
        );
        gru_cell(r_z, ih_n, hh_n, old).store(h.as_mut_ptr().add(j));
    }
}

/// `[exp, sigmoid, tanh]` of every value of `x`, `V::LANES` at a time (`x.len()` a multiple
/// of them): the tests' way to hold each instruction set's vectors to the scalar twin.
///
/// # Safety
/// See [`F32Lanes`].
#[cfg(test)]
#[inline(always)]
pub(super) unsafe fn activations<V: Wide>(x: &[f32]) -> [Vec<f32>; 3] {
    assert!(
        x.len().is_multiple_of(V::LANES),
        "activations: whole vectors"
    );
    let mut out = [(); 3].map(|_| vec![0f32; x.len()]);
    for j in (0..x.len()).step_by(V::LANES) {
        // SAFETY: x and every row of out hold j + V::LANES values (checked above); the
        // caller's contract for V.
        unsafe {
            let v = V::load(x.as_ptr().add(j));
            for (row, y) in out.iter_mut().zip([exp(v), sigmoid(v), tanh(v)]) {
                y.store(row.as_mut_ptr().add(j));
            }
        }
    }
    out
}

/// Two vectors of lanes as one: every operation runs on both, one right after the other.
///
/// A cell is a long chain of dependent operations (a few hundred instructions from the gates
/// to `h'`), about as long as the out-of-order window: a loop over single vectors partly waits
/// on each chain in turn. Two independent chains written side by side fill some of each
/// other's latency (measured on Zen 4: the GRU cell 24% faster, the LSTM's 5 to 15%). Each
/// lane still sees the same operations in the same order, so the results are bit for bit
/// those of `V` alone.
#[derive(Clone, Copy)]
pub(super) struct Two<V>(pub V, pub V);

// SAFETY: every method is `V`'s on each half; `Two<V>` is used only where `V` may be.
unsafe impl<V: Lanes> Lanes for Two<V> {
    type Float = V::Float;
    #[inline(always)]
    unsafe fn splat(v: V::Float) -> Self {
        // SAFETY (every method): the trait's contract, passed on to V.
        unsafe { Two(V::splat(v), V::splat(v)) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        unsafe { Two(self.0.add(b.0), self.1.add(b.1)) }
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        unsafe { Two(self.0.sub(b.0), self.1.sub(b.1)) }
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        unsafe { Two(self.0.mul(b.0), self.1.mul(b.1)) }
    }
    #[inline(always)]
    unsafe fn div(self, b: Self) -> Self {
        unsafe { Two(self.0.div(b.0), self.1.div(b.1)) }
    }
    #[inline(always)]
    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        unsafe { Two(self.0.mul_add(b.0, c.0), self.1.mul_add(b.1, c.1)) }
    }
    #[inline(always)]
    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self {
        unsafe { Two(self.0.neg_mul_add(b.0, c.0), self.1.neg_mul_add(b.1, c.1)) }
    }
    #[inline(always)]
    unsafe fn round_even(self) -> Self {
        unsafe { Two(self.0.round_even(), self.1.round_even()) }
    }
}

// SAFETY: as above.
unsafe impl<V: F32Lanes> F32Lanes for Two<V> {
    #[inline(always)]
    unsafe fn floor(self) -> Self {
        // SAFETY (every method): the trait's contract, passed on to V.
        unsafe { Two(self.0.floor(), self.1.floor()) }
    }
    #[inline(always)]
    unsafe fn abs(self) -> Self {
        unsafe { Two(self.0.abs(), self.1.abs()) }
    }
    #[inline(always)]
    unsafe fn or_sign_of(self, x: Self) -> Self {
        unsafe { Two(self.0.or_sign_of(x.0), self.1.or_sign_of(x.1)) }
    }
    #[inline(always)]
    unsafe fn pow2(n: Self) -> Self {
        unsafe { Two(V::pow2(n.0), V::pow2(n.1)) }
    }
    #[inline(always)]
    unsafe fn ldexp(self, q: Self) -> Self {
        // V's own ldexp (one instruction on AVX-512), not the trait's two-step default.
        unsafe { Two(self.0.ldexp(q.0), self.1.ldexp(q.1)) }
    }
    #[inline(always)]
    unsafe fn select_below(self, threshold: Self, below: Self, otherwise: Self) -> Self {
        unsafe {
            Two(
                self.0.select_below(threshold.0, below.0, otherwise.0),
                self.1.select_below(threshold.1, below.1, otherwise.1),
            )
        }
    }
    type F64 = V::F64;
    #[inline(always)]
    unsafe fn via_f64<F: F64Map>(self) -> Self {
        unsafe { Two(self.0.via_f64::<F>(), self.1.via_f64::<F>()) }
    }
}
