//! Portable reference kernels. Every SIMD kernel must equal these bit for bit: the integer
//! products are exact, the f32 products accumulate one fused multiply-add per column in column
//! order, and the nonlinearities use the same operations in the same order (fused
//! multiply-adds exactly where the SIMD code has them: `mul_add` is always fused).

use std::ops::Range;

use super::OutputRows;
use super::pack::{PANEL, PackedF32, PackedI8};

/// See [`super::gemm_u8i8`].
pub fn gemm_u8i8(
    a: &[u8],
    m: usize,
    zp: i32,
    w: &PackedI8,
    rows: Range<usize>,
    out: OutputRows<'_, i32>,
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
            *o = dot - zp * w.row_sums()[r];
        }
    }
}

/// See [`super::gemm_f32`].
pub fn gemm_f32(a: &[f32], m: usize, w: &PackedF32, rows: Range<usize>, out: OutputRows<'_, f32>) {
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
            *o = acc;
        }
    }
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

/// See [`super::dequantize`].
pub fn dequantize(x_scale: f32, w_scales: &[f32], bias: &[f32], acc: &[i32], y: &mut [f32]) {
    let rows = bias.len().max(1);
    for (y, acc) in y.chunks_exact_mut(rows).zip(acc.chunks_exact(rows)) {
        let values = y.iter_mut().zip(acc).zip(bias);
        if let [w_scale] = w_scales {
            let scale = x_scale * w_scale;
            for ((y, &acc), &bias) in values {
                *y = acc as f32 * scale + bias;
            }
        } else {
            for (((y, &acc), &bias), &w_scale) in values.zip(w_scales) {
                *y = acc as f32 * (x_scale * w_scale) + bias;
            }
        }
    }
}

// Cephes' single-precision exp and tanh (about 1 ULP), shared with the SIMD twins.
pub(super) const EXP_LO: f32 = -87.0;
pub(super) const EXP_HI: f32 = 88.0;
pub(super) const LOG2E: f32 = std::f32::consts::LOG2_E;
pub(super) const LN2_HI: f32 = 0.693_359_4;
pub(super) const LN2_LO: f32 = -2.121_944_4e-4;
pub(super) const EXP_P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];
pub(super) const TANH_SMALL: f32 = 0.625;
pub(super) const TANH_P: [f32; 5] = [
    -5.704_988_7e-3,
    2.063_908_8e-2,
    -5.373_971_6e-2,
    1.333_144_2e-1,
    -3.333_328e-1,
];

/// `e^x` for `x` clamped to `[-87, 88]` (so `2^n` stays a normal number).
pub(super) fn exp(x: f32) -> f32 {
    let x = x.clamp(EXP_LO, EXP_HI);
    let n = x.mul_add(LOG2E, 0.5).floor();
    let r = (-n).mul_add(LN2_HI, x);
    let r = (-n).mul_add(LN2_LO, r);
    let z = r * r;
    let mut p = EXP_P[0];
    for &c in &EXP_P[1..] {
        p = p.mul_add(r, c);
    }
    let y = p.mul_add(z, r) + 1.0;
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// `1 / (1 + e^-x)`.
pub(super) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh(x)`: an odd polynomial below 0.625, `1 - 2 / (e^2|x| + 1)` above.
pub(super) fn tanh(x: f32) -> f32 {
    let ax = x.abs();
    if ax < TANH_SMALL {
        let z = x * x;
        let mut p = TANH_P[0];
        for &c in &TANH_P[1..] {
            p = p.mul_add(z, c);
        }
        (p * z).mul_add(x, x)
    } else {
        let t = 1.0 - 2.0 / (exp(ax + ax) + 1.0);
        if x < 0.0 { -t } else { t }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(worst.iter().all(|&e| e < 3e-7), "relative errors {worst:?}");
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(sigmoid(-200.0), 1.0 / (1.0 + exp(88.0)));
        assert_eq!(tanh(-100.0), -1.0);
    }
}
