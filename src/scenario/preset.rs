//! The preset file format (`presets/*.toml`) and the presets shipped inside the binary.
//!
//! ```toml
//! name = "dim-sweep"                       # required
//! description = "What the preset shows"    # required, one line
//!
//! [defaults]                               # optional: applied to every step
//! seq_len = 20
//! seconds = 3
//!
//! [[steps]]                                # at least one
//! dim = 8                                  # any of the fields below
//! ```
//!
//! `defaults` and every step accept the same fields, all optional; a step's fields override
//! `defaults`, which override dynq's default Config (the recipe's set-up):
//! `dim` (sets `input_size` and `hidden_size`), `input_size`, `hidden_size`, `seq_len`, `batch`,
//! `num_layers`, `head`, `cell` (`lstm` or `gru`), `bidirectional` (`true` or `false`),
//! `threads`, `seed`, `schemes` (a list of `fp32`, `int8`,
//! `int8_per_channel`, `fp16`; FP32 always runs as the reference), `weights` (a safetensors
//! file, relative to the current folder), `data` (UTF-8 text to evaluate a language model on),
//! `eval_batch`, `bptt` and `prompt` (the evaluation's columns, chunk length, and what the
//! variants continue when they write text), and how long the step runs: `seconds` (fractions allowed) and/or `min_samples` (the
//! fewest forwards per variant). Without either a step runs [`DEFAULT_SECONDS`].

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bench::Config;
use crate::io::Cell;
use crate::kernels::KernelChoice;
use crate::quant::Scheme;

/// How long a step runs when neither it nor the defaults say.
pub const DEFAULT_SECONDS: f64 = 3.0;
/// The longest accepted step, seconds.
pub const MAX_SECONDS: f64 = 86_400.0;

/// Whether a step may run `seconds`: more than 0 and at most [`MAX_SECONDS`].
pub fn accepts_seconds(seconds: f64) -> bool {
    seconds > 0.0 && seconds <= MAX_SECONDS
}

/// The presets shipped with dynq: name and file text.
const SHIPPED: [(&str, &str); 10] = [
    ("recipe", include_str!("../../presets/recipe.toml")),
    ("dim-sweep", include_str!("../../presets/dim-sweep.toml")),
    (
        "batch-sweep",
        include_str!("../../presets/batch-sweep.toml"),
    ),
    ("seq-sweep", include_str!("../../presets/seq-sweep.toml")),
    (
        "depth-sweep",
        include_str!("../../presets/depth-sweep.toml"),
    ),
    ("schemes", include_str!("../../presets/schemes.toml")),
    ("gru", include_str!("../../presets/gru.toml")),
    (
        "bidirectional",
        include_str!("../../presets/bidirectional.toml"),
    ),
    (
        "shakespeare",
        include_str!("../../presets/shakespeare.toml"),
    ),
    ("crossover", include_str!("../../presets/crossover.toml")),
];

/// The shipped preset whose steps run once per thread count, 1 to the machine's cores.
const EVERY_THREAD_COUNT: &str = "crossover";

/// Why a preset cannot be used; every message names the preset and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum PresetError {
    /// Neither a shipped preset's name nor an existing file.
    #[error("unknown preset '{name}': expected one of {} or the path of a preset file", shipped_names().join(", "))]
    Unknown {
        /// What was asked for.
        name: String,
    },
    /// The file could not be read.
    #[error("cannot read preset {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid preset.
    #[error("{origin}:{line}:{column}: {message}")]
    Invalid {
        /// The file (or `<shipped NAME>`).
        origin: String,
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column of the offending text.
        column: usize,
        /// What is wrong and what was expected.
        message: String,
    },
}

