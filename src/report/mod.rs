//! The headless report: [`Report`] gathers the final snapshot of every step; one exporter per
//! format turns it into text (each a pure `fn(&Report) -> String`).

mod csv;
mod json;
mod markdown;

use std::path::Path;

use crate::bench::{Machine, Roofline, Snapshot, TaskProgress, VariantSnapshot};
use crate::io::Cell;
use crate::metrics::{
    Accuracy, Crossover, Sample, TaskAccuracy, crossovers, percent_of_limit, sequences_per_second,
    speedup, times_smaller,
};
use crate::model::ModelDims;
use crate::quant::{ModuleSize, Scheme};

pub use csv::to_csv;
pub use json::to_json;
pub use markdown::to_markdown;

/// Everything a report shows. Serialized as is for the JSON format, whose field names are a
/// stable contract: fields may be added, never renamed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    /// The version of dynq that measured.
    pub dynq_version: String,
    /// The preset's name.
    pub preset: String,
    /// The preset's description.
    pub description: String,
    /// The machine measured on.
    pub machine: Machine,
    /// The machine's limits as dynq measured them (`dynq roofline`), which every variant's
    /// `floor_us` comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roofline: Option<Roofline>,
    /// The core-to-core handoff measured again after the runs, ns (the roofline's was measured
    /// before them, and the floors use it): far apart, a virtual machine's cores moved during
    /// the runs, and the floors may not fit every run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff_after_ns: Option<f64>,
    /// One entry per step, in order.
    pub runs: Vec<Run>,
    /// Where each INT8 variant starts to beat FP32: per model shape, (threads, batch) and
    /// variant, the speed-up at every dimension measured and the dimension from which INT8 is
    /// faster (`from_dim`, null when it is not at the largest). Empty unless some shape was
    /// measured at two dimensions or more.
    pub crossover: Vec<Crossover>,
}

/// One step's Config and results.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Run {
    /// What ran.
    pub config: RunConfig,
    /// Measured time (warm-up excluded), seconds.
    pub measured_s: f64,
    /// FP32 (the reference) first.
    pub variants: Vec<VariantResult>,
    /// How much of the text a language model's evaluation covered (runs with `--data`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskProgress>,
    /// How far PyTorch's ARM engine's output is from its x86 engine's (runs with both `int8`
    /// and `int8_qnnpack`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_gap: Option<EngineGap>,
}

/// The difference between the same int8 model's outputs under qnnpack (ARM) and x86.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct EngineGap {
    /// `max |int8_qnnpack − int8|` over every output value.
    pub max_abs_diff: f64,
    /// `mean |int8_qnnpack − int8|`.
    pub mean_abs_diff: f64,
}

/// The Config of a run, as reported.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunConfig {
    /// Features of each input step.
    pub input_size: usize,
    /// Features of the hidden state.
    pub hidden_size: usize,
    /// Time steps per forward.
    pub seq_len: usize,
    /// Sequences per forward.
    pub batch: usize,
    /// Stacked recurrent layers.
    pub num_layers: usize,
    /// Linear head outputs (0: none).
    pub head: usize,
    /// The recurrent cell (`lstm`, `gru`).
    pub cell: Cell,
    /// Whether every layer also read the sequence backwards.
    pub bidirectional: bool,
    /// Worker threads per forward.
    pub threads: usize,
    /// Seed of the weights and the input.
    pub seed: u64,
    /// The kernel family the run computed with.
    pub kernel: String,
    /// The weight file, when the model was loaded rather than seeded.
    pub weights: Option<String>,
    /// The text a language model was evaluated on, with how (runs with `--data` only).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<EvaluationConfig>,
}

impl RunConfig {
    /// The model's shape apart from its dimension: `LSTM, 1 layer, seq 20` (with
    /// `bidirectional` and the head when they apply).
    pub fn shape(&self) -> String {
        let (cell, layers) = (self.cell.name(), self.num_layers);
        crate::metrics::shape(cell, self.bidirectional, layers, self.seq_len, self.head)
    }
}

