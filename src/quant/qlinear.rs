//! The dynamically quantized linear map (PyTorch's `nn.quantized.dynamic.Linear`).

use std::ops::Range;

use super::params::{quantize_weight, weight_scale};
use crate::kernels::{
    self, ActivationParams, Engine, Execution, Kernel, LayerBuffers, LineBuf, OutputRows, PackedI8,
    Pool, QuantizedRecurrent, StepScratch, UnitState, choose_activation_params,
};
use crate::model::{Cell, Linear, LinearOp, LinearScratch};

/// Int8 weights (per-tensor or per-row symmetric scales), f32 bias; activations are quantized
/// to uint8 from their own range on every call, products accumulate exactly in i32.
#[derive(Debug, Clone, PartialEq)]
pub struct QLinear {
    weight: PackedI8,
    /// One scale (per-tensor) or one per output row (per-channel).
    scales: Vec<f32>,
    per_channel: bool,
    bias: Vec<f32>,
    /// Whose activation rules and rescaling the map follows (the weights are the same).
    engine: Engine,
}

impl QLinear {
    /// Quantizes an f32 linear map, per tensor or per output row.
    pub fn quantize(linear: &Linear, per_channel: bool) -> Self {
        let (rows, cols) = (linear.out_features(), linear.in_features());
        let weight = linear.weight();
        let scales: Vec<f32> = if per_channel {
            weight.chunks_exact(cols).map(weight_scale).collect()
        } else {
            vec![weight_scale(&weight)]
        };
        let quantized: Vec<i8> = weight
            .chunks_exact(cols)
            .enumerate()
            .flat_map(|(row, values)| {
                let inv_scale = 1.0 / scales[if per_channel { row } else { 0 }];
                values.iter().map(move |&w| quantize_weight(w, inv_scale))
            })
            .collect();
        QLinear::from_parts(
            &quantized,
            rows,
            cols,
            scales,
            per_channel,
            linear.bias.clone(),
        )
    }

    /// Builds a quantized map from int8 weights (`rows × cols`), its scales (one, or one per
    /// row when `per_channel`) and an f32 bias.
    ///
    /// # Panics
    /// On inconsistent lengths (callers validate shapes first).
    pub fn from_parts(
        weights: &[i8],
        rows: usize,
        cols: usize,
        scales: Vec<f32>,
        per_channel: bool,
        bias: Vec<f32>,
    ) -> Self {
        assert_eq!(
            scales.len(),
            if per_channel { rows } else { 1 },
            "QLinear: scales"
        );
        assert_eq!(bias.len(), rows, "QLinear: bias");
        QLinear {
            weight: PackedI8::pack(weights, rows, cols),
            scales,
            per_channel,
            bias,
            engine: Engine::X86,
        }
    }

    /// This map computing as PyTorch's `engine` does (it starts as `x86`'s).
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// The engine whose numerics the map follows.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Whether there is one scale per output row.
    pub fn per_channel(&self) -> bool {
        self.per_channel
    }

    /// The int8 weights, `rows × cols` row-major.
    pub fn weights(&self) -> Vec<i8> {
        self.weight.unpack()
    }

    /// The weight scales (1 or one per row).
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// The f32 bias.
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }
}

impl QLinear {
    /// Picks this call's activation parameters from `x`'s range and quantizes `x`
    /// (`rows × in`) into `quantized` (`rows × padded in`).
    fn quantize_input(
        &self,
        kernel: Kernel,
        x: &[f32],
        quantized: &mut LineBuf<u8>,
    ) -> ActivationParams {
        let (min, max) = kernels::min_max(kernel, x);
        let params = choose_activation_params(self.engine, min, max);
        let (cols, stride) = (self.weight.cols(), self.weight.padded_cols());
        quantized.resize(x.len() / cols * stride, 0);
        kernels::quantize_u8(
            kernel,
            x,
            cols,
            1.0 / params.scale,
            params.zero_point,
            quantized,
            stride,
        );
        params
    }

    /// This map as the recurrent kernels read it.
    fn recurrent(&self) -> QuantizedRecurrent<'_> {
        QuantizedRecurrent {
            weight: &self.weight,
            scales: &self.scales,
            bias: &self.bias,
            engine: self.engine,
        }
    }

    /// `y[r] = acc[r] · (x_scale · w_scale[r]) + bias[r]` for the output rows `rows`, rounded
    /// as the engine rounds it (see [`kernels::dequantize`]).
    fn dequantize(
        &self,
        kernel: Kernel,
        x: ActivationParams,
        rows: Range<usize>,
        acc: &[i32],
        y: &mut [f32],
    ) {
        let scales = if self.per_channel {
            &self.scales[rows.clone()]
        } else {
            &self.scales[..]
        };
        kernels::dequantize(kernel, x, scales, &self.bias[rows], acc, y);
    }

    /// Rows of one block of [`LinearOp::project_units`] over `rows` input rows, `row_len`
    /// outputs each (see [`projection_block_rows`]).
    fn projection_block(&self, rows: usize, row_len: usize) -> usize {
        projection_block_rows(rows, row_len, row_len * self.weight.padded_cols())
    }
}

