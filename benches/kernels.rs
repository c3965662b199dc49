//! The matrix kernels alone, per available kernel family: one recurrent step's GEMV
//! (`4H × H` weights, one activation row), the input projection's GEMM (20 rows) and a
//! batch-64 step's GEMM (64 rows); the LSTM and GRU cells on one row as long as one thread's
//! share of a batch-64 step at dim 256 (`cells/`), and over every row of a batch-64 step of 8,
//! 48 or 128 units as the steps run them (`batch_cells/`), the other half of a batched step's
//! time;
//! one thread's share of a batch-1 int8 LSTM step (`step/`), without the thread pool; the
//! batch-1 FP32 step's product with and without the ahead projection fused into it
//! (`f32_ahead/`); and the check of an input for infinities and NaNs (`all_finite/`).
//! Throughput is in operations (2 per multiply-add), so criterion's elem/s reads as OP/s,
//! except where a group says otherwise.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use dynq::Kernel;
use dynq::kernels::{
    self, ActivationParams, Engine, OutputRows, PackedF32, PackedI8, QuantizedRecurrent,
    StepScratch, UnitState,
};

/// A benchmark group with this file's short timings (every kernel here runs in micro- or
/// nanoseconds).
fn short_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(800))
        .sample_size(20);
    group
}

fn matrix_kernels(c: &mut Criterion) {
    let mut group = short_group(c, "kernels");
    for (hidden, m) in [(256, 1), (1024, 1), (1024, 20), (256, 64)] {
        let (rows, cols) = (4 * hidden, hidden);
        let w8: Vec<i8> = (0..rows * cols).map(|i| (i * 7 % 255) as i8).collect();
        let wf: Vec<f32> = w8.iter().map(|&v| f32::from(v) / 128.0).collect();
        let (p8, pf) = (
            PackedI8::pack(&w8, rows, cols),
            PackedF32::pack(&wf, rows, cols),
        );
        let a8: Vec<u8> = (0..m * p8.padded_cols()).map(|i| (i % 128) as u8).collect();
        let a8_full: Vec<u8> = (0..m * p8.padded_cols())
            .map(|i| (i * 5 % 256) as u8)
            .collect();
        let af: Vec<f32> = (0..m * cols).map(|i| (i % 17) as f32 / 17.0).collect();
        let bias: Vec<f32> = (0..rows).map(|i| (i % 5) as f32 / 5.0).collect();
        let (mut o8, mut of) = (vec![0i32; m * rows], vec![0f32; m * rows]);
        group.throughput(Throughput::Elements((2 * m * rows * cols) as u64));
        for kernel in Kernel::available() {
            let id = format!("{}/{hidden}x{m}", kernel.name());
            // x86's activations span 7 bits; qnnpack's the whole byte (AVX2 splits such bytes).
            for (name, engine, activations) in [
                ("u8i8", Engine::X86, &a8),
                ("u8i8_full_range", Engine::Qnnpack, &a8_full),
            ] {
                let params = ActivationParams {
                    scale: 1.0,
                    zero_point: 3,
                    engine,
                };
                group.bench_function(BenchmarkId::new(name, &id), |b| {
                    b.iter(|| {
                        let out = OutputRows::new(&mut o8, rows);
                        kernels::gemm_u8i8(
                            kernel,
                            black_box(activations),
                            m,
                            params,
                            &p8,
                            0..rows,
                            out,
                        )
                    });
                });
            }
            group.bench_function(BenchmarkId::new("f32", &id), |b| {
                b.iter(|| {
                    let out = OutputRows::new(&mut of, rows);
                    kernels::gemm_f32(kernel, black_box(&af), m, &pf, &bias, 0..rows, out)
                });
            });
        }
    }
    group.finish();
}

/// `len` gate pre-activations (or states) spread over `±scale` as a trained model's are,
/// different for each `seed`.
fn spread(seed: usize, len: usize, scale: f32) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 37 + seed * 11) % 101) as f32 / 101.0 * 2.0 * scale - scale)
        .collect()
}

/// The single-row cells (`kernels::lstm_cell`, `kernels::gru_cell`) per kernel family, on one
/// row of `8192` units: as many as one thread's share of a batch-64 step at dim 256 (64 rows ×
/// 128 units). AVX2 and scalar steps run these row by row; AVX-512 steps run `batch_cells/`.
/// Throughput is in units.
fn cells(c: &mut Criterion) {
    let mut group = short_group(c, "cells");
    let n = 64 * 128;
    let hh: Vec<Vec<f32>> = (0..4).map(|k| spread(k, n, 3.0)).collect();
    let ih: Vec<Vec<f32>> = (0..4).map(|k| spread(k + 4, n, 2.0)).collect();
    let (c0, mut h) = (spread(8, n, 1.0), vec![0f32; n]);
    group.throughput(Throughput::Elements(n as u64));
    for kernel in Kernel::available() {
        let mut c_state = c0.clone();
        group.bench_function(BenchmarkId::new("lstm", kernel.name()), |b| {
            b.iter(|| {
                c_state.copy_from_slice(&c0);
                let (hh, ih) = (
                    [0, 1, 2, 3].map(|k| &hh[k][..]),
                    [0, 1, 2, 3].map(|k| &ih[k][..]),
                );
                kernels::lstm_cell(kernel, hh, black_box(ih), &mut c_state, &mut h);
            });
        });
        group.bench_function(BenchmarkId::new("gru", kernel.name()), |b| {
            b.iter(|| {
                let (hh, ih) = ([0, 1, 2].map(|k| &hh[k][..]), [0, 1, 2].map(|k| &ih[k][..]));
                kernels::gru_cell(kernel, hh, black_box(ih), &c0, &mut h);
            });
        });
    }
    group.finish();
}

