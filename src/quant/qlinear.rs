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
        units: Range<usize>,
        out: &mut [f32],
        scratch: &mut StepScratch,
    ) {
        let rows = x.len() / self.in_features();
        let gates = cell.gates();
        let (n, hidden) = (units.len(), self.out_features() / gates);
        let params = prepared.params;
        scratch.accumulators.resize_for_overwrite(rows * gates * n);
        let acc = &mut scratch.accumulators[..];
        kernels::for_each_gate(gates, hidden, &units, |r, offset| {
            let (q, w) = (&prepared.quantized[..], &self.weight);
            let out = OutputRows::new(&mut acc[offset..], gates * n);
            kernels::gemm_u8i8(kernel, q, rows, params, w, r, out);
        });
        let row_len = gates * n;
        for (acc, out) in acc.chunks_exact(row_len).zip(out.chunks_exact_mut(row_len)) {
            kernels::for_each_gate(gates, hidden, &units, |r, offset| {
                let (acc, y) = (&acc[offset..][..r.len()], &mut out[offset..][..r.len()]);
                self.dequantize(kernel, params, r, acc, y);
            });
        }
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
