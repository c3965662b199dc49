//! The one blocked driver of the matrix products, after matrixmultiply's `GemmKernel` and
//! `gemm_loop`: a [`MicroKernel`] says how many panels and activation rows its tiles take and
//! how a tile's accumulators are written, and [`gemm`] walks the output in groups of panels
//! and blocks of rows, handles the edges and stores every tile. Each instruction set's
//! `#[target_feature]` wrapper calls [`gemm`] with its kernel; everything here is always
//! inlined into that wrapper, so the kernel's intrinsics inline into one loop nest.

use std::ops::Range;

use super::OutputRows;
use super::activation::ActivationParams;
use super::pack::{PANEL, PackedF32, PackedI8};
use super::scalar;

/// What a u8 × i8 product writes for each weight row `r`'s exact sum
/// `Σ_k (a[k] − zp) · w[r][k]`: the sum itself ([`Sums`]) or its dequantized value
/// ([`Dequantized`]). Each instruction set's micro-kernel applies it to whole panels with its
/// own vectors, lane for lane as [`SumsOut::finish`] does.
pub(super) trait SumsOut: Copy {
    /// The output's element.
    type Out: Copy;
    /// The output of weight row `row` from its sum.
    fn finish(&self, sum: i32, row: usize) -> Self::Out;
}

/// The sums as they are.
#[derive(Clone, Copy)]
pub(super) struct Sums;

impl SumsOut for Sums {
    type Out = i32;
    #[inline(always)]
    fn finish(&self, sum: i32, _row: usize) -> i32 {
        sum
    }
}

/// The sums dequantized as [`super::gemm_u8i8_dequantized`] computes it:
/// `sum · (x.scale · w_scales[r]) + bias[r]` (one scale for every row when `w_scales` holds
/// one), rounded as `x.engine` rounds it; `r` counts the weight's rows.
#[derive(Clone, Copy)]
pub(super) struct Dequantized<'a> {
    /// The activations' parameters.
    pub x: ActivationParams,
    /// One weight scale, or one per weight row.
    pub w_scales: &'a [f32],
    /// One bias per weight row.
    pub bias: &'a [f32],
}

impl SumsOut for Dequantized<'_> {
    type Out = f32;
    #[inline(always)]
    fn finish(&self, sum: i32, row: usize) -> f32 {
        let w_scale = if self.w_scales.len() == 1 {
            self.w_scales[0]
        } else {
            self.w_scales[row]
        };
        let fused = self.x.engine.fused_rescale();
        scalar::rescale(fused, sum, self.x.scale * w_scale, self.bias[row])
    }
}

/// Packed weights as the driver walks them: panels of [`PANEL`] output rows.
pub(super) trait Panels {
    /// The weights' element.
    type Elem: Copy;
    /// Output rows.
    fn rows(&self) -> usize;
    /// The packed panels, one after the other.
    fn panel_data(&self) -> &[Self::Elem];
    /// Elements of one panel.
    fn panel_len(&self) -> usize;
    /// Steps of one dot product: columns (f32) or groups of 4 columns (int8).
    fn depth(&self) -> usize;
    /// Elements between two activation rows.
    fn activation_stride(&self) -> usize;
}

impl Panels for PackedI8 {
    type Elem = i8;
    fn rows(&self) -> usize {
        self.rows()
    }
    fn panel_data(&self) -> &[i8] {
        self.data()
    }
    fn panel_len(&self) -> usize {
        self.groups() * PANEL * 4
    }
    fn depth(&self) -> usize {
        self.groups()
    }
    fn activation_stride(&self) -> usize {
        self.padded_cols()
    }
}

impl Panels for PackedF32 {
    type Elem = f32;
    fn rows(&self) -> usize {
        self.rows()
    }
    fn panel_data(&self) -> &[f32] {
        self.data()
    }
    fn panel_len(&self) -> usize {
        self.cols() * PANEL
    }
    fn depth(&self) -> usize {
        self.cols()
    }
    fn activation_stride(&self) -> usize {
        self.cols()
    }
}