/// How a language model's text was evaluated.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EvaluationConfig {
    /// The text file.
    pub data: String,
    /// Columns the text was batchified into.
    pub eval_batch: usize,
    /// Steps per chunk.
    pub bptt: usize,
    /// What the variants continued when they wrote text.
    pub prompt: Option<String>,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LatencyUs {
    /// Fastest forward.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest forward.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Number of recorded forwards.
    pub samples: u64,
}

/// One variant's results in a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VariantResult {
    /// `fp32`, `int8`, `int8_per_channel`, `fp16`, `int8_qnnpack` or `int8_embedding`.
    pub name: Scheme,
    /// Byte size of the serialized safetensors model.
    pub size_bytes: u64,
    /// FP32 size / this size ("x smaller"); 0 when undefined (a size unknown).
    pub size_ratio: f64,
    /// Each module's bytes here and in FP32, with the dtype its weights are stored in.
    pub modules: Vec<ModuleSize>,
    /// Latency percentiles.
    pub latency_us: LatencyUs,
    /// FP32 median / this median (above 1: faster than FP32); 0 when undefined (nothing
    /// recorded).
    pub speedup_p50: f64,
    /// Sequences per second at the median: batch / p50; 0 when nothing was recorded.
    pub sequences_per_second: f64,
    /// The least time the machine's limits allow this forward, µs (see
    /// [`Roofline::forward_floor`]); 0 without a roofline.
    pub floor_us: f64,
    /// `floor_us / p50 · 100`: how close to the machine's limit; 0 when undefined.
    pub percent_of_limit: f64,
    /// What bounds the floor (`L2 bandwidth`, `int8 compute`, ...); empty without a roofline.
    pub bound_by: String,
    /// How the output compares with FP32's: `output_mean_abs`, `diff_mean_abs`, `diff_pct`,
    /// `diff_max_abs`, flat in the JSON.
    #[serde(flatten)]
    pub accuracy: Accuracy,
    /// A language model's figures on the text (runs with `--data`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskAccuracy>,
    /// What a language model wrote after the prompt (greedy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated: Option<String>,
}

impl Report {
    /// A report of `preset` (name, description) from each step's final snapshot. The
    /// machine's kernel becomes the one the first step computed with.
    pub fn new(
        preset: &str,
        description: &str,
        mut machine: Machine,
        steps: &[Snapshot],
    ) -> Report {
        if let Some(kernel) = steps
            .iter()
            .map(|s| &s.system.kernel)
            .find(|k| !k.is_empty())
        {
            machine.kernel.clone_from(kernel);
        }
        Report {
            dynq_version: env!("CARGO_PKG_VERSION").into(),
            preset: preset.into(),
            description: description.into(),
            machine,
            roofline: None,
            handoff_after_ns: None,
            runs: steps.iter().map(Run::from_snapshot).collect(),
            crossover: Vec::new(),
        }
        .with_crossover()
    }

    /// Fills [`Report::crossover`] from the runs of random square models.
    fn with_crossover(mut self) -> Report {
        let samples = self.runs.iter().flat_map(|run| {
            let c = &run.config;
            let square = c.weights.is_none() && c.input_size == c.hidden_size;
            let reference = run.variants.first().filter(|v| v.name == Scheme::Fp32);
            let fp32_p50_us = reference.map_or(0.0, |r| r.latency_us.p50);
            let shape = run.config.shape();
            run.variants
                .iter()
                .filter(move |v| square && v.name.is_int8())
                .map(move |v| Sample {
                    shape: shape.clone(),
                    scheme: v.name,
                    threads: c.threads,
                    batch: c.batch,
                    dim: c.hidden_size,
                    fp32_p50_us,
                    p50_us: v.latency_us.p50,
                })
        });
        self.crossover = crossovers(samples.collect::<Vec<_>>());
        self
    }

    /// This report with every variant's floor and "% of the machine's limit" from
    /// `roofline`.
    pub fn with_roofline(mut self, roofline: Roofline) -> Report {
        for run in &mut self.runs {
            let c = &run.config;
            let dims = ModelDims {
                input_size: c.input_size,
                hidden_size: c.hidden_size,
                num_layers: c.num_layers,
                head: c.head,
                cell: c.cell,
                bidirectional: c.bidirectional,
            };
            let (seq_len, batch, threads) = (c.seq_len, c.batch, c.threads);
            for v in &mut run.variants {
                let floor = roofline.forward_floor(&dims, seq_len, batch, v.name, threads);
                v.floor_us = floor.seconds * 1e6;
                let measured_s = v.latency_us.p50 / 1e6;
                v.percent_of_limit = as_number(percent_of_limit(floor.seconds, measured_s));
                v.bound_by = floor.bound_by;
            }
        }
        self.roofline = Some(roofline);
        self
    }

