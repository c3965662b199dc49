//! Weight layouts the kernels read: panels of [`PANEL`] output rows, stored so that one vector
//! load gives the same input column (or group of 4 columns) for 16 consecutive rows.

/// Output rows per panel (one 512-bit vector of i32 or f32, two 256-bit ones).
pub const PANEL: usize = 16;

/// Int8 weights of a quantized linear layer, `rows × cols`, packed once for the integer kernels.
///
/// Layout: panel `p`, column group `g` (4 columns), row `r` in the panel, column `j` in the
/// group is at `((p · groups + g) · 16 + r) · 4 + j`; padding rows and columns are 0. Each row's
/// weight sum is kept so the activation zero point costs one multiply-add per output.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedI8 {
    rows: usize,
    cols: usize,
    groups: usize,
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
        let groups = cols.div_ceil(4);
        let panels = rows.div_ceil(PANEL);
        let mut data = vec![0i8; panels * groups * PANEL * 4];
        let mut row_sums = vec![0i32; rows];
        for (r, row) in weights.chunks_exact(cols.max(1)).take(rows).enumerate() {
            row_sums[r] = row.iter().map(|&w| i32::from(w)).sum();
            for (k, &w) in row.iter().enumerate() {
                data[Self::index(groups, r, k)] = w;
            }
        }
        PackedI8 {
            rows,
            cols,
            groups,
            data,
            row_sums,
        }
    }

    fn index(groups: usize, r: usize, k: usize) -> usize {
        (((r / PANEL) * groups + k / 4) * PANEL + r % PANEL) * 4 + k % 4
    }

    /// Number of output rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of input columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row stride the activations must have: `cols` rounded up to a multiple of 4.
    pub fn padded_cols(&self) -> usize {
        self.groups * 4
    }

    /// Weight `(r, k)`.
    pub fn get(&self, r: usize, k: usize) -> i8 {
        self.data[Self::index(self.groups, r, k)]
    }

    /// The weights back in row-major `rows × cols` order.
    pub fn unpack(&self) -> Vec<i8> {
        (0..self.rows)
            .flat_map(|r| (0..self.cols).map(move |k| (r, k)))
            .map(|(r, k)| self.get(r, k))
            .collect()
    }

    pub(super) fn groups(&self) -> usize {
        self.groups
    }

    pub(super) fn data(&self) -> &[i8] {
        &self.data
    }

    pub(super) fn row_sums(&self) -> &[i32] {
        &self.row_sums
    }
}

/// F32 weights of a linear layer, `rows × cols`, packed for the f32 kernels.
///
/// Layout: panel `p`, column `k`, row `r` in the panel is at `(p · cols + k) · 16 + r`;
/// padding rows are 0.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedF32 {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl PackedF32 {
    /// Packs row-major `weights` of shape `rows × cols`.
    ///
    /// # Panics
    /// If `weights.len() != rows * cols`.
    pub fn pack(weights: &[f32], rows: usize, cols: usize) -> Self {
        assert_eq!(
            weights.len(),
            rows * cols,
            "PackedF32::pack: shape mismatch"
        );
        let panels = rows.div_ceil(PANEL);
        let mut data = vec![0.0f32; panels * cols * PANEL];
        for (r, row) in weights.chunks_exact(cols.max(1)).take(rows).enumerate() {
            for (k, &w) in row.iter().enumerate() {
                data[((r / PANEL) * cols + k) * PANEL + r % PANEL] = w;
            }
        }
        PackedF32 { rows, cols, data }
    }

    /// Number of output rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of input columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Weight `(r, k)`.
    pub fn get(&self, r: usize, k: usize) -> f32 {
        self.data[((r / PANEL) * self.cols + k) * PANEL + r % PANEL]
    }

    /// The weights back in row-major `rows × cols` order.
    pub fn unpack(&self) -> Vec<f32> {
        (0..self.rows)
            .flat_map(|r| (0..self.cols).map(move |k| (r, k)))
            .map(|(r, k)| self.get(r, k))
            .collect()
    }

    pub(super) fn data(&self) -> &[f32] {
        &self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_odd_shapes() {
        for (rows, cols) in [(1, 1), (17, 5), (33, 7), (16, 4), (5, 0)] {
            let w: Vec<i8> = (0..rows * cols).map(|i| (i % 251) as i8).collect();
            let p = PackedI8::pack(&w, rows, cols);
            assert_eq!(p.unpack(), w);
            assert_eq!(p.padded_cols() % 4, 0);
            let f: Vec<f32> = w.iter().map(|&v| f32::from(v)).collect();
            let pf = PackedF32::pack(&f, rows, cols);
            for r in 0..rows {
                for k in 0..cols {
                    assert_eq!(pf.get(r, k), f[r * cols + k]);
                }
            }
        }
    }
}
