//! Plain data the worker publishes; everything the dashboard and the reports show.

use std::time::Duration;

use super::config::Config;
use super::language::TaskProgress;
use crate::metrics::{Accuracy, LatencyStats, REFERENCE, TaskAccuracy};
use crate::quant::{ModuleSize, Scheme};

/// One variant's figures at the time of the snapshot.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VariantSnapshot {
    /// The variant.
    pub scheme: Scheme,
    /// Measured byte size of the variant's serialized safetensors model.
    pub size_bytes: u64,
    /// What each module weighs in the variant, beside its FP32 bytes.
    #[serde(default)]
    pub modules: Vec<ModuleSize>,
    /// Percentiles of the recorded forwards.
    pub latency: LatencyStats,
    /// Log-spaced latency histogram: `(upper bound in ns, count)` per bucket, ascending.
    pub histogram: Vec<(u64, u64)>,
    /// The most recent latencies, oldest first (a short window for sparklines), ns.
    pub recent_ns: Vec<u64>,
    /// How this variant's output compares with the reference's (flat in the JSON).
    #[serde(flatten)]
    pub accuracy: Accuracy,
    /// A language model's figures on the text so far (`--data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskAccuracy>,
    /// What a language model wrote after the prompt (greedy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<String>,
}

impl VariantSnapshot {
    /// Whether this is the reference variant (FP32) every other is compared with.
    pub fn is_reference(&self) -> bool {
        self.scheme == REFERENCE
    }
}

/// Machine and process figures (sysinfo).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SystemStats {
    /// CPU model name.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// The integer kernel in use (`avx512-amx`, `avx512-vnni`, `avx2`, `scalar`).
    pub kernel: String,
    /// This process's CPU use, percent of one core.
    pub process_cpu_percent: f32,
    /// This process's resident memory, bytes.
    pub process_memory_bytes: u64,
    /// Whole-machine CPU use, percent.
    pub machine_cpu_percent: f32,
}

/// Everything the worker knows at one moment.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// The Config being measured.
    pub config: Config,
    /// 0 for the Config the worker was spawned with, one more with every `set_config`.
    pub generation: u64,
    /// False while paused.
    pub running: bool,
    /// True while the models of this Config are being built (`variants` is then empty).
    pub building: bool,
    /// Why this Config cannot run (a weight file that does not load, ...), if it cannot.
    pub error: Option<String>,
    /// Time measured under this Config (warm-up and pauses excluded).
    pub elapsed: Duration,
    /// One entry per variant, FP32 (the reference) first.
    pub variants: Vec<VariantSnapshot>,
    /// Machine and process figures.
    pub system: SystemStats,
    /// How far a language model's evaluation of the text has come (`--data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskProgress>,
    /// Rows of a language model's embedding (its vocabulary), when the model has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_rows: Option<usize>,
    /// `int8_qnnpack`'s output compared with `int8`'s (ARM's against x86's, `diff_*` the gap),
    /// when both run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_gap: Option<Accuracy>,
}

impl Snapshot {
    /// The fewest forwards recorded by any variant (0 before the models are built).
    pub fn min_samples(&self) -> u64 {
        self.variants
            .iter()
            .map(|v| v.latency.count)
            .min()
            .unwrap_or(0)
    }

    /// The reference variant (FP32) every ratio and accuracy figure is taken against, once the
    /// models are built.
    pub fn reference(&self) -> Option<&VariantSnapshot> {
        self.variants.iter().find(|v| v.is_reference())
    }
}
