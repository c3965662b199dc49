//! A model's outputs do not depend on the thread count, and every kernel computes the same
//! bits; asking for a kernel the CPU lacks is a clear error.

use dynq::model::{Cell, random_inputs, random_model};
use dynq::{
    Kernel, KernelChoice, ModelDims, RecurrentOutput, RunOptions, Scheme, Workspace,
    quantize_dynamic,
};

fn run(scheme: Scheme, dims: ModelDims, batch: usize, options: RunOptions) -> RecurrentOutput {
    let model = random_model(dims, 5).unwrap();
    let (input, state) = random_inputs(dims, 6, batch, 9);
    let model = quantize_dynamic(&model, scheme)
        .with_run_options(options)
        .unwrap();
    model.forward(input.view(), Some(&state)).unwrap()
}

#[test]
fn results_are_identical_for_every_thread_count_and_kernel() {
    // Hidden sizes that split into several 16-unit blocks, with and without a ragged end, and
    // one too small to split.
    let shapes = [
        // Small enough that every thread count runs the single-threaded fused steps.
        (
            ModelDims {
                input_size: 5,
                hidden_size: 8,
                num_layers: 2,
                head: 3,
                ..ModelDims::square(1)
            },
            2,
        ),
        (
            ModelDims {
                input_size: 13,
                hidden_size: 67,
                num_layers: 2,
                head: 5,
                ..ModelDims::square(1)
            },
            3,
        ),
        (
            ModelDims {
                input_size: 40,
                hidden_size: 96,
                num_layers: 1,
                head: 0,
                ..ModelDims::square(1)
            },
            1,
        ),
        // Big enough for every scheme to share its steps between threads (blocks of 64 or 48
        // units and a ragged last one), over two layers and two batch rows.
        (
            ModelDims {
                input_size: 24,
                hidden_size: 200,
                num_layers: 2,
                head: 0,
                ..ModelDims::square(1)
            },
            2,
        ),
        // A batch large enough for each step to project its own input rows: split by batch
        // rows on two threads (8 each), by units on three and four, for which the rows do
        // not go round (64 units: two blocks of 32).
        (
            ModelDims {
                input_size: 20,
                hidden_size: 64,
                num_layers: 2,
                head: 0,
                ..ModelDims::square(1)
            },
            16,
        ),
        // A batch large enough for the threads to split each step by batch rows rather than
        // by units, each step projecting its own rows (a ragged last block of rows, and of
        // units in the single-threaded run).
        (
            ModelDims {
                input_size: 12,
                hidden_size: 40,
                num_layers: 1,
                head: 0,
                ..ModelDims::square(1)
            },
            33,
        ),
        // Split by rows too (7 panels of units), with an FP32 `W_ih` (538 KB) too large for
        // L2: its steps read it from L3 to project their rows, as the int8 schemes' steps do
        // theirs (134 KB) from L2. (With an L3 under twice its weights, the whole sequence is
        // projected first: `model::recurrent`'s unit test takes that way too.)
        (
            ModelDims {
                input_size: 300,
                hidden_size: 112,
                num_layers: 1,
                head: 0,
                ..ModelDims::square(1)
            },
            16,
        ),
        // One batch row, shared by units (blocks of 80, or 64, 64 and 32 units): on AVX-512
        // the INT8 and FP32 LSTMs' steps project the input rows of the steps ahead of them
        // (rows 4 and 5 by steps 0 to 3), and so do the FP32 GRU's (rows 3 to 5 by steps 0
        // to 2), here with fewer input columns than hidden units.
        (
            ModelDims {
                input_size: 24,
                hidden_size: 160,
                num_layers: 1,
                head: 0,
                ..ModelDims::square(1)
            },
            1,
        ),
    ];
    // Every shape as an LSTM and as a GRU, one direction and two (whose directions run on two
    // threads at once); the largest shapes with fewer variants, to bound the time.
    let variants = shapes.iter().enumerate().flat_map(|(k, &(dims, batch))| {
        let (largest, widest, ahead) = (k == 3, k == 6, k == 7);
        [
            (Cell::Lstm, false),
            (Cell::Gru, false),
            (Cell::Lstm, true),
            (Cell::Gru, true),
        ]
        .into_iter()
        .filter(move |&(cell, bi)| !(largest && cell == Cell::Gru && bi))
        .filter(move |&(cell, bi)| !(widest && (cell == Cell::Gru || bi)))
        .filter(move |&(_, bi)| !(ahead && bi))
        .map(move |(cell, bidirectional)| {
            let dims = ModelDims {
                cell,
                bidirectional,
                ..dims
            };
            (dims, batch)
        })
    });
    for (dims, batch) in variants {
        for scheme in Scheme::ALL {
            let reference = run(
                scheme,
                dims,
                batch,
                RunOptions {
                    kernel: KernelChoice::Scalar,
                    threads: 1,
                },
            );
            for kernel in Kernel::available() {
                let choice = KernelChoice::from(kernel);
                for threads in [1, 2, 3, 4] {
                    let out = run(
                        scheme,
                        dims,
                        batch,
                        RunOptions {
                            kernel: choice,
                            threads,
                        },
                    );
                    assert_eq!(
                        out, reference,
                        "{scheme} {kernel} threads {threads} {dims:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_kernel_in_use_is_reported_and_unsupported_kernels_are_refused() {
    let model = quantize_dynamic(
        &random_model(ModelDims::square(8), 1).unwrap(),
        Scheme::Int8,
    );
    assert_eq!(model.kernel_name(), Kernel::detect().name());
    let scalar = model
        .clone()
        .with_run_options(RunOptions {
            kernel: KernelChoice::Scalar,
            threads: 2,
        })
        .unwrap();
    assert_eq!(scalar.kernel_name(), "scalar");
    assert_eq!(scalar.execution().threads, 2);
    for choice in [KernelChoice::Avx2, KernelChoice::Avx512Vnni] {
        let available = Kernel::available()
            .iter()
            .any(|k| k.name() == choice.name());
        let result = model.clone().with_run_options(RunOptions {
            kernel: choice,
            threads: 0,
        });
        match result {
            Ok(m) => assert!(available && m.kernel_name() == choice.name()),
            Err(e) => {
                assert!(!available);
                assert!(e.to_string().contains("not supported by this CPU"), "{e}");
            }
        }
    }
}

#[test]
fn a_bidirectional_layer_too_big_to_run_both_directions_at_once_gives_the_same_results() {
    // 2 × 16 MB of FP32 W_hh: with two threads the directions run one after the other, each
    // step shared between the threads; with one thread they run in turn on it. INT8's 2 × 4 MB
    // run at once. Every way gives the same bits.
    let dims = ModelDims {
        input_size: 8,
        hidden_size: 1024,
        cell: Cell::Lstm,
        bidirectional: true,
        ..ModelDims::square(1)
    };
    for scheme in [Scheme::Fp32, Scheme::Int8] {
        let one = run(
            scheme,
            dims,
            1,
            RunOptions {
                threads: 1,
                ..RunOptions::default()
            },
        );
        let two = run(
            scheme,
            dims,
            1,
            RunOptions {
                threads: 2,
                ..RunOptions::default()
            },
        );
        assert_eq!(one, two, "{scheme}");
    }
}

#[test]
fn layers_projected_alongside_their_steps_give_the_same_results_forward_after_forward() {
    // Layers too small to share their steps between threads, with enough input to project
    // that a second thread may project it alongside the steps. Each forward pass picks the
    // way that has been faster for its layer (trying each in the first few), so a run of
    // forward passes sees both; every one must give the single thread's bits. The schemes'
    // models take turns in one workspace, as the dashboard's variants do.
    for (cell, batch, layers) in [(Cell::Lstm, 1, 2), (Cell::Gru, 1, 1), (Cell::Lstm, 3, 1)] {
        let dims = ModelDims {
            cell,
            input_size: 72,
            hidden_size: 80,
            num_layers: layers,
            head: 4,
            ..ModelDims::square(1)
        };
        let model = random_model(dims, 5).unwrap();
        let (input, state) = random_inputs(dims, 20, batch, 9);
        let with_threads = |scheme: Scheme, threads: usize| {
            quantize_dynamic(&model, scheme)
                .with_run_options(RunOptions {
                    threads,
                    ..RunOptions::default()
                })
                .unwrap()
        };
        let expected: Vec<RecurrentOutput> = Scheme::ALL
            .iter()
            .map(|&scheme| {
                let one_thread = with_threads(scheme, 1);
                one_thread.forward(input.view(), Some(&state)).unwrap()
            })
            .collect();
        let models: Vec<_> = Scheme::ALL.iter().map(|&s| with_threads(s, 2)).collect();
        let (mut ws, mut out) = (Workspace::default(), RecurrentOutput::default());
        for pass in 0..12 {
            for (model, expected) in models.iter().zip(&expected) {
                model
                    .forward_into(input.view(), Some(&state), &mut ws, &mut out)
                    .unwrap();
                let scheme = model.scheme();
                assert_eq!(
                    &out, expected,
                    "{scheme} {cell:?} batch {batch} pass {pass}"
                );
            }
        }
    }
}
