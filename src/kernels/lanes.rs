//! The LSTM cell's arithmetic written once for any vector of f32 lanes: Cephes' `exp`, the
//! sigmoid, `tanh` and the cell itself, the same operations in the same order as
//! [`super::scalar`]'s, lane for lane. Each instruction set implements [`F32Lanes`] for its
//! vector type; the functions here are always inlined into that instruction set's
//! `#[target_feature]` functions, so the intrinsics inline there.

use super::scalar::{EXP_HI, EXP_LO, EXP_P, LN2_HI, LN2_LO, LOG2E, TANH_P, TANH_SMALL};

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
    /// `min(self, b)` (`b` when either is NaN).
    unsafe fn min(self, b: Self) -> Self;
    /// `max(self, b)` (`b` when either is NaN).
    unsafe fn max(self, b: Self) -> Self;
    /// `self · b + c`, fused.
    unsafe fn mul_add(self, b: Self, c: Self) -> Self;
    /// `c − self · b`, fused.
    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self;
    /// Rounded toward −∞.
    unsafe fn floor(self) -> Self;
    /// The sign bit flipped.
    unsafe fn neg(self) -> Self;
    /// The sign bit cleared.
    unsafe fn abs(self) -> Self;
    /// `self` with the sign bit of `x` or-ed in.
    unsafe fn or_sign_of(self, x: Self) -> Self;
    /// `2^n` for lanes holding integers `n` in −126..=127, from the exponent bits.
    unsafe fn pow2(n: Self) -> Self;
    /// Per lane: `below` where `self < threshold` (ordered, quiet), else `otherwise`.
    unsafe fn select_below(self, threshold: Self, below: Self, otherwise: Self) -> Self;
}

/// [`super::scalar::exp`] lane by lane.
///
/// # Safety
/// See [`F32Lanes`].
#[inline(always)]
unsafe fn exp<V: F32Lanes>(x: V) -> V {
    // SAFETY: the caller's CPU has V's instruction set (this function's contract).
    unsafe {
        let x = x.max(V::splat(EXP_LO)).min(V::splat(EXP_HI));
        let n = x.mul_add(V::splat(LOG2E), V::splat(0.5)).floor();
        let r = n.neg_mul_add(V::splat(LN2_HI), x);
        let r = n.neg_mul_add(V::splat(LN2_LO), r);
        let z = r.mul(r);
        let mut p = V::splat(EXP_P[0]);
        for &c in &EXP_P[1..] {
            p = p.mul_add(r, V::splat(c));
        }
        let y = p.mul_add(z, r).add(V::splat(1.0));
        y.mul(V::pow2(n))
    }
}

/// [`super::scalar::sigmoid`] lane by lane.
///
/// # Safety
/// See [`F32Lanes`].
#[inline(always)]
unsafe fn sigmoid<V: F32Lanes>(x: V) -> V {
    // SAFETY: the caller's CPU has V's instruction set (this function's contract).
    unsafe {
        let one = V::splat(1.0);
        one.div(one.add(exp(x.neg())))
    }
}

/// [`super::scalar::tanh`] lane by lane: both branches computed, then blended.
///
/// # Safety
/// See [`F32Lanes`].
#[inline(always)]
unsafe fn tanh<V: F32Lanes>(x: V) -> V {
    // SAFETY: the caller's CPU has V's instruction set (this function's contract).
    unsafe {
        let ax = x.abs();
        let z = x.mul(x);
        let mut p = V::splat(TANH_P[0]);
        for &c in &TANH_P[1..] {
            p = p.mul_add(z, V::splat(c));
        }
        let small = p.mul(z).mul_add(x, x);
        let one = V::splat(1.0);
        let e = exp(ax.add(ax));
        // `large` ≥ 0: or-ing in the sign of x gives it that sign.
        let large = one.sub(V::splat(2.0).div(e.add(one))).or_sign_of(x);
        ax.select_below(V::splat(TANH_SMALL), small, large)
    }
}

/// [`super::scalar::lstm_cell`] for one vector of units from their gate pre-activations
/// (i, f, g, o) and their old cell state: returns `(c', h')`.
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