/// Where a tile's operands start: `a` at its first activation row (rows `a_stride` elements
/// apart), `w` at its first panel (panels `panel_len` elements apart), `depth` steps deep.
#[derive(Clone, Copy)]
pub(super) struct Tile<L, R> {
    pub a: *const L,
    pub a_stride: usize,
    pub w: *const R,
    pub panel_len: usize,
    pub depth: usize,
}

impl<L, R> Tile<L, R> {
    /// The same operands from panel `panels` on.
    ///
    /// # Safety
    /// Those panels must exist.
    #[inline(always)]
    pub unsafe fn panel(self, panels: usize) -> Self {
        Tile {
            // SAFETY: the caller guarantees the panel lies within the weights.
            w: unsafe { self.w.add(panels * self.panel_len) },
            ..self
        }
    }
}

/// Where a micro-kernel puts the accumulators of each panel and activation row of its tiles.
/// (A trait rather than a closure: a closure in the generic driver would not carry the
/// wrapper's target features, and its stores would not inline.)
pub(super) trait Sink<Acc> {
    /// Takes the accumulators of panel `panel` and activation row `row`, both counted from
    /// the tile's first.
    fn put(&mut self, panel: usize, row: usize, acc: Acc);
}

/// A register-blocked micro-kernel: its tile sizes, its accumulation and its store.
///
/// # Safety
/// Implementations may use their instruction set in every method: call them only from
/// functions that enable it, on a CPU that has it.
pub(super) unsafe trait MicroKernel {
    /// The activations' element.
    type Lhs: Copy;
    /// The weights' element.
    type Rhs: Copy;
    /// The outputs' element.
    type Out: Copy;
    /// One lane of the accumulators.
    type Lane: Copy;
    /// The accumulators of one panel for one activation row: [`PANEL`] lanes.
    type Acc: Copy;
    /// Most panels one pass over a block of activation rows covers.
    const GROUP_PANELS: usize;

    /// Activation rows of the next block, given `rows_left` (≥ 1) still to do.
    fn block_rows(rows_left: usize) -> usize;

    /// Accumulates `panels` (≤ [`MicroKernel::GROUP_PANELS`]) panels × `rows` (from
    /// [`MicroKernel::block_rows`]) activation rows in tiles of the kernel's sizes, and puts
    /// each panel's and row's accumulators in `sink`.
    ///
    /// # Safety
    /// `at` must point at that many panels and rows of `at.depth` steps each.
    unsafe fn block(
        &self,
        at: Tile<Self::Lhs, Self::Rhs>,
        panels: usize,
        rows: usize,
        sink: &mut impl Sink<Self::Acc>,
    );

    /// Accumulates the first panels of `panels_left` (≥ 1) for one activation row, puts them
    /// in `sink` (as row 0) and returns how many it did.
    ///
    /// # Safety
    /// `at` must point at `panels_left` panels and one row of `at.depth` steps.
    unsafe fn row(
        &self,
        at: Tile<Self::Lhs, Self::Rhs>,
        panels_left: usize,
        sink: &mut impl Sink<Self::Acc>,
    ) -> usize;

    /// Writes the outputs of the whole panel whose first row is weight row `first_row` to
    /// `dst` with full-width stores.
    ///
    /// # Safety
    /// Weight rows `first_row..first_row + PANEL` must exist and `dst` hold [`PANEL`] values.
    unsafe fn store_panel(&self, acc: Self::Acc, first_row: usize, dst: *mut Self::Out);

    /// The accumulators' lanes, for an edge panel (stored lane by lane).
    ///
    /// # Safety
    /// None beyond the trait's.
    unsafe fn lanes(&self, acc: Self::Acc) -> [Self::Lane; PANEL];

    /// The output of weight row `row` from its lane of the accumulators.
    fn finish_lane(&self, lane: Self::Lane, row: usize) -> Self::Out;
}