/// Most accumulator bytes one block of an input projection's rows fills before they are
/// dequantized: a block's accumulators then stay in L2 between the product and the
/// dequantization, where the whole sequence's (2.6 MB a thread at batch 64, dim 256) went out
/// to L3 and back (measured: the projection phase of that forward took 1.12 ms against 0.80
/// for the product alone).
const PROJECTION_BLOCK_BYTES: usize = 256 << 10;

/// Most weight bytes (a thread's share of `W_ih`) for which the projection runs in blocks of
/// rows: each block reads those weights again, which costs nothing while they stay in L2 but
/// would stream them from L3 or memory once per block beyond it.
const PROJECTION_BLOCK_MAX_WEIGHTS: usize = 512 << 10;

/// Rows of one block of an input projection of `rows` rows, `row_len` outputs each, over
/// `weight_bytes` of weights (see [`PROJECTION_BLOCK_BYTES`]): all of them when the weights
/// do not stay in L2, else as many as fill the block's accumulators (at least 16, a
/// multiple of 4 as the kernels' row blocks are).
fn projection_block_rows(rows: usize, row_len: usize, weight_bytes: usize) -> usize {
    if weight_bytes > PROJECTION_BLOCK_MAX_WEIGHTS {
        return rows.max(1);
    }
    let fitting = PROJECTION_BLOCK_BYTES / (4 * row_len).max(1);
    (fitting / 4 * 4).max(16).min(rows.max(1))
}

impl LinearOp for QLinear {
    // Measured: one thread is as fast at hidden 144 (83K per step), two are 6% faster at 160
    // and 33% at 192.
    const MIN_STEP_WORK_PER_THREAD: usize = 44 * 1024;
    const MIN_GEMM_WORK_PER_THREAD: usize = 1024 * 1024;

    fn in_features(&self) -> usize {
        self.weight.cols()
    }

    fn out_features(&self) -> usize {
        self.weight.rows()
    }

    fn weight_bytes(&self) -> usize {
        self.in_features() * self.out_features()
    }

    fn forward_with(
        &self,
        exec: Execution,
        pool: &mut Pool,
        x: &[f32],
        rows: usize,
        y: &mut [f32],
        scratch: &mut LinearScratch,
    ) {
        let params = self.quantize_input(exec.kernel, x, &mut scratch.quantized);
        let (out, stride) = (self.out_features(), self.weight.padded_cols());
        scratch.accumulators.resize_for_overwrite(rows * out);
        let work = rows * stride * out;
        let threads = exec
            .threads
            .min(work / Self::MIN_GEMM_WORK_PER_THREAD)
            .max(1);
        let quantized = &scratch.quantized;
        kernels::par_rows(
            pool,
            threads,
            rows,
            (y, out),
            (&mut scratch.accumulators, out),
            &|part, y, acc| {
                let a = &quantized[part.start * stride..part.end * stride];
                let acc_rows = OutputRows::new(&mut *acc, out);
                let w = &self.weight;
                kernels::gemm_u8i8(exec.kernel, a, part.len(), params, w, 0..out, acc_rows);
                self.dequantize(exec.kernel, params, 0..out, acc, y);
            },
        );
    }

    fn prepare_sequence(&self, kernel: Kernel, x: &[f32], scratch: &mut LinearScratch) {
        let params = self.quantize_input(kernel, x, &mut scratch.quantized);
        scratch.params = params;
    }

    fn project_units(
        &self,
        cell: Cell,
        kernel: Kernel,
        x: &[f32],
        prepared: &LinearScratch,
        first_row: usize,
        units: Range<usize>,
        out: &mut [f32],
        scratch: &mut StepScratch,
    ) {
        let rows = x.len() / self.in_features();
        let gates = cell.gates();
        let (n, hidden) = (units.len(), self.out_features() / gates);
        let (params, stride, row_len) = (prepared.params, self.weight.padded_cols(), gates * n);
        let block = self.projection_block(rows, row_len);
        scratch.accumulators.resize_for_overwrite(block * row_len);
        for first in (0..rows).step_by(block) {
            let m = block.min(rows - first);
            let at = first_row + first;
            let q = &prepared.quantized[at * stride..(at + m) * stride];
            let acc = &mut scratch.accumulators[..m * row_len];
            kernels::for_each_gate(gates, hidden, &units, |r, offset| {
                let out = OutputRows::new(&mut acc[offset..], row_len);
                kernels::gemm_u8i8(kernel, q, m, params, &self.weight, r, out);
            });
            let out = &mut out[first * row_len..(first + m) * row_len];
            for (acc, out) in acc.chunks_exact(row_len).zip(out.chunks_exact_mut(row_len)) {
                kernels::for_each_gate(gates, hidden, &units, |r, offset| {
                    let (acc, y) = (&acc[offset..][..r.len()], &mut out[offset..][..r.len()]);
                    self.dequantize(kernel, params, r, acc, y);
                });
            }
        }
    }

