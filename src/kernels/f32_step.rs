//! The f32 recurrent product of a step with one batch row, fused with part of a later input
//! projection (see `ProjectionPlan::Ahead`): the step's product streams `W_hh` from L2 and
//! leaves the FMA units half idle, and the input projection's FMAs, each weight shared by
//! several input rows, fill them.

use std::ops::Range;

#[cfg(target_arch = "x86_64")]
use super::avx512;
use super::pack::{PANEL, PackedF32};
use super::{Kernel, OutputRows, gemm_f32};

/// The part of a later input projection an f32 step computes besides its own product: input
/// rows `x` (1 to as many as the layer has gates, `rows × w.cols()`: a chunk of
/// `ProjectionPlan::Ahead`) onto gate `gate`'s rows of the step's units.
pub struct F32Ahead<'a> {
    /// `W_ih`, `gates · H × in`.
    pub w: &'a PackedF32,
    /// `b_ih`, one per row of `w`.
    pub bias: &'a [f32],
    /// The input rows.
    pub x: &'a [f32],
    /// The gate whose rows to project.
    pub gate: usize,
    /// The rows' projection onto every gate of the step's units, `rows × gates × units`
    /// (`[row][gate][unit]`), of which gate `gate` is filled.
    pub out: &'a mut [f32],
}

impl F32Ahead<'_> {
    /// Input rows to project.
    pub fn rows(&self) -> usize {
        self.x.len() / self.w.cols().max(1)
    }

    /// Projects them as [`gemm_f32`] does, on its own.
    pub fn project(&mut self, kernel: Kernel, gates: usize, units: &Range<usize>) {
        let (n, hidden) = (units.len(), self.w.rows() / gates);
        let first = self.gate * hidden + units.start;
        let rows = self.rows();
        let out = OutputRows::new(&mut self.out[self.gate * n..], gates * n);
        gemm_f32(
            kernel,
            self.x,
            rows,
            self.w,
            self.bias,
            first..first + n,
            out,
        );
    }
}

/// `W_hh h + b_hh` of one batch row `h` onto the `gates` gates' rows of `units`, into
/// `gates_out` (`[gate][unit]`), and `ahead`'s projection, both bit for bit as [`gemm_f32`]
/// computes them, in one pass over the two matrices' panels (16 units at a time, last first
/// when `backwards`). Returns `false`, having done nothing, where no kernel fuses them: the
/// caller then runs the two products itself.
///
/// # Panics
/// If the lengths do not match.
pub fn gates_f32_with_ahead(
    kernel: Kernel,
    (h, w, bias): (&[f32], &PackedF32, &[f32]),
    (gates, units): (usize, Range<usize>),
    gates_out: &mut [f32],
    ahead: &mut F32Ahead<'_>,
    backwards: bool,
) -> bool {
    let hidden = w.cols();
    let (n, rows) = (units.len(), ahead.rows());
    assert!(
        h.len() == hidden
            && w.rows() == gates * hidden
            && bias.len() == w.rows()
            && units.end <= hidden
            && gates_out.len() >= gates * n
            && ahead.w.rows() == w.rows()
            && ahead.bias.len() == w.rows()
            && ahead.gate < gates
            && ahead.x.len() == rows * ahead.w.cols()
            && ahead.out.len() == rows * gates * n,
        "gates_f32_with_ahead: lengths"
    );
    let whole_panels = [hidden, units.start, n]
        .iter()
        .all(|v| v.is_multiple_of(PANEL));
    if !whole_panels || !(1..=gates).contains(&rows) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    if kernel.vectors() == Kernel::Avx512Vnni {
        let first_n = (units.start, n);
        let product = (h, w, bias);
        // SAFETY: an AVX-512 Kernel value exists only when its features were detected, and
        // the lengths were checked above.
        unsafe {
            match gates {
                4 => {
                    avx512::gates_f32_with_ahead::<4>(product, first_n, gates_out, ahead, backwards)
                }
                3 => {
                    avx512::gates_f32_with_ahead::<3>(product, first_n, gates_out, ahead, backwards)
                }
                _ => return false,
            }
        }
        return true;
    }
    // No other kernel fuses the two (and off x86-64 neither argument is needed).
    let _ = (kernel, backwards);
    false
}
