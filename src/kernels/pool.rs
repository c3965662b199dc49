//! A small persistent thread pool. A run hands every thread the same job; the job shares out
//! its work through atomic counters, so the caller (thread 0) never waits for a worker that
//! has not started: on a busy machine a descheduled worker simply takes no part. Idle workers
//! spin briefly (so back-to-back forward passes pay no wake-up) and then park.

use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long an idle worker spins before parking.
const IDLE_SPIN: Duration = Duration::from_micros(300);
/// Spins between checks of the clock, or before yielding while waiting.
const SPINS: u32 = 256;
/// The bit of `Shared::gate` that closes a run to late workers.
const CLOSED: u64 = 1 << 32;

/// The job every thread of one [`Pool::run`] executes, given a thread index unique in the run
/// (the caller is 0).
type Job<'a> = dyn Fn(usize) + Sync + 'a;

/// Spins (yielding now and then) until `done()` holds.
pub fn spin_until(mut done: impl FnMut() -> bool) {
    let mut spins = 0u32;
    while !done() {
        spins += 1;
        if spins.is_multiple_of(SPINS) {
            thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

struct Shared {
    /// Bumped once per run; workers look at the gate when it changes.
    epoch: AtomicUsize,
    /// `run number << 33 | closed << 32 | workers that joined`: a worker joins the current run
    /// by incrementing it while it is open (the run number makes every run's value distinct).
    gate: AtomicU64,
    /// The most threads (caller included) the current run may use.
    limit: AtomicUsize,
    /// Workers that joined the current run and have finished it.
    finished: AtomicUsize,
    shutdown: AtomicBool,
    /// Workers that have finished starting up.
    started: AtomicUsize,
    /// The current job; written only between runs, when no worker can read it (see `run`).
    job: UnsafeCell<Option<*const Job<'static>>>,
    /// What the job panicked with on a worker in the current run, if it did (the first
    /// panic), for the caller to carry on.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

// SAFETY: `job` is written by `Pool::run` only while the gate is closed and every worker that
// joined the previous run has finished; a worker reads it only after joining an open run, and
// the caller keeps the job alive until every joined worker has finished. The job is `Sync`.
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
    runs: u64,
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
    /// Runs `job(index)` on the caller (index 0) and on up to `threads − 1` workers that
    /// join in time, each with its own index, and returns when all of them have finished. The
    /// job must share out its work itself and finish it even if it runs on the caller alone.
    ///
    /// # Panics
    /// If the job panics on any thread: once every thread that joined has finished, with the
    /// caller's panic, else a worker's. (A job whose part on the caller waits for a worker's
    /// part to be done still waits for ever when that part panics.)
    pub fn run(&mut self, threads: usize, job: &Job<'_>) {
        if threads <= 1 {
            job(0);
            return;
        }
        self.ensure_workers(threads - 1);
        let shared = self.shared.as_ref().expect("ensure_workers creates it");
        self.runs += 1;
        let run = self.runs << 33;
        // SAFETY: the lifetime is erased only for the duration of this call: the gate is
        // closed and every worker that joined has finished before `run` returns.
        let erased: *const Job<'static> = unsafe { std::mem::transmute(job as *const Job<'_>) };
        // SAFETY: the previous run's gate is closed and its joined workers finished, so no
        // worker reads `job` now.
        unsafe { *shared.job.get() = Some(erased) };
        shared.limit.store(threads, Ordering::Relaxed);
        shared.finished.store(0, Ordering::Relaxed);
        shared.gate.store(run, Ordering::SeqCst);
        shared.epoch.fetch_add(1, Ordering::SeqCst);
        for w in &self.workers {
            if w.sleeping.load(Ordering::SeqCst) {
                w.handle.thread().unpark();
            }
        }
        // The job borrows the caller's stack: even when it panics here, the workers must be
        // done with it before this call unwinds.
        let on_caller = panic::catch_unwind(AssertUnwindSafe(|| job(0)));
        let joined = (shared.gate.fetch_or(CLOSED, Ordering::SeqCst) & (CLOSED - 1)) as usize;
        spin_until(|| shared.finished.load(Ordering::Acquire) >= joined);
        let on_worker = shared
            .panic
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(payload) = on_caller.err().or(on_worker) {
            panic::resume_unwind(payload);
        }
    }

    /// Whether some worker is spinning, ready to join a run at once, rather than parked (or
    /// not started): a parked worker takes a while to wake, and may join the next run late or
    /// not at all.
    pub fn has_awake_worker(&self) -> bool {
        self.workers
            .iter()
            .any(|w| !w.sleeping.load(Ordering::Relaxed))
    }

    fn ensure_workers(&mut self, count: usize) {
        if self.workers.len() >= count {
            return;
        }
        self.stop();
        let shared = Arc::new(Shared {
            epoch: AtomicUsize::new(0),
            gate: AtomicU64::new(CLOSED),
            limit: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            started: AtomicUsize::new(0),
            job: UnsafeCell::new(None),
            panic: Mutex::new(None),
        });
        self.workers = (0..count)
            .map(|n| {
                let sleeping = Arc::new(AtomicBool::new(false));
                let (s, z) = (Arc::clone(&shared), Arc::clone(&sleeping));
                let handle = thread::Builder::new()
                    .name(format!("dynq-worker-{}", n + 1))
                    .spawn(move || worker(&s, &z))
                    .expect("cannot spawn a worker thread");
                Worker { handle, sleeping }
            })
            .collect();
        // Thread start-up allocates (names, thread-local state): let it finish now rather than
        // in the middle of some later forward pass.
        spin_until(|| shared.started.load(Ordering::Acquire) >= count);
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

/// Joins the open run if there is room: returns the thread index. (A worker may join one run
/// twice, one participation after the other, each with its own index.)
fn join(shared: &Shared) -> Option<usize> {
    let mut gate = shared.gate.load(Ordering::SeqCst);
    loop {
        let joined = (gate & (CLOSED - 1)) as usize;
        if gate & CLOSED != 0 || joined + 1 >= shared.limit.load(Ordering::Relaxed) {
            return None;
        }
        match shared
            .gate
            .compare_exchange(gate, gate + 1, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => return Some(joined + 1),
            Err(now) => gate = now,
        }
    }
}

fn worker(shared: &Shared, sleeping: &AtomicBool) {
    // Parking the first time may set up thread-local state too.
    thread::park_timeout(Duration::ZERO);
    shared.started.fetch_add(1, Ordering::Release);
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
        if let Some(index) = join(shared) {
            // SAFETY: this worker joined an open run, so `job` holds that run's job and the
            // caller keeps it alive until `finished` counts this worker.
            let job = unsafe { (*shared.job.get()).expect("a job is set before each run") };
            // A panic is handed to the caller, which waits for this worker to finish: without
            // the count below it would wait for ever.
            // SAFETY: see above: the pointee outlives this call.
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| unsafe { (*job)(index) }));
            if let Err(payload) = outcome {
                let mut first = shared.panic.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert(payload);
            }
            shared.finished.fetch_add(1, Ordering::Release);
        }
    }
}