/// The cells of every row of a batch-64 step (`kernels::lstm_cells`, `kernels::gru_cells`, as
/// the steps run them) at 8, 48 and 128 units a row: the first two leave units for AVX-512 to
/// pair across rows, 128 is one thread's share at dim 256. Throughput is in units.
fn batch_cells(c: &mut Criterion) {
    let mut group = short_group(c, "batch_cells");
    let batch = 64;
    for n in [8, 48, 128] {
        let (c0, h_old) = (spread(8, batch * n, 1.0), spread(9, batch * n, 1.0));
        group.throughput(Throughput::Elements((batch * n) as u64));
        for kernel in Kernel::available() {
            let id = format!("{}/{n}", kernel.name());
            let (hh, ih) = (spread(0, batch * 4 * n, 3.0), spread(4, batch * 4 * n, 2.0));
            let (mut c_state, mut h) = (c0.clone(), vec![0f32; batch * n]);
            group.bench_function(BenchmarkId::new("lstm", &id), |b| {
                b.iter(|| {
                    c_state.copy_from_slice(&c0);
                    let mut state = UnitState::whole(&mut c_state, &mut h, n);
                    kernels::lstm_cells(kernel, &hh, black_box(&ih), &mut state);
                });
            });
            let (hh, ih) = (spread(0, batch * 3 * n, 3.0), spread(4, batch * 3 * n, 2.0));
            let (mut unused_c, mut h) = (vec![0f32; batch * n], vec![0f32; batch * n]);
            group.bench_function(BenchmarkId::new("gru", &id), |b| {
                b.iter(|| {
                    let mut state = UnitState::whole(&mut unused_c, &mut h, n);
                    kernels::gru_cells(kernel, &hh, black_box(&ih), &h_old, &mut state);
                });
            });
        }
    }
    group.finish();
}

/// Quantizing one batch-64 step's hidden state at dim 256 (64 × 256 values), as every step
/// does before its product: its range, then the bytes. Throughput is in values.
fn quantize_h(c: &mut Criterion) {
    let mut group = short_group(c, "quantize_h");
    let (rows, cols) = (64, 256);
    let h: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 37 % 101) as f32 / 101.0 - 0.5) * 1.6)
        .collect();
    let mut q = vec![0u8; rows * cols];
    group.throughput(Throughput::Elements((rows * cols) as u64));
    for kernel in Kernel::available() {
        group.bench_function(BenchmarkId::from_parameter(kernel.name()), |b| {
            b.iter(|| {
                let (lo, hi) = kernels::min_max(kernel, black_box(&h));
                let inv_scale = 127.0 / (hi - lo.min(0.0));
                kernels::quantize_u8(kernel, &h, cols, inv_scale, 3, &mut q, cols);
            });
        });
    }
    group.finish();
}

/// The check every forward makes of its input (a dim-256 sequence of 20 steps: 5120 values)
/// for infinities and NaNs. Throughput is in values.
fn all_finite(c: &mut Criterion) {
    let mut group = short_group(c, "all_finite");
    let x: Vec<f32> = (0..20 * 256)
        .map(|i| ((i * 37 % 101) as f32 / 101.0 - 0.5) * 4.0)
        .collect();
    group.throughput(Throughput::Elements(x.len() as u64));
    for kernel in Kernel::available() {
        group.bench_function(BenchmarkId::from_parameter(kernel.name()), |b| {
            b.iter(|| kernels::all_finite(kernel, black_box(&x)));
        });
    }
    group.finish();
}