/// Config fields and run length, as written in `defaults` and in each step (a field left
/// `None` is left out of a written file).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Sets both `input_size` and `hidden_size`.
    pub dim: Option<usize>,
    /// Features of each input step.
    pub input_size: Option<usize>,
    /// Features of the hidden state.
    pub hidden_size: Option<usize>,
    /// Time steps per forward.
    pub seq_len: Option<usize>,
    /// Sequences per forward.
    pub batch: Option<usize>,
    /// Stacked recurrent layers.
    pub num_layers: Option<usize>,
    /// Linear head outputs (0: none).
    pub head: Option<usize>,
    /// The recurrent cell: lstm or gru.
    pub cell: Option<Cell>,
    /// Whether every layer also reads the sequence backwards.
    pub bidirectional: Option<bool>,
    /// Most threads per forward.
    pub threads: Option<usize>,
    /// Kernel family: auto, scalar, avx2, avx512-vnni, avx512-amx.
    pub kernel: Option<KernelChoice>,
    /// Seed of the weights and the input.
    pub seed: Option<u64>,
    /// Variants to compare with FP32.
    pub schemes: Option<Vec<Scheme>>,
    /// A safetensors weight file to load instead of seeded weights.
    pub weights: Option<PathBuf>,
    /// Text to evaluate a language model on.
    pub data: Option<PathBuf>,
    /// Columns the evaluation text is batchified into.
    pub eval_batch: Option<usize>,
    /// Steps per evaluation chunk.
    pub bptt: Option<usize>,
    /// What every variant continues when it writes text.
    pub prompt: Option<String>,
    /// Seconds of measurement (warm-up excluded).
    pub seconds: Option<f64>,
    /// The fewest forwards recorded per variant.
    pub min_samples: Option<u64>,
}

impl Overrides {
    /// Every field of `step` spelled out, so that applying them to any base gives `step` back.
    fn spelling_out(step: &Step) -> Overrides {
        let c = &step.config;
        Overrides {
            dim: None,
            input_size: Some(c.input_size),
            hidden_size: Some(c.hidden_size),
            seq_len: Some(c.seq_len),
            batch: Some(c.batch),
            num_layers: Some(c.num_layers),
            head: Some(c.head),
            cell: c.cell,
            bidirectional: Some(c.bidirectional),
            threads: Some(c.threads),
            kernel: Some(c.kernel),
            seed: Some(c.seed),
            schemes: Some(c.schemes.clone()),
            weights: c.weights.clone(),
            data: c.data.clone(),
            eval_batch: Some(c.eval_batch),
            bptt: Some(c.bptt),
            prompt: c.prompt.clone(),
            seconds: step.length.seconds,
            min_samples: step.length.min_samples,
        }
    }

    /// `base` with these overrides applied.
    pub fn apply(&self, base: &Config) -> Config {
        let mut c = base.clone();
        if let Some(dim) = self.dim {
            (c.input_size, c.hidden_size) = (dim, dim);
        }
        c.input_size = self.input_size.unwrap_or(c.input_size);
        c.hidden_size = self.hidden_size.unwrap_or(c.hidden_size);
        c.seq_len = self.seq_len.unwrap_or(c.seq_len);
        c.batch = self.batch.unwrap_or(c.batch);
        c.num_layers = self.num_layers.unwrap_or(c.num_layers);
        c.head = self.head.unwrap_or(c.head);
        c.cell = self.cell.or(c.cell);
        c.bidirectional = self.bidirectional.unwrap_or(c.bidirectional);
        c.threads = self.threads.unwrap_or(c.threads);
        c.kernel = self.kernel.unwrap_or(c.kernel);
        c.seed = self.seed.unwrap_or(c.seed);
        c.schemes = self.schemes.clone().unwrap_or(c.schemes);
        c.weights = self.weights.clone().or(c.weights);
        c.data = self.data.clone().or(c.data);
        c.eval_batch = self.eval_batch.unwrap_or(c.eval_batch);
        c.bptt = self.bptt.unwrap_or(c.bptt);
        c.prompt = self.prompt.clone().or(c.prompt);
        c
    }
}

/// How long a step runs: until both limits that are set are reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunLength {
    /// Seconds of measurement.
    pub seconds: Option<f64>,
    /// The fewest forwards per variant.
    pub min_samples: Option<u64>,
}

/// One step of a preset: a Config and how long to measure it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// What to run.
    pub config: Config,
    /// For how long.
    pub length: RunLength,
}

