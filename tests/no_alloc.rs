//! Once its buffers exist, a forward pass allocates nothing, on one thread or several.

// Counting allocations takes a global allocator, which is an `unsafe impl`: the test harness
// is the one place outside src/kernels that needs it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use dynq::model::{Cell, random_inputs, random_model};
use dynq::{
    Kernel, KernelChoice, ModelDims, RecurrentOutput, RunOptions, Scheme, Workspace,
    quantize_dynamic,
};

/// The system allocator, counting every allocation on any thread but the test harness's main
/// thread (see [`counts_here`]).
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set while this thread is inside [`counts_here`], so that an allocation it might make
    /// is counted rather than looked into again.
    static LOOKING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether an allocation on this thread counts: on every thread but the harness's `main`.
/// libtest's main thread allocates on its own schedule (once a test has run for 60 seconds, to
/// warn about it, which a slow machine or an emulated CPU reaches), not because of a forward
/// pass; the test's own thread and dynq's workers always count.
fn counts_here() -> bool {
    if LOOKING.with(|looking| looking.replace(true)) {
        return true;
    }
    let counts = std::thread::current().name() != Some("main");
    LOOKING.with(|looking| looking.set(false));
    counts
}

// SAFETY: forwards every call unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counts_here() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counts_here() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn forward_into_allocates_nothing_once_warm() {
    // Big enough that threads 2 really splits the recurrence and the input projection (by
    // units at batch 2; by batch rows at batch 16, each step projecting its own rows, which
    // on 3 threads, for which the 16 rows do not go round, are split by units at 256 units
    // and by rows again at 200 units, 13 panels; by units at batch 1 and 256
    // units, and a GRU at batch 1 and 208 units, their steps projecting the rows ahead of
    // them on AVX-512 (the GRU's in FP32 only)); GRUs and
    // bidirectional layers (whose directions run at once on two threads) too; and layers that
    // run their steps on one thread while the other projects their input alongside them (80
    // units at batch 2 and 3), when that has been faster: the 5 passes below try both ways.
    // Every kernel this CPU has (the scalar one is what every other CPU runs), on 1 and 2
    // threads, and at batch 16 on 3.
    let runs = |batch: usize| -> Vec<(KernelChoice, usize)> {
        let threads: &[usize] = if batch >= 16 { &[1, 2, 3] } else { &[1, 2] };
        Kernel::available()
            .into_iter()
            .flat_map(|kernel| {
                threads
                    .iter()
                    .map(move |&t| (KernelChoice::from(kernel), t))
            })
            .collect()
    };
    for (cell, bidirectional, batch, hidden_size) in [
        (Cell::Lstm, false, 2, 80),
        (Cell::Gru, false, 3, 80),
        (Cell::Lstm, false, 1, 256),
        (Cell::Gru, false, 1, 208),
        (Cell::Lstm, false, 2, 200),
        (Cell::Gru, false, 2, 200),
        (Cell::Lstm, true, 2, 200),
        (Cell::Gru, true, 2, 200),
        (Cell::Lstm, false, 16, 200),
        (Cell::Gru, false, 16, 200),
        (Cell::Lstm, false, 16, 256),
        (Cell::Gru, false, 16, 256),
    ] {
        let dims = ModelDims {
            input_size: 72,
            hidden_size,
            num_layers: 2,
            head: 9,
            cell,
            bidirectional,
        };
        let model = random_model(dims, 3).unwrap();
        let (input, state) = random_inputs(dims, 7, batch, 4);
        for scheme in Scheme::ALL {
            let mut q = quantize_dynamic(&model, scheme);
            for (kernel, threads) in runs(batch) {
                q.set_run_options(RunOptions { kernel, threads }).unwrap();
                let mut ws = Workspace::default();
                let mut out = RecurrentOutput::default();
                q.forward_into(input.view(), Some(&state), &mut ws, &mut out)
                    .unwrap();
                let before = ALLOCATIONS.load(Ordering::SeqCst);
                for _ in 0..5 {
                    q.forward_into(input.view(), Some(&state), &mut ws, &mut out)
                        .unwrap();
                }
                let after = ALLOCATIONS.load(Ordering::SeqCst);
                let what = format!(
                    "{cell} bidirectional {bidirectional} batch {batch} hidden {hidden_size} \
                     {scheme} {kernel} threads {threads}"
                );
                assert_eq!(after - before, 0, "{what}");
            }
        }
    }
}
