//! Portable reference kernels. Every SIMD kernel must equal these bit for bit.

/// See [`super::gemm_u8i8`]; `row_sums[n] = Σ_k w[n][k]`.
#[allow(clippy::too_many_arguments)]
pub fn gemm_u8i8(
    a: &[u8],
    m: usize,
    a_zero_point: i32,
    rows: usize,
    cols: usize,
    w: &[i8],
    row_sums: &[i32],
    out: &mut [i32],
) {
    for i in 0..m {
        let a_row = &a[i * cols..(i + 1) * cols];
        let out_row = &mut out[i * rows..(i + 1) * rows];
        for (n, o) in out_row.iter_mut().enumerate() {
            let w_row = &w[n * cols..(n + 1) * cols];
            let dot: i32 = a_row
                .iter()
                .zip(w_row)
                .map(|(&x, &y)| i32::from(x) * i32::from(y))
                .sum();
            *o = dot - a_zero_point * row_sums[n];
        }
    }
}

/// See [`super::gemm_f32`].
pub fn gemm_f32(a: &[f32], m: usize, w: &[f32], n: usize, k: usize, out: &mut [f32]) {
    for i in 0..m {
        let a_row = &a[i * k..(i + 1) * k];
        for j in 0..n {
            let w_row = &w[j * k..(j + 1) * k];
            out[i * n + j] = a_row.iter().zip(w_row).map(|(x, y)| x * y).sum();
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
pub fn quantize_u8(x: &[f32], inv_scale: f32, zero_point: i32, out: &mut [u8]) {
    let zp = zero_point as f32;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = (v * inv_scale + zp).round_ties_even().clamp(0.0, 255.0) as u8;
    }
}
