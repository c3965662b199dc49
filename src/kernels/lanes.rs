//! The LSTM cell's arithmetic written once for any vector of f32 lanes: Sleef's `expf` and
//! `tanhf` (the 1-ULP `u10` versions PyTorch's vectorized CPU kernels call), the sigmoid as
//! ATen writes it, and the cell itself. Each instruction set implements [`F32Lanes`] for its
//! vector type and [`super::scalar`] for a plain `f32`, so every width runs the same
//! operations in the same order and rounds alike, lane for lane. The functions here are always
//! inlined into each instruction set's `#[target_feature]` functions, so the intrinsics inline
//! there.
//!
//! The algorithms follow Sleef 3's `sleefsimdsp.c` as built with FMA (`xexpf`, `expk2f`,
//! `xtanhf` and the double-float helpers of `df.h`); the numerics notes give the details.

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

/// A vector of f32 lanes and the operations the cell needs, each one instruction (or the
/// same short sequence on every width).
///
/// # Safety
/// Every method may use instructions of the implementing instruction set: call them only on
/// a CPU that has it (from code behind the [`super::Kernel`] that proves it).
pub(super) unsafe trait F32Lanes: Copy {
    /// Every lane `v`.
    unsafe fn splat(v: f32) -> Self;
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
    /// `self · b − c`, fused.
    unsafe fn mul_sub(self, b: Self, c: Self) -> Self;
    /// `c − self · b`, fused.
    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self;
    /// Rounded toward −∞.
    unsafe fn floor(self) -> Self;
    /// Rounded to the nearest integer, ties to even.
    unsafe fn round_even(self) -> Self;
    /// The sign bit cleared.
    unsafe fn abs(self) -> Self;
    /// `self` with the sign bit of `x` or-ed in.
    unsafe fn or_sign_of(self, x: Self) -> Self;
    /// `2^n` for lanes holding integers `n` in −126..=127, from the exponent bits: the
    /// truncating conversion to i32 (`i32::MIN` when out of range), plus 127, shifted left 23.
    unsafe fn pow2(n: Self) -> Self;
    /// Per lane: `below` where `self < threshold` (ordered, quiet), else `otherwise`.
    unsafe fn select_below(self, threshold: Self, below: Self, otherwise: Self) -> Self;
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

/// A double-float: the unevaluated sum `hi + lo` (Sleef's `vfloat2`).
#[derive(Clone, Copy)]
struct Df<V> {
    hi: V,
    lo: V,
}

impl<V: F32Lanes> Df<V> {
    /// `self + y` (`dfadd2_vf2_vf2_vf`: no ordering assumed between the parts).
    #[inline(always)]
    unsafe fn add2_f(self, y: V) -> Self {
        // SAFETY: the caller's CPU has V's instruction set (the trait's contract).
        unsafe {
            let hi = self.hi.add(y);
            let v = hi.sub(self.hi);
            let lo = self.hi.sub(hi.sub(v)).add(y.sub(v));
            Df {
                hi,
                lo: lo.add(self.lo),
            }
        }
    }

    /// `self + y` (`dfadd2_vf2_vf2_vf2`).
    #[inline(always)]
    unsafe fn add2(self, y: Self) -> Self {
        // SAFETY: as above.
        unsafe {
            let hi = self.hi.add(y.hi);
            let v = hi.sub(self.hi);
            let lo = self.hi.sub(hi.sub(v)).add(y.hi.sub(v));
            Df {
                hi,
                lo: lo.add(self.lo.add(y.lo)),
            }
        }
    }

    /// `self + y` for `|self| ≥ |y|` (`dfadd_vf2_vf2_vf2`).
    #[inline(always)]
    unsafe fn add(self, y: Self) -> Self {
        // SAFETY: as above.
        unsafe {
            let hi = self.hi.add(y.hi);
            let lo = self.hi.sub(hi).add(y.hi).add(self.lo).add(y.lo);
            Df { hi, lo }
        }
    }

    /// `x + y` for a float `|x| ≥ |y|` (`dfadd_vf2_vf_vf2`).
    #[inline(always)]
    unsafe fn float_add(x: V, y: Self) -> Self {
        // SAFETY: as above.
        unsafe {
            let hi = x.add(y.hi);
            let lo = x.sub(hi).add(y.hi).add(y.lo);
            Df { hi, lo }
        }
    }

    /// `self · y` (`dfmul_vf2_vf2_vf`).
    #[inline(always)]
    unsafe fn mul_f(self, y: V) -> Self {
        // SAFETY: as above.
        unsafe {
            let hi = self.hi.mul(y);
            Df {
                hi,
                lo: self.lo.mul_add(y, self.hi.mul_sub(y, hi)),
            }
        }
    }

    /// `self · y` (`dfmul_vf2_vf2_vf2`).
    #[inline(always)]
    unsafe fn mul(self, y: Self) -> Self {
        // SAFETY: as above.
        unsafe {
            let hi = self.hi.mul(y.hi);
            let lo = self
                .hi
                .mul_add(y.lo, self.lo.mul_add(y.hi, self.hi.mul_sub(y.hi, hi)));
            Df { hi, lo }
        }
    }