/// One thread's share of a batch-1 int8 LSTM step as two threads split it (the first half of
/// the hidden units), at the dims where the step streams its weights from L2: quantizing `h`,
/// the product with the units' `W_hh` rows and the cell, alternating direction as the layer
/// does. Throughput is in bytes of `W_hh` read, so criterion's B/s compares with the L2 read
/// bandwidth `dynq roofline` measures.
fn batch1_step(c: &mut Criterion) {
    let mut group = short_group(c, "step");
    for hidden in [256, 512, 1024] {
        let rows = 4 * hidden;
        let w8: Vec<i8> = (0..rows * hidden).map(|i| (i * 7919 % 255) as i8).collect();
        let weight = PackedI8::pack(&w8, rows, hidden);
        let bias: Vec<f32> = (0..rows).map(|i| (i % 7) as f32 * 0.01).collect();
        let h_prev: Vec<f32> = (0..hidden)
            .map(|i| (i * 37 % 101) as f32 / 50.0 - 1.0)
            .collect();
        let units = 0..hidden / 2;
        let ih: Vec<f32> = (0..4 * units.len())
            .map(|i| (i % 13) as f32 * 0.05 - 0.3)
            .collect();
        let (mut c_state, mut h) = (vec![0.1f32; hidden], vec![0f32; hidden]);
        group.throughput(Throughput::Bytes((4 * units.len() * hidden) as u64));
        for kernel in Kernel::available() {
            let w = QuantizedRecurrent {
                weight: &weight,
                scales: &[0.003],
                bias: &bias,
                engine: Engine::X86,
            };
            let mut scratch = StepScratch::default();
            let mut s = 0;
            let id = BenchmarkId::new(format!("lstm_u8i8/{}", kernel.name()), hidden);
            group.bench_function(id, |b| {
                b.iter(|| {
                    scratch.start_step(s, true);
                    s += 1;
                    let mut whole = UnitState::whole(&mut c_state, &mut h, hidden);
                    let mut state = whole.block(units.clone(), 0..1);
                    let h_prev = black_box(&h_prev[..]);
                    let h_ih = (h_prev, &ih[..]);
                    kernels::lstm_units_u8i8(kernel, w, h_ih, &mut state, &mut scratch, None);
                });
            });
        }
    }
    group.finish();
}

/// One thread's share of a batch-1 FP32 LSTM step's product (the first half of the hidden
/// units, their four gates' rows of `W_hh`) and, as the step projects ahead, one gate of
/// `W_ih` for the next chunk's 4 input rows: `fused` runs both in one pass over the weights
/// (`kernels::gates_f32_with_ahead`, AVX-512), `separate` as two `gemm_f32` products.
/// Throughput is in bytes of weights read (`W_hh`'s share and the gate of `W_ih`).
fn f32_step_ahead(c: &mut Criterion) {
    if !Kernel::available().contains(&Kernel::Avx512Vnni) {
        eprintln!("avx512-vnni not available on this CPU: f32_ahead/ not measured");
        return;
    }
    let kernel = Kernel::Avx512Vnni;
    let mut group = short_group(c, "f32_ahead");
    for hidden in [128, 256, 512] {
        let rows = 4 * hidden;
        let w: Vec<f32> = (0..rows * hidden)
            .map(|i| (i * 7919 % 255) as f32 / 255.0 - 0.5)
            .collect();
        // The same values in two matrices of their own, as W_hh and W_ih are.
        let w_hh = PackedF32::pack(&w, rows, hidden);
        let w_ih = w_hh.clone();
        let bias = vec![0.01f32; rows];
        let h: Vec<f32> = (0..hidden).map(|i| (i % 13) as f32 * 0.1).collect();
        let x: Vec<f32> = (0..4 * hidden).map(|i| (i % 11) as f32 * 0.1).collect();
        let units = 0..hidden / 2;
        let n = units.len();
        let (mut gates, mut out) = (vec![0f32; 4 * n], vec![0f32; 4 * 4 * n]);
        group.throughput(Throughput::Bytes((5 * n * hidden * 4) as u64));
        let mut s = 0;
        group.bench_function(BenchmarkId::new("fused", hidden), |b| {
            b.iter(|| {
                s += 1;
                let mut ahead = kernels::F32Ahead {
                    w: &w_ih,
                    bias: &bias,
                    x: black_box(&x),
                    gate: s % 4,
                    out: &mut out,
                };
                let product = (black_box(&h[..]), &w_hh, &bias[..]);
                let fused = kernels::gates_f32_with_ahead(
                    kernel,
                    product,
                    (4, units.clone()),
                    &mut gates,
                    &mut ahead,
                    s % 2 == 1,
                );
                assert!(fused);
            });
        });
        group.bench_function(BenchmarkId::new("separate", hidden), |b| {
            b.iter(|| {
                s += 1;
                for g in 0..4 {
                    let r = g * hidden + units.start;
                    let out = OutputRows::new(&mut gates[g * n..], 4 * n);
                    kernels::gemm_f32(kernel, black_box(&h), 1, &w_hh, &bias, r..r + n, out);
                }
                let mut ahead = kernels::F32Ahead {
                    w: &w_ih,
                    bias: &bias,
                    x: black_box(&x),
                    gate: s % 4,
                    out: &mut out,
                };
                ahead.project(kernel, 4, &units);
            });
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    matrix_kernels,
    cells,
    batch_cells,
    quantize_h,
    all_finite,
    batch1_step,
    f32_step_ahead
);
criterion_main!(benches);