    /// One block of rows' accumulators ([`QLinear::projection_block`]).
    fn projection_accumulators(&self, cell: Cell, rows: usize, units: usize) -> usize {
        let row_len = cell.gates() * units;
        self.projection_block(rows, row_len) * row_len
    }

    /// The layer kernels ([`kernels::lstm_layer_u8i8`], [`kernels::gru_layer_u8i8`]).
    fn run_recurrence(
        &self,
        cell: Cell,
        kernel: Kernel,
        ih: &[f32],
        layer: LayerBuffers<'_>,
        scratch: &mut StepScratch,
    ) {
        match cell {
            Cell::Lstm => kernels::lstm_layer_u8i8(kernel, self.recurrent(), ih, layer, scratch),
            Cell::Gru => kernels::gru_layer_u8i8(kernel, self.recurrent(), ih, layer, scratch),
        }
    }

    /// The whole step in one kernel call ([`kernels::lstm_units_u8i8`], fused on AVX-512, or
    /// [`kernels::gru_units_u8i8`]).
    fn step_units(
        &self,
        cell: Cell,
        kernel: Kernel,
        h: &[f32],
        ih: &[f32],
        state: &mut UnitState<'_>,
        scratch: &mut StepScratch,
    ) {
        match cell {
            Cell::Lstm => kernels::lstm_units_u8i8(kernel, self.recurrent(), h, ih, state, scratch),
            Cell::Gru => kernels::gru_units_u8i8(kernel, self.recurrent(), h, ih, state, scratch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_blocks_fill_l2_only_while_the_weights_stay_there() {
        // 512 outputs a row: 128 rows fill 256 KB of accumulators.
        assert_eq!(projection_block_rows(1280, 512, 128 << 10), 128);
        // Rows that fill less than a block, and tiny blocks, are one block or 16 rows.
        assert_eq!(projection_block_rows(20, 512, 128 << 10), 20);
        assert_eq!(projection_block_rows(1000, 1 << 16, 128 << 10), 16);
        // Weights past L2 are read once: every row in one block.
        assert_eq!(projection_block_rows(1280, 512, 2 << 20), 1280);
        assert_eq!(projection_block_rows(0, 512, 1024), 1);
    }

    /// A sequence long enough for several blocks is projected exactly as each of its rows
    /// alone (as a step projects its own rows, from the whole sequence's quantized input), for
    /// every kernel: the blocks change where the products go, not their values.
    #[test]
    fn a_projection_in_blocks_equals_each_row_projected_alone() {
        let (input, hidden, rows) = (24, 256, 150);
        let out_features = 4 * hidden;
        let value = |i: usize, scale: f32| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * scale;
        let weight: Vec<f32> = (0..out_features * input).map(|i| value(i, 0.4)).collect();
        let bias: Vec<f32> = (0..out_features).map(|i| value(i + 5, 0.2)).collect();
        let linear = Linear::new(weight, bias, input, out_features);
        let x: Vec<f32> = (0..rows * input).map(|i| value(i + 11, 3.0)).collect();
        let units = 0..hidden;
        let row_len = 4 * hidden;
        assert!(projection_block_rows(rows, row_len, row_len * 32) < rows / 2);
        for per_channel in [false, true] {
            let q = QLinear::quantize(&linear, per_channel);
            for kernel in Kernel::available() {
                let mut prepared = LinearScratch::default();
                q.prepare_sequence(kernel, &x, &mut prepared);
                let mut whole = vec![0f32; rows * row_len];
                let mut scratch = StepScratch::default();
                q.project_units(
                    Cell::Lstm,
                    kernel,
                    &x,
                    &prepared,
                    0,
                    units.clone(),
                    &mut whole,
                    &mut scratch,
                );
                for r in 0..rows {
                    let x_row = &x[r * input..][..input];
                    let mut alone = vec![0f32; row_len];
                    q.project_units(
                        Cell::Lstm,
                        kernel,
                        x_row,
                        &prepared,
                        r,
                        units.clone(),
                        &mut alone,
                        &mut scratch,
                    );
                    let bits = |v: &[f32]| v.iter().map(|y| y.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&whole[r * row_len..][..row_len]),
                        bits(&alone),
                        "{kernel} row {r} per_channel {per_channel}"
                    );
                }
            }
        }
    }
}
