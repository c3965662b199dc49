//! The dynamically quantized linear map (PyTorch's `nn.quantized.dynamic.Linear`).

use std::ops::Range;
use std::sync::Mutex;

use super::params::{quantize_weight, weight_scale};
use crate::kernels::{
    self, ActivationParams, AheadProjection, Engine, Execution, Kernel, LayerBuffers, LineBuf,
    OutputRows, PANEL, PackedI8, Pool, QuantizedRecurrent, StepScratch, UnitState,
    choose_activation_params,
};
use crate::model::{Cell, Linear, LinearOp, LinearScratch, StepAhead};

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
    /// (`rows × in`) into `quantized` (`rows × padded in`), sharing both passes between up to
    /// `exec.threads` threads when `x` is large: each takes the range of some rows (the
    /// smallest minimum and largest maximum of the parts are the whole's), then quantizes
    /// some rows.
    fn quantize_input(
        &self,
        exec: Execution,
        pool: &mut Pool,
        x: &[f32],
        quantized: &mut LineBuf<u8>,
    ) -> ActivationParams {
        let kernel = exec.kernel;
        let (cols, stride) = (self.weight.cols(), self.weight.padded_cols());
        let rows = x.len() / cols;
        let threads = kernels::pass_threads(exec.threads, x.len());
        if threads == 1 {
            return self.quantize_input_here(kernel, x, quantized);
        }
        let range = Mutex::new((f32::INFINITY, f32::NEG_INFINITY));
        kernels::par_row_ranges(pool, threads, rows, &|part| {
            let (min, max) = kernels::min_max(kernel, &x[part.start * cols..part.end * cols]);
            let mut whole = range.lock().expect("no task panics holding the range");
            *whole = (whole.0.min(min), whole.1.max(max));
        });
        let (min, max) = range
            .into_inner()
            .expect("no task panicked holding the range");
        let params = choose_activation_params(self.engine, min, max);
        quantized.resize(rows * stride, 0);
        let (inv_scale, zero_point) = (1.0 / params.scale, params.zero_point);
        let out = (&mut quantized[..], stride);
        kernels::par_rows(
            pool,
            threads,
            rows,
            out,
            (&mut [], 0),
            &|part, q, _: &mut [u8]| {
                let x = &x[part.start * cols..part.end * cols];
                kernels::quantize_u8(kernel, x, cols, inv_scale, zero_point, q, stride);
            },
        );
        params
    }

    /// [`QLinear::quantize_input`] on the calling thread: both passes over the whole of `x`.
    fn quantize_input_here(
        &self,
        kernel: Kernel,
        x: &[f32],
        quantized: &mut LineBuf<u8>,
    ) -> ActivationParams {
        let (cols, stride) = (self.weight.cols(), self.weight.padded_cols());
        let (min, max) = kernels::min_max(kernel, x);
        let params = choose_activation_params(self.engine, min, max);
        quantized.resize(x.len() / cols * stride, 0);
        let (inv_scale, zero_point) = (1.0 / params.scale, params.zero_point);
        kernels::quantize_u8(kernel, x, cols, inv_scale, zero_point, quantized, stride);
        params
    }

    /// Rows `rows` of this map applied to `m` activation rows `a` quantized with `params`
    /// (`m × padded in`), dequantized into `out`: `x Wᵀ + b` in those columns.
    fn product(
        &self,
        kernel: Kernel,
        (a, m, params): (&[u8], usize, ActivationParams),
        rows: Range<usize>,
        out: OutputRows<'_, f32>,
    ) {
        let dequantization = (&self.scales[..], &self.bias[..]);
        kernels::gemm_u8i8_dequantized(
            kernel,
            a,
            m,
            params,
            &self.weight,
            dequantization,
            rows,
            out,
        );
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
    const QUANTIZES_H: bool = true;
    const MIN_GEMM_WORK_PER_THREAD: usize = 1024 * 1024;
    // Measured on a 2-core Zen 4 at batch 1: −5 to +6% at hidden 32 and 48 (184K), 5 to 9%
    // faster at 64 (327K).
    const MIN_ALONGSIDE_PROJECTION_WORK: usize = 256 * 1024;

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
        let params = self.quantize_input(exec, pool, x, &mut scratch.quantized);
        let (out, stride) = (self.out_features(), self.weight.padded_cols());
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
            (&mut [], 0),
            &|part, y, _: &mut [f32]| {
                let a = &quantized[part.start * stride..part.end * stride];
                let y = OutputRows::new(y, out);
                self.product(exec.kernel, (a, part.len(), params), 0..out, y);
            },
        );
    }

    fn prepare_sequence(
        &self,
        exec: Execution,
        pool: &mut Pool,
        x: &[f32],
        scratch: &mut LinearScratch,
    ) {
        let params = self.quantize_input(exec, pool, x, &mut scratch.quantized);
        scratch.params = params;
    }

    fn prepare_sequence_here(&self, kernel: Kernel, x: &[f32], scratch: &mut LinearScratch) {
        scratch.params = self.quantize_input_here(kernel, x, &mut scratch.quantized);
    }

    fn prepared_bytes(&self, rows: usize) -> usize {
        rows * self.weight.padded_cols()
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
        kernels::for_each_gate(gates, hidden, &units, |r, offset| {
            let out = OutputRows::new(&mut out[offset..], row_len);
            self.product(kernel, (q, rows, params), r, out);
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
    /// [`kernels::gru_units_u8i8`]), `ahead` included.
    fn step_units(
        &self,
        cell: Cell,
        kernel: Kernel,
        h_ih: (&[f32], &[f32]),
        state: &mut UnitState<'_>,
        scratch: &mut StepScratch,
        ahead: Option<StepAhead<'_, Self>>,
    ) {
        let ahead = ahead.map(|a| {
            let (stride, rows) = (
                a.w_ih.weight.padded_cols(),
                a.x.len() / a.w_ih.in_features(),
            );
            AheadProjection {
                w: a.w_ih.recurrent(),
                input: &a.prepared.quantized[a.first_row * stride..(a.first_row + rows) * stride],
                params: a.prepared.params,
                gate: a.gate,
                out: a.out,
            }
        });
        let w = self.recurrent();
        match cell {
            Cell::Lstm => kernels::lstm_units_u8i8(kernel, w, h_ih, state, scratch, ahead),
            Cell::Gru => kernels::gru_units_u8i8(kernel, w, h_ih, state, scratch, ahead),
        }
    }

    /// The AVX-512 LSTM step with one batch row, its units in whole panels. Measured on a
    /// 2-core Zen 4, INT8 batch 1, both ways in one process: 4% faster at dims 256 and 512,
    /// 1% at 768 and 1024; the GRU's (three rows a chunk) was 3% slower at 256.
    fn fuses_ahead(&self, cell: Cell, kernel: Kernel, batch: usize) -> bool {
        cell == Cell::Lstm
            && kernel.vectors() == Kernel::Avx512Vnni
            && batch == 1
            && self.in_features().is_multiple_of(PANEL)
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
                let one_thread = Execution { kernel, threads: 1 };
                q.prepare_sequence(one_thread, &mut Pool::default(), &x, &mut prepared);
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

    /// A step asked to project input rows ahead leaves its own results unchanged and fills its
    /// gate's columns exactly as projecting the rows on their own does (and nothing else),
    /// for the FP32 and int8 maps, both cells and every kernel; the AVX-512 int8 LSTM step
    /// fuses it into its product.
    #[test]
    fn a_step_projecting_ahead_fills_its_gate_as_project_units_does() {
        let (input, hidden, steps) = (24, 64, 6);
        let value = |i: usize, scale: f32| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * scale;
        let x: Vec<f32> = (0..steps * input).map(|i| value(i + 11, 3.0)).collect();
        let h: Vec<f32> = (0..hidden).map(|i| value(i + 3, 1.5)).collect();
        for cell in [Cell::Lstm, Cell::Gru] {
            let rows = cell.gates() * hidden;
            let map = |cols: usize, seed: usize| {
                let weight = (0..rows * cols).map(|i| value(i + seed, 0.4)).collect();
                let bias = (0..rows).map(|i| value(i + seed + 5, 0.2)).collect();
                Linear::new(weight, bias, cols, rows)
            };
            let (w_ih, w_hh) = (map(input, 1), map(hidden, 2));
            check_step_ahead(cell, &w_ih, &w_hh, &x, &h);
            for per_channel in [false, true] {
                let (w_ih, w_hh) = (
                    QLinear::quantize(&w_ih, per_channel),
                    QLinear::quantize(&w_hh, per_channel),
                );
                check_step_ahead(cell, &w_ih, &w_hh, &x, &h);
            }
        }
    }

    /// See [`a_step_projecting_ahead_fills_its_gate_as_project_units_does`]: units 16..48 of
    /// a one-row step, rows 2 to 4 of the sequence `x` ahead, each gate in turn.
    fn check_step_ahead<L: LinearOp>(cell: Cell, w_ih: &L, w_hh: &L, x: &[f32], h: &[f32]) {
        let (gates, hidden, input) = (cell.gates(), h.len(), w_ih.in_features());
        let (units, rows) = (16..48, 2..5);
        let n = units.len();
        let ih: Vec<f32> = (0..gates * n).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect();
        let bits = |v: &[f32]| v.iter().map(|y| y.to_bits()).collect::<Vec<_>>();
        for kernel in Kernel::available() {
            let mut prepared = LinearScratch::default();
            let one_thread = Execution { kernel, threads: 1 };
            w_ih.prepare_sequence(one_thread, &mut Pool::default(), x, &mut prepared);
            let x_rows = &x[rows.start * input..rows.end * input];
            let mut projected = vec![0f32; rows.len() * gates * n];
            let first = rows.start;
            w_ih.project_units(
                cell,
                kernel,
                x_rows,
                &prepared,
                first,
                units.clone(),
                &mut projected,
            );
            // The step with the given ahead gate (or none): its (c, h) and the ahead buffer.
            let step = |gate: Option<usize>| {
                let (mut c, mut h_new) = (vec![0.25f32; hidden], vec![0f32; hidden]);
                let mut out = vec![f32::NAN; rows.len() * gates * n];
                let mut whole = UnitState::whole(&mut c, &mut h_new, hidden);
                let mut state = whole.block(units.clone(), 0..1);
                let mut scratch = StepScratch {
                    h_is_new: true,
                    ..StepScratch::default()
                };
                let ahead = gate.map(|gate| StepAhead {
                    w_ih,
                    x: x_rows,
                    prepared: &prepared,
                    first_row: first,
                    gate,
                    out: &mut out,
                });
                w_hh.step_units(cell, kernel, (h, &ih), &mut state, &mut scratch, ahead);
                (bits(&c), bits(&h_new), out)
            };
            let (c, h_new, _) = step(None);
            for gate in 0..gates {
                let (c_ahead, h_ahead, out) = step(Some(gate));
                assert_eq!(
                    (&c_ahead, &h_ahead),
                    (&c, &h_new),
                    "{cell:?} {kernel} gate {gate}"
                );
                for (i, (got, want)) in out.iter().zip(&projected).enumerate() {
                    let in_gate = i % (gates * n) / n == gate;
                    let ok = if in_gate {
                        got.to_bits() == want.to_bits()
                    } else {
                        got.is_nan()
                    };
                    assert!(
                        ok,
                        "{cell:?} {kernel} gate {gate} value {i}: {got} vs {want}"
                    );
                }
            }
        }
    }

    /// A sequence large enough to be quantized on two threads gets the parameters and bytes
    /// it gets on one, with its minimum and its maximum in different threads' rows.
    #[test]
    fn quantizing_on_two_threads_equals_one() {
        let (input, out_features, rows) = (100, 8, 1000);
        let value = |i: usize| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 2.0;
        let weight: Vec<f32> = (0..out_features * input).map(value).collect();
        let linear = Linear::new(weight, vec![0.1; out_features], input, out_features);
        let mut x: Vec<f32> = (0..rows * input).map(|i| value(i + 3)).collect();
        x[5] = 7.5;
        x[rows * input - 5] = -9.25;
        assert!(
            kernels::pass_threads(2, x.len()) == 2,
            "big enough for two threads"
        );
        for engine in [Engine::X86, Engine::Qnnpack] {
            let q = QLinear::quantize(&linear, false).with_engine(engine);
            for kernel in Kernel::available() {
                let mut pool = Pool::default();
                let (mut one, mut two) = (LineBuf::default(), LineBuf::default());
                let single = Execution { kernel, threads: 1 };
                let params = q.quantize_input(single, &mut pool, &x, &mut one);
                let shared = Execution { kernel, threads: 2 };
                let shared_params = q.quantize_input(shared, &mut pool, &x, &mut two);
                assert_eq!(params, choose_activation_params(engine, -9.25, 7.5));
                assert_eq!(shared_params, params, "{kernel} {engine:?}");
                assert!(one[..] == two[..], "{kernel} {engine:?}");
            }
        }
    }
}
