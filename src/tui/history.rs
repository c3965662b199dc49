//! What the dashboard keeps of every Config it measured: only the figures the report (the `s`
//! key) reads, so that a long session's
//! history stays small. A kept [`Snapshot`] (its histogram and recent latencies already
//! dropped) cost about 1,050 bytes; a [`Measured`] about half of that, so the
//! [`HISTORY_LIMIT`] Configs a session keeps at most take under 300 KB.

use std::time::Duration;

use crate::bench::{Config, Snapshot, SystemStats, TaskProgress, VariantSnapshot};
use crate::metrics::{Accuracy, LatencyStats, REFERENCE, TaskAccuracy};
use crate::model::ModelDims;
use crate::quant::{Scheme, file_modules};

/// Configs the history keeps at most; past that the one measured longest ago goes.
pub const HISTORY_LIMIT: usize = 512;

/// The latest figures of one Config measured this session.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// The Config measured (a weight file's sizes in place of the asked ones).
    pub config: Config,
    /// Which worker generation measured it: later snapshots of the same generation replace
    /// these figures.
    pub generation: u64,
    /// The integer kernel it ran with.
    pub kernel: Box<str>,
    /// Time measured under this Config.
    pub elapsed: Duration,
    /// One entry per variant, FP32 (the reference) first.
    pub variants: Box<[MeasuredVariant]>,
    /// How far a language model's evaluation of the text had come (`--data`).
    pub task: Option<Box<TaskProgress>>,
    /// `int8_qnnpack`'s output against `int8`'s, when both ran.
    pub engine_gap: Option<Accuracy>,
    /// Rows of a language model's embedding, when the model has one.
    pub embedding_rows: Option<usize>,
}

/// One variant's figures in a [`Measured`].
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredVariant {
    /// The variant.
    pub scheme: Scheme,
    /// Byte size of its serialized model.
    pub size_bytes: u64,
    /// Percentiles of its forwards.
    pub latency: LatencyStats,
    /// How its output compares with the reference's.
    pub accuracy: Accuracy,
    /// A language model's figures and text; boxed, as most models have none.
    pub language: Option<Box<Language>>,
}

/// What a language model's variant adds to its figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Language {
    /// Its figures on the text so far.
    pub task: Option<TaskAccuracy>,
    /// What it wrote after the prompt.
    pub generated: Option<String>,
}

impl Measured {
    /// What the history keeps of `snapshot`.
    pub fn of(snapshot: &Snapshot) -> Measured {
        Measured {
            config: snapshot.config.clone(),
            generation: snapshot.generation,
            kernel: snapshot.system.kernel.as_str().into(),
            elapsed: snapshot.elapsed,
            variants: snapshot.variants.iter().map(MeasuredVariant::of).collect(),
            task: snapshot.task.clone().map(Box::new),
            engine_gap: snapshot.engine_gap,
            embedding_rows: snapshot.embedding_rows,
        }
    }

    /// The reference variant (FP32) the ratios are taken against, if it was measured.
    pub fn reference(&self) -> Option<&MeasuredVariant> {
        self.variants.iter().find(|v| v.scheme == REFERENCE)
    }

    /// These figures as a snapshot for the report: everything the report reads is there;
    /// the histograms, recent latencies and machine figures other than the kernel are empty.
    pub fn to_snapshot(&self) -> Snapshot {
        Snapshot {
            config: self.config.clone(),
            generation: self.generation,
            running: true,
            building: false,
            error: None,
            elapsed: self.elapsed,
            variants: self
                .variants
                .iter()
                .map(|v| {
                    let fp32_bytes = self.reference().map_or(v.size_bytes, |r| r.size_bytes);
                    v.to_snapshot(&self.config.dims(), self.embedding_rows, fp32_bytes)
                })
                .collect(),
            system: SystemStats {
                kernel: self.kernel.to_string(),
                ..SystemStats::default()
            },
            task: self.task.as_deref().cloned(),
            engine_gap: self.engine_gap,
            embedding_rows: self.embedding_rows,
        }
    }
}

impl MeasuredVariant {
    fn of(v: &VariantSnapshot) -> MeasuredVariant {
        let language = (v.task.is_some() || v.generated.is_some()).then(|| {
            Box::new(Language {
                task: v.task,
                generated: v.generated.clone(),
            })
        });
        MeasuredVariant {
            scheme: v.scheme,
            size_bytes: v.size_bytes,
            latency: v.latency,
            accuracy: v.accuracy,
            language,
        }
    }

    /// The snapshot of this variant of a model of `dims` (the FP32 file `fp32_bytes` long);
    /// its modules' sizes are computed again from the dimensions rather than kept.
    fn to_snapshot(
        &self,
        dims: &ModelDims,
        embedding_rows: Option<usize>,
        fp32_bytes: u64,
    ) -> VariantSnapshot {
        let (scheme, size) = (self.scheme, self.size_bytes);
        VariantSnapshot {
            scheme,
            size_bytes: size,
            modules: file_modules(dims, scheme, embedding_rows, size, fp32_bytes),
            latency: self.latency,
            histogram: Vec::new(),
            recent_ns: Vec::new(),
            accuracy: self.accuracy,
            task: self.language.as_ref().and_then(|l| l.task),
            generated: self.language.as_ref().and_then(|l| l.generated.clone()),
        }
    }
}

/// Keeps `snapshot` as the latest of its Config in `history` (in the order measured): it
/// replaces the figures of its own generation, else those of the same Config measured
/// before, and past [`HISTORY_LIMIT`] the Config measured longest ago goes. Snapshots without
/// variants (building, failed) are not kept.
pub fn remember(history: &mut Vec<Measured>, snapshot: &Snapshot) {
    if snapshot.variants.is_empty() {
        return;
    }
    match history.last_mut() {
        Some(last) if last.generation == snapshot.generation => *last = Measured::of(snapshot),
        _ => {
            history.retain(|m| m.config != snapshot.config);
            if history.len() == HISTORY_LIMIT {
                history.remove(0);
            }
            history.push(Measured::of(snapshot));
        }
    }
}