/// A validated preset: every step's Config is valid and its run length positive.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    /// Short name.
    pub name: String,
    /// One-line description.
    pub description: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetFile {
    name: String,
    description: String,
    #[serde(default)]
    defaults: Overrides,
    steps: toml::Spanned<Vec<toml::Spanned<Overrides>>>,
}

/// What [`Preset::to_toml`] writes: no defaults, every step in full.
#[derive(Serialize)]
struct PresetFileOut<'a> {
    name: &'a str,
    description: &'a str,
    steps: Vec<Overrides>,
}

/// The names of the shipped presets, in display order.
pub fn shipped_names() -> Vec<&'static str> {
    SHIPPED.iter().map(|(name, _)| *name).collect()
}

/// `steps` once with 1 thread, then again with 2, ... up to `cores`.
fn at_every_thread_count(steps: &[Step], cores: usize) -> Vec<Step> {
    (1..=cores.max(1))
        .flat_map(|threads| {
            steps.iter().map(move |step| {
                let mut step = step.clone();
                step.config.threads = threads;
                step
            })
        })
        .collect()
}

impl Preset {
    /// The shipped presets, in display order.
    pub fn shipped() -> Vec<Preset> {
        SHIPPED
            .iter()
            .map(|(name, text)| {
                Preset::parse(text, &format!("<shipped {name}>"), &Overrides::default())
                    .expect("shipped presets are valid (tested)")
            })
            .collect()
    }

