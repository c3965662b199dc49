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
        let work = rows * stride * out;
        let threads = exec
            .threads
            .min(work / Self::MIN_GEMM_WORK_PER_THREAD)
            .max(1);
        let quantized = &scratch.quantized;
        let dequantization = (&self.scales[..], &self.bias[..]);
        kernels::par_rows(
            pool,
            threads,
            rows,
            (y, out),
            (&mut [], 0),
            &|part, y, _: &mut [f32]| {
                let a = &quantized[part.start * stride..part.end * stride];
                let (m, w, y) = (part.len(), &self.weight, OutputRows::new(y, out));
                kernels::gemm_u8i8_dequantized(
                    exec.kernel,
                    a,
                    m,
                    params,
                    w,
                    dequantization,
                    0..out,
                    y,
                );
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
    ) {
        let rows = x.len() / self.in_features();
        let gates = cell.gates();
        let (n, hidden) = (units.len(), self.out_features() / gates);
        let (params, stride, row_len) = (prepared.params, self.weight.padded_cols(), gates * n);
        let q = &prepared.quantized[first_row * stride..(first_row + rows) * stride];
        let dequantization = (&self.scales[..], &self.bias[..]);
        kernels::for_each_gate(gates, hidden, &units, |r, offset| {
            let out = OutputRows::new(&mut out[offset..], row_len);
            kernels::gemm_u8i8_dequantized(
                kernel,
                q,
                rows,
                params,
                &self.weight,
                dequantization,
                r,
                out,
            );
        });
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

    /// A whole sequence is projected exactly as each of its rows alone (as a step projects its
    /// own rows, from the whole sequence's quantized input), for every kernel: the product's
    /// blocks of rows change where the sums go, not their values.
    #[test]
    fn a_sequence_projected_whole_equals_each_row_projected_alone() {
        let (input, hidden, rows) = (24, 256, 150);
        let out_features = 4 * hidden;
        let value = |i: usize, scale: f32| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * scale;
        let weight: Vec<f32> = (0..out_features * input).map(|i| value(i, 0.4)).collect();
        let bias: Vec<f32> = (0..out_features).map(|i| value(i + 5, 0.2)).collect();
        let linear = Linear::new(weight, bias, input, out_features);
        let x: Vec<f32> = (0..rows * input).map(|i| value(i + 11, 3.0)).collect();
        let units = 0..hidden;
        let row_len = 4 * hidden;
        for per_channel in [false, true] {
            let q = QLinear::quantize(&linear, per_channel);
            for kernel in Kernel::available() {
                let mut prepared = LinearScratch::default();
                q.prepare_sequence(kernel, &x, &mut prepared);
                let mut whole = vec![0f32; rows * row_len];
                q.project_units(
                    Cell::Lstm,
                    kernel,
                    &x,
                    &prepared,
                    0,
                    units.clone(),
                    &mut whole,
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