    /// `self²` (`dfsqu_vf2_vf2`).
    #[inline(always)]
    unsafe fn square(self) -> Self {
        // SAFETY: as above.
        unsafe {
            let hi = self.hi.mul(self.hi);
            let lo = self
                .hi
                .add(self.hi)
                .mul_add(self.lo, self.hi.mul_sub(self.hi, hi));
            Df { hi, lo }
        }
    }

    /// `1 / self` (`dfrec_vf2_vf2`).
    #[inline(always)]
    unsafe fn recip(self) -> Self {
        // SAFETY: as above.
        unsafe {
            let hi = V::splat(1.0).div(self.hi);
            let err = self
                .lo
                .neg_mul_add(hi, self.hi.neg_mul_add(hi, V::splat(1.0)));
            Df {
                hi,
                lo: hi.mul(err),
            }
        }
    }

    /// `self / d` (`dfdiv_vf2_vf2_vf2`).
    #[inline(always)]
    unsafe fn div(self, d: Self) -> Self {
        // SAFETY: as above.
        unsafe {
            let t = V::splat(1.0).div(d.hi);
            let hi = self.hi.mul(t);
            let u = t.mul_sub(self.hi, hi);
            let err = d.lo.neg_mul_add(t, d.hi.neg_mul_add(t, V::splat(1.0)));
            Df {
                hi,
                lo: hi.mul_add(err, self.lo.mul_add(t, u)),
            }
        }
    }

    /// `−self`.
    #[inline(always)]
    unsafe fn neg(self) -> Self {
        // SAFETY: as above.
        unsafe {
            let zero = V::splat(0.0);
            Df {
                hi: zero.sub(self.hi),
                lo: zero.sub(self.lo),
            }
        }
    }
}

/// `e^y` as a double-float for `y ≥ 0` (Sleef's `expk2f`, whose zeroing below −104 never
/// applies here).
///
/// # Safety
/// See [`F32Lanes`].
#[inline(always)]
#[allow(clippy::excessive_precision)]
unsafe fn exp_df<V: F32Lanes>(y: V) -> Df<V> {
    // SAFETY: the caller's CPU has V's instruction set (this function's contract).
    unsafe {
        let q = y.mul(V::splat(R_LN2)).round_even();
        let s = Df {
            hi: y,
            lo: V::splat(0.0),
        };
        let s = s.add2_f(q.mul(V::splat(-L2U)));
        let s = s.add2_f(q.mul(V::splat(-L2L)));
        let mut u = V::splat(0.198_096_022_4e-3);
        for c in [0.139_425_648_4e-2, 0.833_345_670_3e-2, 0.416_663_736_1e-1] {
            u = u.mul_add(s.hi, V::splat(c));
        }
        let t = s
            .mul_f(u)
            .add2_f(V::splat(0.166_666_659_414_234_244_790_680_580_464));
        let t = s.mul(t).add2_f(V::splat(0.5));
        let t = s.add2(s.square().mul(t));
        let t = Df::float_add(V::splat(1.0), t);
        Df {
            hi: t.hi.ldexp(q),
            lo: t.lo.ldexp(q),
        }
    }
}

/// `tanh(x)` (Sleef's `xtanhf`): `(e^|x| − e^−|x|) / (e^|x| + e^−|x|)` in double-float, 1 above
/// 8.664339742, with the sign of `x`.
///
/// # Safety
/// See [`F32Lanes`].
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub(super) unsafe fn tanh<V: F32Lanes>(x: V) -> V {
    // SAFETY: the caller's CPU has V's instruction set (this function's contract).
    unsafe {
        let ax = x.abs();
        let d = exp_df(ax);
        let e = d.recip();
        let ratio = d.add(e.neg()).div(d.add(e));
        let y = ratio.hi.add(ratio.lo);
        // Sleef also maps a NaN `y` to 1; that only happens above the threshold or for NaN `x`.
        let y = V::splat(8.664_339_742).select_below(ax, V::splat(1.0), y);
        // `y` ≥ 0: or-ing in the sign of x is Sleef's `mulsign`.
        y.or_sign_of(x)
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
unsafe impl<V: F32Lanes> F32Lanes for Two<V> {
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
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
    unsafe fn mul_sub(self, b: Self, c: Self) -> Self {
        unsafe { Two(self.0.mul_sub(b.0, c.0), self.1.mul_sub(b.1, c.1)) }
    }
    #[inline(always)]
    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self {
        unsafe { Two(self.0.neg_mul_add(b.0, c.0), self.1.neg_mul_add(b.1, c.1)) }
    }
    #[inline(always)]
    unsafe fn floor(self) -> Self {
        unsafe { Two(self.0.floor(), self.1.floor()) }
    }
    #[inline(always)]
    unsafe fn round_even(self) -> Self {
        unsafe { Two(self.0.round_even(), self.1.round_even()) }
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
}