    /// This report with the core-to-core handoff measured after its runs (see
    /// [`Report::handoff_after_ns`]).
    pub fn with_handoff_after(mut self, handoff_ns: f64) -> Report {
        self.handoff_after_ns = Some(handoff_ns);
        self
    }
}

impl Run {
    /// A run's figures from the snapshot that ended it.
    pub fn from_snapshot(s: &Snapshot) -> Run {
        let c = &s.config;
        let reference = s.reference();
        Run {
            config: RunConfig {
                input_size: c.input_size,
                hidden_size: c.hidden_size,
                seq_len: c.seq_len,
                batch: c.batch,
                num_layers: c.num_layers,
                head: c.head,
                cell: c.cell.unwrap_or_default(),
                bidirectional: c.bidirectional,
                threads: c.threads,
                seed: c.seed,
                kernel: s.system.kernel.clone(),
                weights: c.weights.as_ref().map(|p| p.display().to_string()),
                evaluation: c.data.as_ref().map(|data| EvaluationConfig {
                    data: data.display().to_string(),
                    eval_batch: c.eval_batch,
                    bptt: c.bptt,
                    prompt: s.task.as_ref().and_then(|t| t.prompt.clone()),
                }),
            },
            measured_s: s.elapsed.as_secs_f64(),
            variants: s
                .variants
                .iter()
                .map(|v| VariantResult::compare(v, reference, c.batch))
                .collect(),
            task: s.task.clone(),
            engine_gap: s.engine_gap.map(|gap| EngineGap {
                max_abs_diff: gap.diff_max_abs,
                mean_abs_diff: gap.diff_mean_abs,
            }),
        }
    }
}

impl VariantResult {
    /// `v`'s figures, with its ratios to `reference` (FP32; without one the ratios are 0).
    pub fn compare(
        v: &VariantSnapshot,
        reference: Option<&VariantSnapshot>,
        batch: usize,
    ) -> VariantResult {
        let us = |ns: u64| ns as f64 / 1e3;
        let l = &v.latency;
        VariantResult {
            name: v.scheme,
            size_bytes: v.size_bytes,
            modules: v.modules.clone(),
            size_ratio: as_number(
                reference.and_then(|r| times_smaller(r.size_bytes, v.size_bytes)),
            ),
            latency_us: LatencyUs {
                min: us(l.min_ns),
                p50: us(l.p50_ns),
                p90: us(l.p90_ns),
                p99: us(l.p99_ns),
                max: us(l.max_ns),
                mean: l.mean_ns / 1e3,
                samples: l.count,
            },
            speedup_p50: as_number(reference.and_then(|r| speedup(&r.latency, l))),
            sequences_per_second: as_number(sequences_per_second(batch, l)),
            floor_us: 0.0,
            percent_of_limit: 0.0,
            bound_by: String::new(),
            accuracy: v.accuracy,
            task: v.task,
            generated: v.generated.clone(),
        }
    }
}

/// A ratio as the report's contract has it: always a number, 0 when it is undefined.
fn as_number(ratio: Option<f64>) -> f64 {
    ratio.unwrap_or(0.0)
}

/// The report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Markdown tables.
    Markdown,
    /// One JSON object (see [`Report`]).
    Json,
    /// One row per (step, variant).
    Csv,
}