/// `out[i][r − rows.start]` for the weight rows `rows` and `m` activation rows of `a`
/// (`w.activation_stride()` apart), as the kernel accumulates and stores them.
///
/// # Panics
/// If the lengths do not match the shapes.
#[inline(always)]
pub(super) fn gemm<K, W>(
    kernel: &K,
    a: &[K::Lhs],
    m: usize,
    w: &W,
    rows: Range<usize>,
    out: OutputRows<'_, K::Out>,
) where
    K: MicroKernel,
    W: Panels<Elem = K::Rhs>,
{
    let OutputRows { data: out, stride } = out;
    let n = rows.len();
    let a_stride = w.activation_stride();
    assert!(
        a.len() >= m * a_stride
            && n <= stride
            && out.len() >= (m.max(1) - 1) * stride + n
            && rows.start <= rows.end
            && rows.end <= w.rows()
    );
    let at = Tile {
        a: a.as_ptr(),
        a_stride,
        w: w.panel_data().as_ptr(),
        panel_len: w.panel_len(),
        depth: w.depth(),
    };
    let (first, last) = (rows.start / PANEL, rows.end.div_ceil(PANEL));
    let mut sink = Outputs {
        kernel,
        out,
        stride,
        rows: &rows,
        first_panel: first,
        first_row: 0,
    };
    if m == 1 {
        while sink.first_panel < last {
            let panel = sink.first_panel;
            // SAFETY: panels panel..last exist (rows.end <= w.rows()) and the row holds
            // `depth` steps (a.len() >= a_stride; both checked above).
            sink.first_panel += unsafe { kernel.row(at.panel(panel), last - panel, &mut sink) };
        }
        return;
    }
    let mut p = first;
    while p < last {
        let panels = (last - p).min(K::GROUP_PANELS);
        let mut i = 0;
        while i < m {
            let block_rows = K::block_rows(m - i);
            (sink.first_panel, sink.first_row) = (p, i);
            // SAFETY: panels p..p + panels and activation rows i..i + block_rows exist
            // (checked above); each row holds `depth` steps.
            unsafe {
                let at = Tile {
                    a: at.a.add(i * a_stride),
                    ..at.panel(p)
                };
                kernel.block(at, panels, block_rows, &mut sink);
            }
            i += block_rows;
        }
        p += panels;
    }
}

/// The driver's [`Sink`]: stores each panel of a tile in its output row.
struct Outputs<'a, K: MicroKernel> {
    kernel: &'a K,
    out: &'a mut [K::Out],
    stride: usize,
    rows: &'a Range<usize>,
    /// The panel and activation row the tile starts at.
    first_panel: usize,
    first_row: usize,
}

impl<K: MicroKernel> Sink<K::Acc> for Outputs<'_, K> {
    #[inline(always)]
    fn put(&mut self, panel: usize, row: usize, acc: K::Acc) {
        let at = (self.first_row + row) * self.stride;
        let out_row = &mut self.out[at..][..self.rows.len()];
        store(
            self.kernel,
            acc,
            self.first_panel + panel,
            self.rows,
            out_row,
        );
    }
}

/// Writes the outputs of `panel` that lie in `rows` to `out_row` (indexed from
/// `rows.start`): with the kernel's full-width store when the whole panel lies in `rows`,
/// else lane by lane.
#[inline(always)]
fn store<K: MicroKernel>(
    kernel: &K,
    acc: K::Acc,
    panel: usize,
    rows: &Range<usize>,
    out_row: &mut [K::Out],
) {
    let base = panel * PANEL;
    if base >= rows.start && base + PANEL <= rows.end {
        let dst = &mut out_row[base - rows.start..][..PANEL];
        // SAFETY: weight rows base..base + PANEL lie in `rows`, which the weights hold (the
        // driver checked it), and dst holds PANEL values.
        unsafe { kernel.store_panel(acc, base, dst.as_mut_ptr()) };
    } else {
        // SAFETY: the kernel's instruction set is enabled where this is inlined.
        let lanes = unsafe { kernel.lanes(acc) };
        for r in rows.start.max(base)..rows.end.min(base + PANEL) {
            out_row[r - rows.start] = kernel.finish_lane(lanes[r - base], r);
        }
    }
}

/// Emits a tile of `NP` panels × `MR` rows whose first panel is `first_panel`.
#[inline(always)]
pub(super) fn emit_tile<T: Copy, const NP: usize, const MR: usize>(
    acc: [[T; MR]; NP],
    first_panel: usize,
    sink: &mut impl Sink<T>,
) {
    for (pp, panel) in acc.iter().enumerate() {
        for (ii, v) in panel.iter().enumerate() {
            sink.put(first_panel + pp, ii, *v);
        }
    }
}
