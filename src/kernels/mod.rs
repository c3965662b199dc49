//! The numeric kernels: u8 × i8 → i32 and f32 matrix products, activation min/max and
//! quantization. Plain functions over slices; the model code calls only these, so faster
//! implementations replace the bodies without touching the model.
//!
//! This is the only module allowed to contain `unsafe` code.

mod scalar;

/// Weights of a quantized linear layer, `rows × cols` int8 values (row `j` = output `j`),
/// packed once in the layout the integer kernel wants, with each row's sum precomputed so that
/// the activation zero point costs one multiply-add per output.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedI8 {
    rows: usize,
    cols: usize,
    data: Vec<i8>,
    row_sums: Vec<i32>,
}

impl PackedI8 {
    /// Packs row-major `weights` of shape `rows × cols`.
    ///
    /// # Panics
    /// If `weights.len() != rows * cols` (a programming error: callers check shapes first).
    pub fn pack(weights: &[i8], rows: usize, cols: usize) -> Self {
        assert_eq!(weights.len(), rows * cols, "PackedI8::pack: shape mismatch");
        let row_sums = weights
            .chunks_exact(cols.max(1))
            .take(rows)
            .map(|row| row.iter().map(|&w| i32::from(w)).sum())
            .collect();
        PackedI8 {
            rows,
            cols,
            data: weights.to_vec(),
            row_sums,
        }
    }

    /// Number of output rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of input columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The weights back in row-major `rows × cols` order.
    pub fn unpack(&self) -> Vec<i8> {
        self.data.clone()
    }
}

/// `out[m][n] = Σ_k (a[m][k] − a_zero_point) · w[n][k]` in exact i32 arithmetic.
///
/// `a` is `m × w.cols()` row-major, `out` is `m × w.rows()` row-major.
///
/// # Panics
/// If the slice lengths do not match the shapes.
pub fn gemm_u8i8(a: &[u8], m: usize, a_zero_point: i32, w: &PackedI8, out: &mut [i32]) {
    assert_eq!(a.len(), m * w.cols, "gemm_u8i8: activation shape");
    assert_eq!(out.len(), m * w.rows, "gemm_u8i8: output shape");
    scalar::gemm_u8i8(
        a,
        m,
        a_zero_point,
        w.rows,
        w.cols,
        &w.data,
        &w.row_sums,
        out,
    );
}

/// `out[m][n] = Σ_k a[m][k] · w[n][k]` (that is `A · Wᵀ`), f32.
///
/// `a` is `m × k`, `w` is `n × k`, `out` is `m × n`, all row-major.
///
/// # Panics
/// If the slice lengths do not match the shapes.
pub fn gemm_f32(a: &[f32], m: usize, w: &[f32], n: usize, k: usize, out: &mut [f32]) {
    assert_eq!(a.len(), m * k, "gemm_f32: input shape");
    assert_eq!(w.len(), n * k, "gemm_f32: weight shape");
    assert_eq!(out.len(), m * n, "gemm_f32: output shape");
    scalar::gemm_f32(a, m, w, n, k, out);
}

/// The minimum and maximum of `x` (`(0, 0)` for an empty slice).
pub fn min_max(x: &[f32]) -> (f32, f32) {
    scalar::min_max(x)
}

/// `out[i] = clamp(round_half_even(x[i] · inv_scale + zero_point), 0, 255)`.
///
/// # Panics
/// If `out.len() != x.len()`.
pub fn quantize_u8(x: &[f32], inv_scale: f32, zero_point: i32, out: &mut [u8]) {
    assert_eq!(x.len(), out.len(), "quantize_u8: length mismatch");
    scalar::quantize_u8(x, inv_scale, zero_point, out);
}
