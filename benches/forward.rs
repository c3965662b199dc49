//! Forward pass of the recipe's model (sequence 20, batch 1, one layer, input = hidden = dim)
//! for every variant, with the default run options (fastest kernel, one thread per core); the
//! same for a GRU and for bidirectional LSTM and GRU layers (`forward_gru`, `forward_bilstm`,
//! `forward_bigru`), FP32 and INT8 at the dims PyTorch is compared at; and the LSTM at batch
//! 64 (`batch64`).

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main};
use dynq::model::{Cell, random_inputs, random_model};
use dynq::{
    Model, ModelDims, RecurrentOutput, RecurrentState, RunOptions, Scheme, Workspace,
    quantize_dynamic,
};
use ndarray::Array3;

/// The dimensions of the table, plus 32 and 64 around the INT8/FP32 crossover.
const DIMS: [usize; 7] = [8, 32, 64, 80, 256, 512, 1024];

/// Times the warm forward pass of `q` on `input` from `state` as benchmark `id` of `group`.
fn time_forward(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    q: &Model,
    input: &Array3<f32>,
    state: &RecurrentState,
) {
    let mut ws = Workspace::default();
    let mut out = RecurrentOutput::default();
    group.bench_function(id, |b| {
        b.iter(|| {
            q.forward_into(black_box(input.view()), Some(state), &mut ws, &mut out)
                .expect("valid input");
            black_box(&out);
        });
    });
}

fn forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    for dim in DIMS {
        let dims = ModelDims::square(dim);
        let model = random_model(dims, 29592).expect("valid dims");
        let (input, state) = random_inputs(dims, 20, 1, 1);
        for scheme in Scheme::RECURRENT {
            let q = quantize_dynamic(&model, scheme);
            let id = BenchmarkId::new(scheme.name(), dim);
            time_forward(&mut group, id, &q, &input, &state);
        }
    }
    group.finish();
}

/// The other cells: a GRU, and bidirectional LSTM and GRU layers (their two directions run at
/// once on two threads).
fn other_cells(c: &mut Criterion) {
    let cells = [
        ("forward_gru", Cell::Gru, false),
        ("forward_bilstm", Cell::Lstm, true),
        ("forward_bigru", Cell::Gru, true),
    ];
    for (name, cell, bidirectional) in cells {
        let mut group = c.benchmark_group(name);
        group
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
            .sample_size(20);
        for dim in [8, 80, 256, 1024] {
            let dims = ModelDims {
                cell,
                bidirectional,
                ..ModelDims::square(dim)
            };
            let model = random_model(dims, 29592).expect("valid dims");
            let (input, state) = random_inputs(dims, 20, 1, 1);
            for scheme in [Scheme::Fp32, Scheme::Int8] {
                let q = quantize_dynamic(&model, scheme);
                let id = BenchmarkId::new(scheme.name(), dim);
                time_forward(&mut group, id, &q, &input, &state);
            }
        }
        group.finish();
    }
}

/// The same forward pass with the thread limit forced to 1 and 2.
fn threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("threads");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    for dim in [80, 256, 512, 1024] {
        let dims = ModelDims::square(dim);
        let model = random_model(dims, 29592).expect("valid dims");
        let (input, state) = random_inputs(dims, 20, 1, 1);
        for scheme in [Scheme::Fp32, Scheme::Int8] {
            for threads in [1, 2] {
                let options = RunOptions {
                    threads,
                    ..RunOptions::default()
                };
                let q = quantize_dynamic(&model, scheme)
                    .with_run_options(options)
                    .expect("auto kernel");
                let id = BenchmarkId::new(format!("{}/{threads}", scheme.name()), dim);
                time_forward(&mut group, id, &q, &input, &state);
            }
        }
    }
    group.finish();
}

/// The forward pass at batch 64 (`--preset batch-sweep`'s far end), where the products become
/// matrix products: FP32 and INT8, sequence 20, one layer.
fn batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch64");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(10);
    for dim in [8, 80, 256, 512, 1024] {
        let dims = ModelDims::square(dim);
        let model = random_model(dims, 29592).expect("valid dims");
        let (input, state) = random_inputs(dims, 20, 64, 1);
        for scheme in [Scheme::Fp32, Scheme::Int8] {
            let q = quantize_dynamic(&model, scheme);
            let id = BenchmarkId::new(scheme.name(), dim);
            time_forward(&mut group, id, &q, &input, &state);
        }
    }
    group.finish();
}

criterion_group!(benches, forward, other_cells, threads, batch);
criterion_main!(benches);