    /// The shipped preset called `name_or_path`, else the preset file at that path; `overrides`
    /// (from the command line) apply to every step, after the file's own values.
    pub fn find(name_or_path: &str, overrides: &Overrides) -> Result<Preset, PresetError> {
        if let Some((name, text)) = SHIPPED.iter().find(|(name, _)| *name == name_or_path) {
            let mut preset = Preset::parse(text, &format!("<shipped {name}>"), overrides)?;
            preset
                .steps
                .iter_mut()
                .for_each(|s| locate_shipped_files(&mut s.config));
            if *name == EVERY_THREAD_COUNT && overrides.threads.is_none() {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                preset.steps = at_every_thread_count(&preset.steps, cores);
            }
            return Ok(preset);
        }
        let path = Path::new(name_or_path);
        let looks_like_path = path.extension().is_some() || path.components().count() > 1;
        if !looks_like_path && !path.exists() {
            return Err(PresetError::Unknown {
                name: name_or_path.into(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| PresetError::Io {
            path: path.into(),
            source,
        })?;
        Preset::parse(&text, &path.display().to_string(), overrides)
    }

    /// This preset as a preset file, every step spelled out in full, so that
    /// [`Preset::parse`] gives it back unchanged; an error when a path is not UTF-8 (TOML
    /// strings are).
    pub fn to_toml(&self) -> Result<String, String> {
        let file = PresetFileOut {
            name: &self.name,
            description: &self.description,
            steps: self.steps.iter().map(Overrides::spelling_out).collect(),
        };
        toml::to_string(&file).map_err(|e| format!("preset '{}': {e}", self.name))
    }

    /// Parses and validates preset `text`; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str, overrides: &Overrides) -> Result<Preset, PresetError> {
        let invalid = |span: Option<Range<usize>>, message: String| {
            let (line, column) = line_column(text, span.map_or(0, |s| s.start));
            PresetError::Invalid {
                origin: origin.into(),
                line,
                column,
                message,
            }
        };
        let file: PresetFile =
            toml::from_str(text).map_err(|e| invalid(e.span(), e.message().trim().to_string()))?;
        let steps_span = file.steps.span();
        if file.steps.get_ref().is_empty() {
            return Err(invalid(
                Some(steps_span),
                "a preset needs at least one [[steps]] table".into(),
            ));
        }
        let mut steps = Vec::new();
        for (k, step) in file.steps.into_inner().into_iter().enumerate() {
            let span = step.span();
            let layers = [&file.defaults, step.get_ref(), overrides];
            let step = resolve(&layers)
                .map_err(|e| invalid(Some(span), format!("step {}: {e}", k + 1)))?;
            steps.push(step);
        }
        // The preset's own words no longer describe a model or input the command line
        // changed (how long, on which threads and kernel it is measured they never give).
        let measurement_only = Overrides {
            seconds: None,
            min_samples: None,
            threads: None,
            kernel: None,
            ..overrides.clone()
        };
        let description = if measurement_only == Overrides::default() {
            file.description
        } else {
            format!(
                "{} (changed from the command line: each step's heading gives its set-up)",
                file.description.trim_end()
            )
        };
        Ok(Preset {
            name: file.name,
            description,
            steps,
        })
    }
}

/// A shipped preset names files of the repository (`models/...`) relative to its root: when
/// dynq runs from another folder, they are taken from the repository it was built from, if it
/// is still there.
fn locate_shipped_files(config: &mut Config) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for path in [&mut config.weights, &mut config.data]
        .into_iter()
        .flatten()
    {
        if path.is_relative() && !path.exists() && root.join(&*path).exists() {
            *path = root.join(&*path);
        }
    }
}

/// The Step that `layers` describe (each overriding the ones before), checked.
fn resolve(layers: &[&Overrides]) -> Result<Step, String> {
    let config = layers
        .iter()
        .fold(Config::default(), |config, layer| layer.apply(&config));
    config.validate().map_err(|e| e.to_string())?;
    let seconds = layers.iter().rev().find_map(|layer| layer.seconds);
    let min_samples = layers.iter().rev().find_map(|layer| layer.min_samples);
    if let Some(seconds) = seconds
        && !accepts_seconds(seconds)
    {
        return Err(format!(
            "invalid seconds: {seconds} (expected more than 0 and at most {MAX_SECONDS})"
        ));
    }
    let length = match (seconds, min_samples) {
        (None, None) => RunLength {
            seconds: Some(DEFAULT_SECONDS),
            min_samples: None,
        },
        (seconds, min_samples) => RunLength {
            seconds,
            min_samples,
        },
    };
    Ok(Step { config, length })
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Preset, PresetError> {
        Preset::parse(text, "p.toml", &Overrides::default())
    }

    #[test]
    fn a_description_says_when_the_command_line_changed_the_preset() {
        let plain = Preset::find("recipe", &Overrides::default()).unwrap();
        assert!(!plain.description.contains("command line"));
        let overrides = Overrides {
            dim: Some(256),
            ..Overrides::default()
        };
        let changed = Preset::find("recipe", &overrides).unwrap();
        assert!(
            changed
                .description
                .starts_with(plain.description.trim_end())
        );
        assert!(
            changed
                .description
                .ends_with("(changed from the command line: each step's heading gives its set-up)"),
            "{}",
            changed.description
        );
        assert_eq!(changed.steps[0].config.hidden_size, 256);
    }

    #[test]
    fn shipped_presets_parse_and_recipe_is_the_default_config() {
        let presets = Preset::shipped();
        let names: Vec<_> = presets.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, shipped_names());
        assert!(presets.iter().all(|p| !p.description.is_empty()));
        let recipe = &presets[0];
        assert_eq!(recipe.steps.len(), 1);
        assert_eq!(recipe.steps[0].config, Config::default());
        let dims: Vec<_> = presets[1]
            .steps
            .iter()
            .map(|s| s.config.hidden_size)
            .collect();
        assert_eq!(dims, [8, 16, 32, 64, 80, 128, 256, 512, 1024]);
        let schemes = &Preset::find("schemes", &Overrides::default()).unwrap();
        assert_eq!(schemes.steps[0].config.schemes, Scheme::RECURRENT);
        let cells = |name: &str| -> Vec<(Option<Cell>, bool)> {
            let preset = Preset::find(name, &Overrides::default()).unwrap();
            let steps = preset.steps.iter();
            steps
                .map(|s| (s.config.cell, s.config.bidirectional))
                .collect()
        };
        let (gru, lstm) = (Some(Cell::Gru), Some(Cell::Lstm));
        assert_eq!(
            cells("gru"),
            [(gru, false), (lstm, false), (gru, false), (lstm, false)]
        );
        assert_eq!(
            cells("bidirectional"),
            [(lstm, false), (lstm, true), (gru, true)]
        );
    }

