//! A small persistent thread pool: a forward pass hands every thread the same job and the
//! threads meet at a spinning barrier after each time step. Idle workers spin briefly (so
//! back-to-back forward passes pay no wake-up) and then park.

use std::cell::UnsafeCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long an idle worker spins before parking.
const IDLE_SPIN: Duration = Duration::from_micros(300);
/// Spins between checks of the clock / before yielding in the barrier.
const SPINS: u32 = 256;

/// The job every thread of one [`Pool::run`] executes, given its thread index.
type Job<'a> = dyn Fn(usize, &Barrier) + Sync + 'a;

/// A barrier for the threads of one [`Pool::run`] (a no-op with one thread).
#[derive(Debug, Default)]
pub struct Barrier {
    threads: AtomicUsize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
}

impl Barrier {
    /// Waits until every thread of the run has called `wait` as often as this one.
    pub fn wait(&self) {
        let n = self.threads.load(Ordering::Relaxed);
        if n <= 1 {
            return;
        }
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == n {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
        } else {
            let mut spins = 0u32;
            while self.generation.load(Ordering::Acquire) == generation {
                spins += 1;
                if spins.is_multiple_of(SPINS) {
                    thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    }
}

struct Shared {
    /// Bumped once per run; workers start when it changes.
    epoch: AtomicUsize,
    /// Threads taking part in the current run (the caller is thread 0).
    active: AtomicUsize,
    /// Workers done with the current epoch.
    done: AtomicUsize,
    shutdown: AtomicBool,
    barrier: Barrier,
    /// The current job; written only while no worker runs one (see `Pool::run`).
    job: UnsafeCell<Option<*const Job<'static>>>,
}

// SAFETY: `job` is written by `Pool::run` only between runs, when every worker has acknowledged
// the previous epoch and none reads it; workers read it only after observing the new epoch
// (Release/Acquire on `epoch`). The job itself is `Sync`.
unsafe impl Sync for Shared {}
// SAFETY: as above; the raw job pointer is only dereferenced under that protocol.
unsafe impl Send for Shared {}

struct Worker {
    handle: JoinHandle<()>,
    sleeping: Arc<AtomicBool>,
}

/// Worker threads reused across forward passes; created on the first run that needs them.
#[derive(Default)]
pub struct Pool {
    shared: Option<Arc<Shared>>,
    workers: Vec<Worker>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pool {{ workers: {} }}", self.workers.len())
    }
}

impl Clone for Pool {
    /// A clone starts without threads; it spawns its own when first used.
    fn clone(&self) -> Self {
        Pool::default()
    }
}

impl Pool {
    /// Runs `job(index, barrier)` on `threads` threads (the caller is index 0) and returns when
    /// all have finished. With one thread it simply calls `job(0, ..)`.
    pub fn run(&mut self, threads: usize, job: &Job<'_>) {
        if threads <= 1 {
            job(0, &Barrier::default());
            return;
        }
        self.ensure_workers(threads - 1);
        let shared = self.shared.as_ref().expect("ensure_workers creates it");
        // SAFETY: the lifetime is erased only for the duration of this call: every worker
        // acknowledges the epoch (`done`) before `run` returns, and none touches the pointer
        // after acknowledging.
        let erased: *const Job<'static> = unsafe { std::mem::transmute(job as *const Job<'_>) };
        // SAFETY: no worker reads `job` now: all acknowledged the previous epoch.
        unsafe { *shared.job.get() = Some(erased) };
        shared.barrier.threads.store(threads, Ordering::Relaxed);
        shared.active.store(threads, Ordering::Relaxed);
        shared.done.store(0, Ordering::Relaxed);
        shared.epoch.fetch_add(1, Ordering::SeqCst);
        for w in &self.workers {
            if w.sleeping.load(Ordering::SeqCst) {
                w.handle.thread().unpark();
            }
        }
        job(0, &shared.barrier);
        let mut spins = 0u32;
        while shared.done.load(Ordering::Acquire) < self.workers.len() {
            spins += 1;
            if spins.is_multiple_of(SPINS) {
                thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }

    fn ensure_workers(&mut self, count: usize) {
        if self.workers.len() >= count {
            return;
        }
        // Respawn from scratch so every worker has seen the same epochs.
        self.stop();
        let shared = Arc::new(Shared {
            epoch: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            barrier: Barrier::default(),
            job: UnsafeCell::new(None),
        });
        self.workers = (1..=count)
            .map(|index| {
                let sleeping = Arc::new(AtomicBool::new(false));
                let (s, z) = (Arc::clone(&shared), Arc::clone(&sleeping));
                let handle = thread::Builder::new()
                    .name(format!("dynq-worker-{index}"))
                    .spawn(move || worker(index, &s, &z))
                    .expect("cannot spawn a worker thread");
                Worker { handle, sleeping }
            })
            .collect();
        self.shared = Some(shared);
    }

    fn stop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.shutdown.store(true, Ordering::SeqCst);
            for w in self.workers.drain(..) {
                w.handle.thread().unpark();
                // A worker that panicked already reported it; nothing more to do here.
                let _ = w.handle.join();
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop();
    }
}

fn worker(index: usize, shared: &Shared, sleeping: &AtomicBool) {
    let mut seen = 0;
    loop {
        let mut idle_since = Instant::now();
        let mut spins = 0u32;
        loop {
            if shared.shutdown.load(Ordering::SeqCst) {
                return;
            }
            let epoch = shared.epoch.load(Ordering::Acquire);
            if epoch != seen {
                seen = epoch;
                break;
            }
            spins += 1;
            if !spins.is_multiple_of(SPINS) {
                std::hint::spin_loop();
            } else if idle_since.elapsed() > IDLE_SPIN {
                sleeping.store(true, Ordering::SeqCst);
                if shared.epoch.load(Ordering::SeqCst) == seen
                    && !shared.shutdown.load(Ordering::SeqCst)
                {
                    thread::park();
                }
                sleeping.store(false, Ordering::SeqCst);
                idle_since = Instant::now();
            }
        }
        if index < shared.active.load(Ordering::Relaxed) {
            // SAFETY: the new epoch was published after `job` was set (Release/Acquire), and
            // `run` keeps the job alive until this worker increments `done` below.
            let job = unsafe { (*shared.job.get()).expect("a job is set before each epoch") };
            // SAFETY: see above: the pointee outlives this call.
            unsafe { (*job)(index, &shared.barrier) };
        }
        shared.done.fetch_add(1, Ordering::Release);
    }
}
