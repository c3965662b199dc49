//! The background thread that owns the models of the current [`Config`], times them over and
//! over (interleaved, so that machine drift hits every variant alike) and publishes snapshots.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::config::Config;
use super::latency::LatencyRecorder;
use super::snapshot::{Snapshot, VariantSnapshot};
use super::system::{Machine, SystemMonitor};
use super::variants::Variants;
use crate::error::Result;
use crate::kernels;

/// Snapshots are published at most this often.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// Warm-up ends after at least one round once this much time has passed ...
const WARMUP_TIME: Duration = Duration::from_millis(50);
/// ... or after this many rounds (one forward of every variant), whichever comes first.
const WARMUP_ROUNDS: u64 = 100;
/// How long each variant runs before the next one's turn: long enough that the forwards
/// measured find the caches holding the variant's own weights.
const BURST: Duration = Duration::from_millis(10);
/// How long an idle worker (paused, building) waits for a command before looking around.
const IDLE_WAIT: Duration = Duration::from_millis(10);

enum Command {
    SetConfig(Config),
    Pause,
    Resume,
    Reset,
    Stop,
}

/// Controls a running worker; dropping it stops the worker.
pub struct WorkerHandle {
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

impl WorkerHandle {
    /// Starts a worker on `config` that sends every snapshot, mapped by `wrap`, to `sender`
    /// (for example into a UI's single event channel). The worker stops by itself when the
    /// receiving side of `sender` is dropped.
    pub fn spawn<T, F>(config: Config, sender: Sender<T>, wrap: F) -> WorkerHandle
    where
        T: Send + 'static,
        F: Fn(Snapshot) -> T + Send + 'static,
    {
        // The worker builds and drops models all session long: their memory must go back.
        kernels::return_large_blocks_when_freed();
        let (commands, inbox) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("dynq-worker".into())
            .spawn(move || Worker::new(config, inbox, move |s| sender.send(wrap(s)).is_ok()).run())
            .expect("the OS can start a thread");
        WorkerHandle {
            commands,
            thread: Some(thread),
        }
    }

    /// Starts a worker on `config` and returns the receiver of its snapshots.
    pub fn spawn_with_receiver(config: Config) -> (WorkerHandle, Receiver<Snapshot>) {
        let (sender, receiver) = mpsc::channel();
        (WorkerHandle::spawn(config, sender, |s| s), receiver)
    }

    /// Replaces the models by those of `config` and resets the histograms.
    pub fn set_config(&self, config: Config) {
        self.send(Command::SetConfig(config));
    }

    /// Stops timing until [`WorkerHandle::resume`].
    pub fn pause(&self) {
        self.send(Command::Pause);
    }

    /// Resumes timing after [`WorkerHandle::pause`].
    pub fn resume(&self) {
        self.send(Command::Resume);
    }

    /// Empties the histograms (and the measured time) of the current Config.
    pub fn reset(&self) {
        self.send(Command::Reset);
    }

    /// Stops the worker and waits for its thread to end.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn send(&self, command: Command) {
        // A worker that has ended (its receiver gone) has nothing left to control.
        let _ = self.commands.send(command);
    }

