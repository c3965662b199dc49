//! Portable reference kernels. Every SIMD kernel must equal these bit for bit: the integer
//! products are exact, the f32 products accumulate one fused multiply-add per column in column
//! order, and the nonlinearities use the same operations in the same order (fused
//! multiply-adds exactly where the SIMD code has them: `mul_add` is always fused).

use std::ops::Range;

use super::OutputRows;
use super::gemm::SumsOut;
use super::lanes::{self, F32Lanes, F64Lanes, F64Map, Lanes};
use super::pack::{PANEL, PackedF32, PackedI8};

/// See [`super::gemm_u8i8`].
pub fn gemm_u8i8<O: SumsOut>(
    a: &[u8],
    m: usize,
    zp: i32,
    w: &PackedI8,
    rows: Range<usize>,
    (out, sums_out): (OutputRows<'_, O::Out>, O),
) {
    let OutputRows {
        data: out,
        stride: out_stride,
    } = out;
    let stride = w.padded_cols();
    let groups = w.groups();
    let n = rows.len();
    for i in 0..m {
        let a_row = &a[i * stride..(i + 1) * stride];
        for (o, r) in out[i * out_stride..i * out_stride + n]
            .iter_mut()
            .zip(rows.clone())
        {
            let mut dot = 0i32;
            for (g, a4) in a_row.chunks_exact(4).enumerate() {
                let base = (((r / PANEL) * groups + g) * PANEL + r % PANEL) * 4;
                for (j, &x) in a4.iter().enumerate() {
                    dot += i32::from(x) * i32::from(w.data()[base + j]);
                }
            }
            *o = sums_out.finish(dot - zp * w.row_sums()[r], r);
        }
    }
}

/// See [`super::gemm_f32`].
pub fn gemm_f32(
    a: &[f32],
    m: usize,
    w: &PackedF32,
    bias: &[f32],
    rows: Range<usize>,
    out: OutputRows<'_, f32>,
) {
    let OutputRows {
        data: out,
        stride: out_stride,
    } = out;
    let k = w.cols();
    let n = rows.len();
    for i in 0..m {
        let a_row = &a[i * k..(i + 1) * k];
        for (o, r) in out[i * out_stride..i * out_stride + n]
            .iter_mut()
            .zip(rows.clone())
        {
            let panel = &w.data()[(r / PANEL) * k * PANEL + r % PANEL..];
            let mut acc = 0.0f32;
            for (kk, &x) in a_row.iter().enumerate() {
                acc = panel[kk * PANEL].mul_add(x, acc);
            }
            *o = acc + bias[r];
        }
    }
}

/// See [`super::all_finite`]: a branch-free pass (it vectorizes on the baseline target).
pub fn all_finite(x: &[f32]) -> bool {
    x.iter().fold(true, |ok, v| ok & v.is_finite())
}

/// See [`super::min_max`].
pub fn min_max(x: &[f32]) -> (f32, f32) {
    if x.is_empty() {
        return (0.0, 0.0);
    }
    x.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// See [`super::quantize_u8`].
pub fn quantize_u8(
    x: &[f32],
    cols: usize,
    inv_scale: f32,
    zero_point: i32,
    out: &mut [u8],
    out_stride: usize,
) {
    let zp = zero_point as f32;
    for (x_row, out_row) in x.chunks_exact(cols).zip(out.chunks_exact_mut(out_stride)) {
        for (o, &v) in out_row.iter_mut().zip(x_row) {
            *o = ((v * inv_scale).round_ties_even() + zp).clamp(0.0, 255.0) as u8;
        }
    }
}

/// `acc · scale + bias` rounded once (`fused`, x86) or the product rounded first (qnnpack),
/// as [`super::gemm_u8i8_dequantized`] describes.
#[inline(always)]
pub fn rescale(fused: bool, acc: i32, scale: f32, bias: f32) -> f32 {
    if fused {
        f32::mul_add(acc as f32, scale, bias)
    } else {
        acc as f32 * scale + bias
    }
}

/// A plain float is a vector of one lane: the scalar twin runs the SIMD kernels' own
/// [`lanes`] arithmetic, each operation rounding exactly as one SIMD lane does.
macro_rules! one_lane {
    ($float:ty) => {
        // SAFETY: nothing here needs an instruction set beyond what every CPU has.
        unsafe impl Lanes for $float {
            type Float = $float;
            unsafe fn splat(v: Self) -> Self {
                v
            }
            unsafe fn add(self, b: Self) -> Self {
                self + b
            }
            unsafe fn sub(self, b: Self) -> Self {
                self - b
            }
            unsafe fn mul(self, b: Self) -> Self {
                self * b
            }
            unsafe fn div(self, b: Self) -> Self {
                self / b
            }
            unsafe fn mul_add(self, b: Self, c: Self) -> Self {
                <$float>::mul_add(self, b, c)
            }
            unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self {
                <$float>::mul_add(-self, b, c)
            }
            unsafe fn round_even(self) -> Self {
                <$float>::round_ties_even(self)
            }
        }
    };
}

one_lane!(f32);
one_lane!(f64);

// SAFETY: as for `Lanes` above.
unsafe impl F32Lanes for f32 {
    unsafe fn floor(self) -> Self {
        f32::floor(self)
    }
    unsafe fn abs(self) -> Self {
        f32::abs(self)
    }
    unsafe fn or_sign_of(self, x: Self) -> Self {
        f32::from_bits(self.to_bits() | (x.to_bits() & 0x8000_0000))
    }
    unsafe fn pow2(n: Self) -> Self {
        // `cvttps2dq`: truncate, and i32::MIN for NaN and anything out of range.
        let n = if n > -2_147_483_648.0 && n < 2_147_483_648.0 {
            n as i32
        } else {
            i32::MIN
        };
        f32::from_bits((n.wrapping_add(127) as u32) << 23)
    }
    unsafe fn select_below(self, threshold: Self, below: Self, otherwise: Self) -> Self {
        if self < threshold { below } else { otherwise }
    }
    type F64 = f64;
    unsafe fn via_f64<F: F64Map>(self) -> Self {
        // SAFETY: f64's lane operations run on every CPU.
        unsafe { F::apply(f64::from(self)) as f32 }
    }
}

// SAFETY: as above.
unsafe impl F64Lanes for f64 {
    unsafe fn pow2(n: Self) -> Self {
        // NaN lanes may give anything: `n as i64` is 0 for them.
        f64::from_bits(((n as i64 + 1023) as u64) << 52)
    }
}

/// `e^x`, as PyTorch's vectorized kernels compute it (Sleef's `expf_u10`).
#[cfg(test)]
pub(super) fn exp(x: f32) -> f32 {
    // SAFETY: `f32`'s lane operations run on every CPU.
    unsafe { lanes::exp(x) }
}

/// `1 / (e^(0 − x) + 1)`, as PyTorch's vectorized sigmoid computes it.
pub(super) fn sigmoid(x: f32) -> f32 {
    // SAFETY: as above.
    unsafe { lanes::sigmoid(x) }
}

/// `tanh(x)`, correctly rounded but for 31 floats (see [`lanes::tanh`]).
pub(super) fn tanh(x: f32) -> f32 {
    // SAFETY: as above.
    unsafe { lanes::tanh(x) }
}

/// See [`super::lstm_cell`].
pub fn lstm_cell(hh: [&[f32]; 4], ih: [&[f32]; 4], c: &mut [f32], h: &mut [f32]) {
    for j in 0..c.len() {
        let i = sigmoid(hh[0][j] + ih[0][j]);
        let f = sigmoid(hh[1][j] + ih[1][j]);
        let g = tanh(hh[2][j] + ih[2][j]);
        let o = sigmoid(hh[3][j] + ih[3][j]);
        let c_new = f * c[j] + i * g;
        c[j] = c_new;
        h[j] = o * tanh(c_new);
    }
}

/// See [`super::gru_cell`].
pub fn gru_cell(hh: [&[f32]; 3], ih: [&[f32]; 3], h_old: &[f32], h: &mut [f32]) {
    for j in 0..h.len() {
        let r = sigmoid(hh[0][j] + ih[0][j]);
        let z = sigmoid(hh[1][j] + ih[1][j]);
        let n = tanh(ih[2][j] + hh[2][j] * r);
        h[j] = (h_old[j] - n) * z + n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PyTorch's outputs (`torch.exp`, `torch.sigmoid`, `torch.tanh` on a CPU with AVX-512,
    /// rows a multiple of 32 so its vectorized path computes every element) for 30,816 inputs
    /// from −1e30 to 1e30: `tools/gen_activations.py` wrote them.
    fn torch_activations() -> [Vec<f32>; 4] {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/activations.safetensors"
        );
        let bytes = std::fs::read(path).expect("tests/fixtures/activations.safetensors");
        let file = crate::io::TensorFile::parse(&bytes, path).expect("a safetensors file");
        ["x", "exp", "sigmoid", "tanh"].map(|name| file.f32_any(name).expect(name).1)
    }

    /// How many representable f32 values lie between `a` and `b` (both finite or equal).
    fn ulps_apart(a: f32, b: f32) -> u32 {
        let ordered = |x: f32| {
            let bits = x.to_bits() as i32;
            if bits < 0 { i32::MIN - bits } else { bits }
        };
        ordered(a).abs_diff(ordered(b))
    }

    #[test]
    fn sigmoid_is_pytorchs_bit_for_bit() {
        let [x, _, sigmoid_torch, _] = torch_activations();
        assert!(x.len() > 30_000 && x.iter().all(|v| !v.is_nan()));
        let differ: Vec<_> = x
            .iter()
            .zip(&sigmoid_torch)
            .filter(|&(&x, &t)| sigmoid(x).to_bits() != t.to_bits())
            .map(|(&x, &t)| (x, sigmoid(x), t))
            .collect();
        assert!(
            differ.is_empty(),
            "{} differ, first {:?}",
            differ.len(),
            &differ[..differ.len().min(5)]
        );
    }

    /// `torch.tanh` and `torch.exp` are MKL's `vmsTanh`/`vmsExp` (high accuracy) in PyTorch's
    /// x86 wheels, which dynq cannot reproduce bit for bit. Our exp is Sleef's, as ATen's own
    /// vectorized kernels compute it, and our tanh is correctly rounded (but for 31 inputs);
    /// MKL's are within one unit in the last place, so they may differ by one ULP and no more.
    #[test]
    fn tanh_and_exp_are_within_one_ulp_of_pytorchs() {
        let [x, exp_torch, _, tanh_torch] = torch_activations();
        // Per mille of the inputs on which each may differ from PyTorch's: exp (Sleef's)
        // differs on 2,378 of the 30,816, tanh on 14 (Sleef's tanh, dynq's before, on 366).
        for (name, ours, theirs, per_mille) in [
            ("tanh", tanh as fn(f32) -> f32, &tanh_torch, 1),
            ("exp", exp, &exp_torch, 100),
        ] {
            let mut differ = 0;
            for (&x, &t) in x.iter().zip(theirs) {
                let y = ours(x);
                if y.to_bits() != t.to_bits() {
                    differ += 1;
                    let close = y.is_finite() && t.is_finite() && ulps_apart(y, t) <= 1;
                    assert!(close, "{name}({x:e}) = {y:e}, PyTorch {t:e}");
                }
            }
            // The two round alike almost everywhere: a wrong algorithm would not.
            assert!(
                differ * 1000 < per_mille * x.len(),
                "{name}: {differ} of {} differ",
                x.len()
            );
        }
    }

    /// The non-negative floats up to 9.6 whose tanh is one ULP off the correctly rounded
    /// value (its f64 error lands them on the other side of a tie); every other is exact.
    const TANH_NOT_CORRECTLY_ROUNDED: [u32; 31] = [
        0x3d1bdff1, 0x3d35a6ac, 0x3d46319b, 0x3d577307, 0x3d58b0dd, 0x3d6205eb, 0x3d625812,
        0x3d6bd707, 0x3d7c7681, 0x3d80f2b6, 0x3d90e17f, 0x3d927a7d, 0x3da23619, 0x3da99442,
        0x3db384b3, 0x3dc11856, 0x3ddca6fc, 0x3dee483b, 0x3df5a762, 0x3dfed139, 0x3e098293,
        0x3e09ebb6, 0x3e3044f2, 0x3e3aaf8b, 0x3e539d35, 0x3e609f1a, 0x3e631b54, 0x3e631b69,
        0x3e67e496, 0x3e6cd3e1, 0x3ef6afee,
    ];

    /// Checks `tanh` against f64's, rounded to f32, on the non-negative floats up to 9.6 whose
    /// bit patterns are multiples of `stride` and on [`TANH_NOT_CORRECTLY_ROUNDED`]; and that
    /// it is odd. Returns how many it checked.
    fn check_tanh_correctly_rounded(stride: u32) -> u64 {
        let last = 9.6f32.to_bits();
        let sampled = (0..=last).step_by(stride as usize);
        let mut checked = 0;
        for bits in sampled.chain(TANH_NOT_CORRECTLY_ROUNDED) {
            let x = f32::from_bits(bits);
            let (ours, exact) = (tanh(x), f64::from(x).tanh() as f32);
            if TANH_NOT_CORRECTLY_ROUNDED.contains(&bits) {
                assert_eq!(
                    ulps_apart(ours, exact),
                    1,
                    "tanh({x:e}) = {ours:e}, {exact:e}"
                );
            } else {
                assert_eq!(ours.to_bits(), exact.to_bits(), "tanh({x:e})");
            }
            assert_eq!(tanh(-x).to_bits(), (-ours).to_bits(), "tanh(-{x:e})");
            checked += 1;
        }
        checked
    }

    #[test]
    fn tanh_is_correctly_rounded_on_a_sample_of_every_float() {
        // Every 101st float: 10.8 million of them, from the subnormals to where tanh is 1.
        assert!(check_tanh_correctly_rounded(101) > 10_000_000);
    }

    /// About a minute in `--release`: `cargo test --release --lib correctly_rounded -- --ignored`.
    #[test]
    #[ignore = "every float up to 9.6: run with --release"]
    fn tanh_is_correctly_rounded_on_every_float() {
        assert_eq!(check_tanh_correctly_rounded(1), 1_092_196_763 + 31);
    }

    #[test]
    fn nonlinearities_are_accurate() {
        let mut worst = [0.0f64; 3];
        let mut x = -30.0f32;
        while x < 30.0 {
            let xd = f64::from(x);
            let exact = [xd.exp(), 1.0 / (1.0 + (-xd).exp()), xd.tanh()];
            let ours = [exp(x), sigmoid(x), tanh(x)];
            for k in 0..3 {
                let rel = (f64::from(ours[k]) - exact[k]).abs() / exact[k].abs().max(1e-30);
                worst[k] = worst[k].max(rel);
            }
            x += 0.000_731;
        }
        assert!(worst.iter().all(|&e| e < 2e-7), "relative errors {worst:?}");
        assert_eq!(tanh(0.0).to_bits(), 0.0f32.to_bits());
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanh(-100.0), -1.0);
        assert_eq!(tanh(f32::INFINITY), 1.0);
        // Sleef's tanh gave 1 from 8.664 up; the float below 1 is the nearer one to 9.0.
        assert_eq!(tanh(9.0), 1.0 - f32::EPSILON / 2.0);
        assert_eq!(tanh(9.5), 1.0);
        assert_eq!(sigmoid(-200.0), 0.0);
        assert_eq!(sigmoid(200.0), 1.0);
        assert_eq!(exp(-104.5), 0.0);
        assert_eq!(exp(100.5), f32::INFINITY);
        assert!(tanh(f32::NAN).is_nan() && sigmoid(f32::NAN).is_nan());
    }
}