impl Format {
    /// The format a file name asks for: `.json`, `.csv`, else Markdown.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Format::Json,
            Some(e) if e.eq_ignore_ascii_case("csv") => Format::Csv,
            _ => Format::Markdown,
        }
    }

    /// `report` in this format.
    pub fn render(self, report: &Report) -> String {
        match self {
            Format::Markdown => to_markdown(report),
            Format::Json => to_json(report),
            Format::Csv => to_csv(report),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bench::{Config, LatencyStats};
    use crate::model::ModelDims;
    use crate::quant::file_modules;
    use std::time::Duration;

    /// A two-step report with made-up but plausible figures.
    pub(crate) fn sample() -> Report {
        let variant = |scheme, size_bytes, p50_ns: u64, diff_pct| VariantSnapshot {
            scheme,
            size_bytes,
            latency: LatencyStats {
                min_ns: p50_ns / 2,
                p50_ns,
                p90_ns: p50_ns * 2,
                p99_ns: p50_ns * 3,
                max_ns: p50_ns * 4,
                mean_ns: p50_ns as f64 * 1.5,
                count: 1000,
            },
            accuracy: Accuracy {
                output_mean_abs: 0.25,
                diff_mean_abs: diff_pct / 400.0,
                diff_pct,
                diff_max_abs: diff_pct / 100.0,
            },
            ..VariantSnapshot::default()
        };
        let step = |dim| Snapshot {
            config: Config {
                input_size: dim,
                hidden_size: dim,
                threads: 2,
                ..Config::default()
            },
            elapsed: Duration::from_millis(500),
            variants: [
                variant(Scheme::Fp32, 4000, 20_000, 0.0),
                variant(Scheme::Int8, 1000, 8_000, 1.25),
            ]
            .map(|v| VariantSnapshot {
                modules: file_modules(&ModelDims::square(dim), v.scheme, None, v.size_bytes, 4000),
                ..v
            })
            .to_vec(),
            ..Snapshot::default()
        };
        let machine = Machine {
            cpu: "Test CPU".into(),
            cores: 2,
            kernel: "scalar".into(),
            os: "TestOS".into(),
        };
        Report::new("sample", "Two steps", machine, &[step(8), step(16)])
    }

    /// A one-step report of a language model evaluated on text.
    pub(crate) fn sample_with_task() -> Report {
        let mut report = sample();
        report.runs.truncate(1);
        let run = &mut report.runs[0];
        run.config.weights = Some("models/lm.safetensors".into());
        run.config.evaluation = Some(EvaluationConfig {
            data: "val.txt".into(),
            eval_batch: 1,
            bptt: 25,
            prompt: Some("ROMEO:".into()),
        });
        run.task = Some(TaskProgress {
            tokens_done: 1000,
            tokens_total: 1000,
            vocabulary: 65,
            token_level: "char".into(),
            prompt: Some("ROMEO:".into()),
        });
        let figures = |loss: f64, agree: u64| TaskAccuracy {
            loss,
            perplexity: loss.exp(),
            bits_per_token: loss / std::f64::consts::LN_2,
            top1_accuracy: 0.5625,
            top1_agreement: agree as f64 / 1000.0,
            delta_loss: loss - 1.5,
            tokens_per_second: 100_000.0,
            tokens: 1000,
            top1_correct: 562,
            top1_agree: agree,
        };
        run.variants[0].task = Some(figures(1.5, 1000));
        run.variants[1].task = Some(figures(1.5012, 987));
        run.variants[0].generated = Some("\nI will not see the season".into());
        run.variants[1].generated = Some("\nI will not see the seasons".into());
        report
    }

    #[test]
    fn ratios_are_taken_against_fp32() {
        let r = sample();
        let int8 = &r.runs[0].variants[1];
        assert_eq!(int8.size_ratio, 4.0);
        assert_eq!(int8.speedup_p50, 2.5);
        assert_eq!(int8.latency_us.p50, 8.0);
        assert_eq!(r.runs[0].variants[0].size_ratio, 1.0);
        // Without a reference, or before anything is measured, the ratios are 0.
        let unmeasured = VariantSnapshot::default();
        for reference in [None, Some(&unmeasured)] {
            let v = VariantResult::compare(&unmeasured, reference, 1);
            assert_eq!(v.sequences_per_second, 0.0);
            assert_eq!((v.size_ratio, v.speedup_p50), (0.0, 0.0));
        }
    }

    #[test]
    fn the_format_follows_the_extension() {
        assert_eq!(Format::from_path(Path::new("r.JSON")), Format::Json);
        assert_eq!(Format::from_path(Path::new("r.csv")), Format::Csv);
        assert_eq!(Format::from_path(Path::new("r.md")), Format::Markdown);
        assert_eq!(Format::from_path(Path::new("-")), Format::Markdown);
    }
}
