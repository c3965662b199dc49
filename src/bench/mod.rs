//! The benchmarking engine: what to run ([`Config`]) and what the worker publishes
//! ([`Snapshot`]). The TUI and the report exporters consume snapshots; neither measures anything.

mod config;
mod snapshot;

pub use config::Config;
pub use snapshot::{LatencyStats, Snapshot, SystemStats, VariantSnapshot};