    #[test]
    fn cell_and_bidirectional_are_read_and_bad_values_named() {
        let preset = parse(
            "name='x'\ndescription='y'\n[defaults]\ncell='gru'\n[[steps]]\nbidirectional=true\n",
        )
        .unwrap();
        let config = &preset.steps[0].config;
        assert_eq!((config.cell, config.bidirectional), (Some(Cell::Gru), true));
        assert_eq!(config.dims().cell, Cell::Gru);
        let err = parse("name='x'\ndescription='y'\n[[steps]]\ncell='rnn'\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("p.toml:4") && err.contains("lstm") && err.contains("gru"),
            "{err}"
        );
        let err = parse("name='x'\ndescription='y'\n[[steps]]\nbidirectional=2\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("p.toml:4") && err.contains("bool"), "{err}");
    }

    #[test]
    fn steps_override_defaults_and_flags_override_both() {
        let text = "name='t'\ndescription='d'\n[defaults]\ninput_size=5\nbatch=3\nseconds=2\n\
                    [[steps]]\ndim=7\n[[steps]]\nhidden_size=9\nmin_samples=4\n";
        let p = parse(text).unwrap();
        let (a, b) = (&p.steps[0], &p.steps[1]);
        assert_eq!(
            (a.config.input_size, a.config.hidden_size, a.config.batch),
            (7, 7, 3)
        );
        assert_eq!((b.config.input_size, b.config.hidden_size), (5, 9));
        assert_eq!(
            b.length,
            RunLength {
                seconds: Some(2.0),
                min_samples: Some(4)
            }
        );
        let flags = Overrides {
            batch: Some(1),
            seconds: Some(0.25),
            ..Overrides::default()
        };
        let p = Preset::parse(text, "p.toml", &flags).unwrap();
        assert!(p.steps.iter().all(|s| s.config.batch == 1));
        assert!(p.steps.iter().all(|s| s.length.seconds == Some(0.25)));
        let bare = parse("name='t'\ndescription='d'\n[[steps]]\n").unwrap();
        assert_eq!(bare.steps[0].length.seconds, Some(DEFAULT_SECONDS));
    }

    #[test]
    fn errors_give_line_column_and_what_was_expected() {
        let err = parse("name='t'\ndescription='d'\n[[steps]]\ndimm = 8\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("p.toml:4:1: "), "{msg}");
        assert!(msg.contains("dimm") && msg.contains("hidden_size"), "{msg}");

        let msg = parse("name='t'\ndescription='d'\n[[steps]]\nschemes=['int4']\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("p.toml:4:") && msg.contains("int8_per_channel"),
            "{msg}"
        );

        let msg = parse("name='t'\ndescription='d'\n[[steps]]\n[[steps]]\ndim = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("p.toml:4:1: step 2: invalid input_size: 0"),
            "{msg}"
        );

        let msg = parse("name='t'\n[[steps]]\nseconds = -1\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("description"), "{msg}");
        let msg = parse("name='t'\ndescription='d'\n[[steps]]\nseconds = -1\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("invalid seconds: -1"), "{msg}");
        let msg = parse("name='t'\ndescription='d'\nsteps = []\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("p.toml:3:") && msg.contains("at least one"),
            "{msg}"
        );
        let msg = parse("name = 't\n").unwrap_err().to_string();
        assert!(msg.starts_with("p.toml:1:"), "{msg}");
    }

    #[test]
    fn unknown_names_list_the_shipped_presets_and_missing_files_are_named() {
        let msg = Preset::find("dim-swep", &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("'dim-swep'") && msg.contains("dim-sweep, batch-sweep"),
            "{msg}"
        );
        let msg = Preset::find("no/such.toml", &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("no/such.toml"), "{msg}");
    }
}
