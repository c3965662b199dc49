//! The benchmarking engine: what to run ([`Config`]), the worker that runs it, and what the
//! worker publishes ([`Snapshot`]). The TUI and the report exporters consume snapshots; neither
//! measures anything.
//!
//! # Using the worker
//!
//! ```no_run
//! use dynq::bench::{Config, WorkerHandle};
//!
//! // Snapshots on a receiver of their own ...
//! let (worker, snapshots) = WorkerHandle::spawn_with_receiver(Config::default());
//! // ... or forwarded into a channel the caller owns, wrapped in its own event type:
//! // let worker = WorkerHandle::spawn(Config::default(), events_tx, Event::Snapshot);
//! let first = snapshots.recv().unwrap();
//! worker.set_config(Config { hidden_size: 64, input_size: 64, ..first.config });
//! worker.pause();
//! worker.resume();
//! worker.reset(); // empty the histograms
//! worker.stop(); // or drop the handle
//! ```
//!
//! - The worker builds the models of a Config on a helper thread, so commands are answered
//!   within milliseconds even while a large model is built; while timing, it looks at its
//!   commands between any two forwards.
//! - Every [`Snapshot`] carries the `generation` of its Config: 0 for the Config given to
//!   `spawn`, one more for each `set_config`. Snapshots come at most every
//!   [`PUBLISH_EVERY`] (the first one right away).
//! - While a Config is being built, snapshots have `building: true` and no variants; a Config
//!   that cannot be built (a weight file that does not load) gives snapshots with `error` set.
//! - The variants run interleaved (FP32, INT8, FP32, INT8, ...); the first rounds are warm-up and
//!   not recorded; `elapsed` counts measured time only (no warm-up, no pauses).
//! - The accuracy figures are computed once per Config: input and outputs are deterministic.

mod config;
mod language;
mod latency;
mod roofline;
#[cfg(test)]
pub(crate) use roofline::tests::machine as test_roofline;
mod snapshot;
mod system;
mod variants;
mod worker;

/// Re-exported from [`metrics`](crate::metrics), where they are defined.
pub use crate::metrics::{Accuracy, LatencyStats};
pub use config::{
    BATCH_LIMIT, BPTT_LIMIT, Config, DEFAULT_BPTT, DEFAULT_EVAL_BATCH, EVAL_BATCH_LIMIT,
    GENERATED_TOKENS, SEQ_LEN_LIMIT, THREAD_LIMIT,
};
pub use language::TaskProgress;
pub use latency::{HISTOGRAM_BUCKETS, LatencyRecorder, RECENT_LEN, log_buckets, stats};
pub use roofline::{CACHE_DIR_ENV, Floor, FloorPart, Level, Roofline, cache_path};
pub use snapshot::{Snapshot, SystemStats, VariantSnapshot};
pub use system::{Machine, SystemMonitor};
pub use variants::{Variant, Variants, refuse_embedding_schemes, schemes_to_run};
pub use worker::{PUBLISH_EVERY, WorkerHandle};