    fn shut_down(&mut self) {
        self.send(Command::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The built models of the current Config and what was measured on them.
struct Measuring {
    variants: Variants,
    recorders: Vec<LatencyRecorder>,
    /// The variant to run next.
    next: usize,
    /// When the burst of `next`'s forwards began (`None`: its next forward begins one).
    burst_start: Option<Instant>,
    /// Forwards of `next` timed in the current burst.
    burst_forwards: u32,
    /// How long a burst lasts ([`BURST`]).
    burst: Duration,
    rounds: u64,
    warmup: Option<Instant>,
    measured: Duration,
    clock: Option<Instant>,
}

enum Phase {
    Building(Receiver<Result<Option<Variants>>>),
    Measuring(Box<Measuring>),
    Failed(String),
}

struct Worker<P> {
    inbox: Receiver<Command>,
    publish: P,
    builder: Builder,
    monitor: SystemMonitor,
    config: Config,
    generation: u64,
    paused: bool,
    phase: Phase,
    last_publish: Option<Instant>,
}

impl<P: FnMut(Snapshot) -> bool> Worker<P> {
    fn new(config: Config, inbox: Receiver<Command>, publish: P) -> Self {
        let mut builder = Builder::spawn();
        let phase = builder.build(&config, None);
        Worker {
            inbox,
            publish,
            builder,
            monitor: SystemMonitor::new(&Machine::detect()),
            config,
            generation: 0,
            paused: false,
            phase,
            last_publish: None,
        }
    }

    fn run(mut self) {
        loop {
            let idle = self.paused || !matches!(self.phase, Phase::Measuring(_));
            let command = if idle {
                self.inbox.recv_timeout(IDLE_WAIT).map_err(|e| match e {
                    RecvTimeoutError::Timeout => TryRecvError::Empty,
                    RecvTimeoutError::Disconnected => TryRecvError::Disconnected,
                })
            } else {
                self.inbox.try_recv()
            };
            match command {
                Ok(Command::Stop) | Err(TryRecvError::Disconnected) => return,
                Ok(command) => self.handle(command),
                Err(TryRecvError::Empty) => {}
            }
            self.poll_build();
            if !self.paused {
                self.step();
            }
            let due = self
                .last_publish
                .is_none_or(|t| t.elapsed() >= PUBLISH_EVERY);
            if due {
                self.last_publish = Some(Instant::now());
                let snapshot = self.snapshot();
                if !(self.publish)(snapshot) {
                    return;
                }
            }
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::SetConfig(config) => {
                let previous =
                    match std::mem::replace(&mut self.phase, Phase::Failed(String::new())) {
                        Phase::Measuring(m) => Some(m.variants),
                        _ => None,
                    };
                self.phase = self.builder.build(&config, previous);
                self.config = config;
                self.generation += 1;
            }
            Command::Pause => {
                self.paused = true;
                if let Phase::Measuring(m) = &mut self.phase {
                    m.stop_clock();
                }
            }
            Command::Resume => {
                self.paused = false;
                if let Phase::Measuring(m) = &mut self.phase {
                    m.start_clock();
                }
            }
            Command::Reset => {
                if let Phase::Measuring(m) = &mut self.phase {
                    m.recorders.iter_mut().for_each(LatencyRecorder::reset);
                    m.measured = Duration::ZERO;
                    m.clock = m.clock.map(|_| Instant::now());
                }
            }
            Command::Stop => {}
        }
    }

    fn poll_build(&mut self) {
        let Phase::Building(result) = &self.phase else {
            return;
        };
        let outcome = match result.try_recv() {
            Err(TryRecvError::Empty) => return,
            Err(TryRecvError::Disconnected) => Err("building the models failed".to_string()),
            Ok(Ok(Some(variants))) => Ok(variants),
            Ok(Ok(None)) => return,
            Ok(Err(e)) => Err(e.to_string()),
        };
        self.phase = match outcome {
            Ok(variants) => Phase::Measuring(Box::new(Measuring::new(variants))),
            Err(message) => Phase::Failed(message),
        };
    }

    fn step(&mut self) {
        let Phase::Measuring(m) = &mut self.phase else {
            return;
        };
        if let Err(e) = m.run_next() {
            self.phase = Phase::Failed(e.to_string());
        }
    }

    fn snapshot(&mut self) -> Snapshot {
        let mut snapshot = Snapshot {
            config: self.config.clone(),
            generation: self.generation,
            running: !self.paused,
            system: self.monitor.stats(),
            ..Snapshot::default()
        };
        match &self.phase {
            Phase::Building(_) => snapshot.building = true,
            Phase::Failed(message) => snapshot.error = Some(message.clone()),
            Phase::Measuring(m) => {
                snapshot.config = m.variants.config.clone();
                snapshot.system.kernel = m.variants.kernel_name().to_string();
                snapshot.elapsed = m.elapsed();
                snapshot.variants = m.variant_snapshots();
                snapshot.task = m.variants.task_progress();
                snapshot.engine_gap = m.variants.engine_gap;
                snapshot.embedding_rows = m.variants.embedding_rows();
            }
        }
        snapshot
    }
}

/// One request to the [`Builder`]: the models of `config`, made from `previous` when those
/// are the same models.
struct Job {
    config: Config,
    previous: Option<Variants>,
    cancel: Arc<AtomicBool>,
    reply: Sender<Result<Option<Variants>>>,
}

/// The one thread that builds and drops the worker's models for the whole session, so that
/// commands keep being answered while a large model is built.
///
/// One long-lived thread rather than one per Config: glibc gives every thread that allocates
/// while others do an arena of its own (up to 8 per core) and a stack of its own (cached when
/// it ends), and each keeps what it held at its peak. A burst of slider moves (the soak's trip
/// to dimension 4096 is eighteen Configs in a fraction of a second) used to start as many
/// overlapping builds: in tools/soak.py the arenas went from 7 to 15 and their resident
/// memory from 1.2 to 2.6 MB, with 0.4 MB more in cached stacks, from minute 1 to minute 8.
/// With one build thread there were 5 arenas and 0.14 MB of stacks throughout. Jobs waiting
/// are skipped for the latest one, so a burst no longer builds every Config it passes.
struct Builder {
    /// Where jobs go; why there is no build thread if the OS would not start one.
    jobs: std::result::Result<Sender<Job>, String>,
    /// The cancel flag of the latest job: the next job (or the worker's end) raises it.
    latest: Arc<AtomicBool>,
}

impl Builder {
    /// Starts the thread; if the OS refuses, every build reports it.
    fn spawn() -> Builder {
        let (jobs, inbox) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("dynq-build".into())
            .spawn(move || serve(&inbox));
        Builder {
            jobs: spawned
                .map(|_| jobs)
                .map_err(|e| format!("cannot start a thread to build the models: {e}")),
            latest: Arc::default(),
        }
    }

    /// Asks for the models of `config` and cancels the build asked for before, if it is still
    /// running. When `previous` holds the same models (only the input shape, kernel or threads
    /// change) they are kept and only re-prepared; otherwise they are dropped, on the build
    /// thread, before the new ones are built.
    fn build(&mut self, config: &Config, previous: Option<Variants>) -> Phase {
        self.latest.store(true, Ordering::Relaxed);
        self.latest = Arc::default();
        let (reply, result) = mpsc::channel();
        let job = Job {
            config: config.clone(),
            previous,
            cancel: Arc::clone(&self.latest),
            reply,
        };
        match &self.jobs {
            Ok(jobs) if jobs.send(job).is_ok() => Phase::Building(result),
            Ok(_) => Phase::Failed("the thread building the models has stopped".into()),
            Err(why) => Phase::Failed(why.clone()),
        }
    }
}

impl Drop for Builder {
    /// Cancels the current build; the thread ends once it has dropped what it holds (it is not
    /// waited for, so that quitting during a large build is immediate).
    fn drop(&mut self) {
        self.latest.store(true, Ordering::Relaxed);
    }
}

/// The build thread: runs jobs until the worker is gone. Only the latest of the jobs waiting
/// is built (the worker listens to that one alone); the models of those skipped, or of a
/// result nobody listens to any more, are offered to the next job.
fn serve(inbox: &Receiver<Job>) {
    let mut spare: Option<Variants> = None;
    while let Ok(mut job) = inbox.recv() {
        while let Ok(newer) = inbox.try_recv() {
            let skipped = std::mem::replace(&mut job, newer);
            spare = skipped.previous.or(spare);
        }
        let previous = job.previous.take().or(spare.take());
        let built = match previous {
            Some(kept) if kept.has_models_of(&job.config) => {
                kept.reconfigure(&job.config).map(Some)
            }
            other => {
                drop(other);
                Variants::build(&job.config, &|| job.cancel.load(Ordering::Relaxed))
            }
        };
        // What the models dropped, and the build's own scratch, goes back to the system
        // before the worker starts timing the new ones.
        kernels::return_large_blocks_when_freed();
        if let Err(mpsc::SendError(Ok(Some(unwanted)))) = job.reply.send(built) {
            spare = Some(unwanted);
        }
    }
}

impl Measuring {
    fn new(variants: Variants) -> Self {
        let recorders = variants
            .variants
            .iter()
            .map(|_| Default::default())
            .collect();
        Measuring {
            variants,
            recorders,
            next: 0,
            burst_start: None,
            burst_forwards: 0,
            burst: BURST,
            rounds: 0,
            warmup: Some(Instant::now()),
            measured: Duration::ZERO,
            clock: None,
        }
    }

    /// Times one forward of the variant whose burst it is (A for [`BURST`], then B, ...);
    /// warm-up rounds are discarded, and so is the first forward of a burst that holds more
    /// than one: it found the caches holding the other variant's weights, which a deployed
    /// model (and every peer's benchmark) does not.
    fn run_next(&mut self) -> Result<()> {
        let started = Instant::now();
        let latency = self.variants.time(self.next)?;
        let burst_start = *self.burst_start.get_or_insert(started);
        // A forward shorter than the burst is followed by another of the same variant.
        let cold = self.burst_forwards == 0 && latency < self.burst;
        self.burst_forwards += 1;
        if self.warmup.is_none() && !cold {
            self.recorders[self.next].record(latency.as_nanos().try_into().unwrap_or(u64::MAX));
        }
        if burst_start.elapsed() < self.burst {
            return Ok(());
        }
        (self.burst_start, self.burst_forwards) = (None, 0);
        self.next += 1;
        if self.next == self.recorders.len() {
            self.next = 0;
            self.rounds += 1;
            // A language model reads one chunk of its text between rounds, so the task
            // figures fill in while the latencies are measured.
            self.variants.evaluate_chunk()?;
            if let Some(start) = self.warmup
                && (self.rounds >= WARMUP_ROUNDS || start.elapsed() >= WARMUP_TIME)
            {
                self.warmup = None;
                self.start_clock();
            }
        }
        Ok(())
    }

    fn start_clock(&mut self) {
        if self.warmup.is_none() && self.clock.is_none() {
            self.clock = Some(Instant::now());
        }
    }

    fn stop_clock(&mut self) {
        if let Some(start) = self.clock.take() {
            self.measured += start.elapsed();
        }
    }

    fn elapsed(&self) -> Duration {
        self.measured + self.clock.map_or(Duration::ZERO, |start| start.elapsed())
    }

    fn variant_snapshots(&self) -> Vec<VariantSnapshot> {
        self.variants
            .variants
            .iter()
            .zip(&self.recorders)
            .enumerate()
            .map(|(index, (variant, recorder))| VariantSnapshot {
                scheme: variant.model.scheme(),
                size_bytes: variant.size_bytes,
                modules: variant.modules.clone(),
                latency: recorder.stats(),
                histogram: recorder.buckets(),
                recent_ns: recorder.recent(),
                accuracy: variant.accuracy,
                task: self.variants.task(index),
                generated: self.variants.generated(index),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::Scheme;

    /// Generous bound against a hung worker; no test depends on how fast anything is.
    const PATIENCE: Duration = Duration::from_secs(30);

    fn wait_for(snapshots: &Receiver<Snapshot>, what: impl Fn(&Snapshot) -> bool) -> Snapshot {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let snapshot = snapshots.recv_timeout(left).expect("a matching snapshot");
            if what(&snapshot) {
                return snapshot;
            }
        }
    }

    fn tiny(dim: usize) -> Config {
        Config {
            input_size: dim,
            hidden_size: dim,
            seq_len: 4,
            schemes: vec![Scheme::Int8, Scheme::Fp16],
            ..Config::default()
        }
    }

    #[test]
    fn measures_every_variant_and_follows_a_new_config() {
        let (worker, snapshots) = WorkerHandle::spawn_with_receiver(tiny(8));
        let s = wait_for(&snapshots, |s| s.min_samples() >= 10);
        assert_eq!(s.generation, 0);
        let names: Vec<_> = s.variants.iter().map(|v| v.scheme).collect();
        assert_eq!(names, [Scheme::Fp32, Scheme::Int8, Scheme::Fp16]);
        let int8 = &s.variants[1];
        assert!(s.variants[0].size_bytes > int8.size_bytes);
        let figures = &int8.accuracy;
        assert!(figures.diff_pct > 0.0 && figures.diff_max_abs >= figures.diff_mean_abs);
        assert!(!int8.recent_ns.is_empty() && !int8.histogram.is_empty());
        assert!(s.running && !s.building && s.error.is_none());

        worker.set_config(tiny(16));
        let s = wait_for(&snapshots, |s| s.generation == 1 && s.min_samples() > 0);
        assert_eq!(s.config.hidden_size, 16);
        worker.stop();
    }

    #[test]
    fn each_variant_runs_in_bursts_whose_cold_first_forward_is_not_counted() {
        let variants = Variants::build(&tiny(8), &|| false).unwrap().unwrap();
        let mut m = Measuring::new(variants);
        m.warmup = None;
        let long = Duration::from_secs(3600);
        m.burst = long;
        for _ in 0..5 {
            m.run_next().unwrap();
        }
        assert_eq!(m.next, 0, "the burst goes on");
        assert_eq!(m.recorders[0].stats().count, 4, "all but the first forward");
        m.burst = Duration::ZERO;
        m.run_next().unwrap();
        assert_eq!(m.next, 1, "the burst is over: the second variant's turn");
        assert_eq!(m.recorders[0].stats().count, 5);
        m.burst = long;
        m.run_next().unwrap();
        assert_eq!(
            m.recorders[1].stats().count,
            0,
            "its first forward is not counted"
        );
        m.run_next().unwrap();
        assert_eq!(m.recorders[1].stats().count, 1);
    }

    #[test]
    fn pause_freezes_and_reset_empties_the_histograms() {
        let (worker, snapshots) = WorkerHandle::spawn_with_receiver(tiny(8));
        wait_for(&snapshots, |s| s.min_samples() > 0);
        worker.pause();
        let paused = wait_for(&snapshots, |s| !s.running);
        let later = wait_for(&snapshots, |_| true);
        assert_eq!(paused.variants, later.variants);
        assert_eq!(paused.elapsed, later.elapsed);
        worker.reset();
        let reset = wait_for(&snapshots, |s| s.min_samples() == 0);
        assert_eq!(reset.elapsed, Duration::ZERO);
        worker.resume();
        wait_for(&snapshots, |s| s.running && s.min_samples() > 0);
    }

    #[test]
    fn a_burst_of_configs_ends_measuring_the_last() {
        let (worker, snapshots) = WorkerHandle::spawn_with_receiver(tiny(8));
        let dims = [12, 16, 24, 32, 48, 64, 96, 128, 8, 12];
        for &dim in &dims {
            worker.set_config(tiny(dim));
        }
        // Only the sequence changes: the models of the last Config are kept.
        worker.set_config(Config {
            seq_len: 2,
            ..tiny(12)
        });
        let last = dims.len() as u64 + 1;
        let s = wait_for(&snapshots, |s| s.generation == last && s.min_samples() > 0);
        assert_eq!((s.config.hidden_size, s.config.seq_len), (12, 2));
        worker.set_config(Config {
            weights: Some("no/such/weights.safetensors".into()),
            ..tiny(8)
        });
        let s = wait_for(&snapshots, |s| {
            s.generation == last + 1 && s.error.is_some()
        });
        assert!(s.variants.is_empty());
        worker.set_config(tiny(16));
        wait_for(&snapshots, |s| {
            s.generation == last + 2 && s.min_samples() > 0
        });
        worker.stop();
    }

    #[test]
    fn a_config_that_cannot_be_built_reports_why() {
        let config = Config {
            weights: Some("no/such/weights.safetensors".into()),
            ..Config::default()
        };
        let (_worker, snapshots) = WorkerHandle::spawn_with_receiver(config);
        let s = wait_for(&snapshots, |s| s.error.is_some());
        assert!(s.error.unwrap().contains("no/such/weights.safetensors"));
    }
}
