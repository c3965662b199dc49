//! Command-line interface (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use dynq::Scheme;
use dynq::bench::{BATCH_LIMIT, BPTT_LIMIT, EVAL_BATCH_LIMIT, SEQ_LEN_LIMIT, THREAD_LIMIT};
use dynq::kernels::KernelChoice;
use dynq::model::{Cell, FEATURE_LIMIT, LAYER_LIMIT};
use dynq::report::Format;
use dynq::scenario::{MAX_SECONDS, Overrides, accepts_seconds};

/// Benchmark dynamic INT8 quantization of LSTMs, with PyTorch's numerics.
///
/// Without a subcommand dynq measures a preset (the recipe's set-up unless --preset or the
/// model flags say otherwise): in the dashboard when stdout is a terminal, else as a report.
#[derive(Debug, Parser)]
#[command(name = "dynq", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// A subcommand instead of a benchmark.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// What to benchmark and where the results go.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compare dynq with PyTorch on a reference case (safetensors with PyTorch's outputs).
    ///
    /// Exit status: 0 when every variant is within tolerance, 1 when one is not, 2 when the
    /// file cannot be read.
    Check {
        /// The reference file.
        file: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print this machine's limits as dynq measures them: read bandwidth from each cache
    /// level and memory (one core, all cores), int8 and f32 multiply-adds per second.
    ///
    /// Measured once per machine and kernel (about half a second), then read from the cache
    /// folder ($DYNQ_CACHE_DIR, else $XDG_CACHE_HOME/dynq, else ~/.cache/dynq).
    Roofline {
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Measure again even when the figures are cached.
        #[arg(long)]
        remeasure: bool,
        /// Kernel family: auto (the widest this CPU has), scalar, avx2, avx512-vnni, avx512-amx.
        #[arg(long, value_name = "NAME", value_parser = kernel)]
        kernel: Option<KernelChoice>,
    },
}

/// Report formats on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Markdown tables.
    Md,
    /// One JSON object.
    Json,
    /// One row per step and variant.
    Csv,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Md => Format::Markdown,
            FormatArg::Json => Format::Json,
            FormatArg::Csv => Format::Csv,
        }
    }
}

/// The benchmark's options.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run without the dashboard and write a report to PATH (`-` or no PATH: stdout).
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "-")]
    pub report: Option<PathBuf>,
    /// Report format [default: from PATH's extension (.json, .csv), else md].
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// A shipped preset's name (see --list-presets) or the path of a preset file.
    #[arg(long, value_name = "NAME|PATH")]
    pub preset: Option<String>,
    /// List the shipped presets with their descriptions and exit.
    #[arg(long)]
    pub list_presets: bool,
    /// Input and hidden size (overrides the preset's).
    #[arg(long, value_name = "N", value_parser = features)]
    pub dim: Option<usize>,
    /// Input size.
    #[arg(long, value_name = "N", value_parser = features)]
    pub input_size: Option<usize>,
    /// Hidden size.
    #[arg(long, value_name = "N", value_parser = features)]
    pub hidden_size: Option<usize>,
    /// Sequence length (time steps per forward).
    #[arg(long, value_name = "N", value_parser = seq_len)]
    pub seq: Option<usize>,
    /// Batch size (sequences per forward).
    #[arg(long, value_name = "N", value_parser = batch)]
    pub batch: Option<usize>,
    /// Stacked recurrent layers.
    #[arg(long, value_name = "N", value_parser = layers)]
    pub depth: Option<usize>,
    /// Recurrent cell: lstm (nn.LSTM) or gru (nn.GRU) [default: lstm, or the --weights file's].
    #[arg(long, value_name = "NAME", value_parser = cell)]
    pub cell: Option<Cell>,
    /// Make every layer bidirectional (nn.LSTM(..., bidirectional=True)).
    #[arg(long)]
    pub bidirectional: bool,
    /// Most threads per forward [default: the machine's cores; small models use fewer].
    #[arg(long, value_name = "N", value_parser = threads)]
    pub threads: Option<usize>,
    /// Kernel family: auto (the widest this CPU has), scalar, avx2, avx512-vnni, avx512-amx.
    #[arg(long, value_name = "NAME", value_parser = kernel)]
    pub kernel: Option<KernelChoice>,
    /// Seed of the weights and the input.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Variants to compare with FP32, comma-separated: fp32, int8, int8_per_channel, fp16,
    /// int8_qnnpack (ARM's engine), int8_embedding (a language model's embedding too).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = scheme)]
    pub schemes: Option<Vec<Scheme>>,
    /// Load the FP32 model from this safetensors file (its sizes replace the preset's): an
    /// nn.LSTM state_dict, or a word_language_model RNNModel (encoder, rnn, decoder).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Evaluate the language model of --weights on this UTF-8 text (loss, perplexity, top-1
    /// accuracy per variant); its chunks then set --seq and --batch.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Columns the evaluation text is batchified into [default: 1].
    #[arg(long, value_name = "N", value_parser = eval_batch)]
    pub eval_batch: Option<usize>,
    /// Steps per evaluation chunk; the hidden state carries over between chunks [default: 25].
    #[arg(long, value_name = "N", value_parser = bptt)]
    pub bptt: Option<usize>,
    /// What every variant continues when it writes text [default: the data's first line].
    #[arg(long, value_name = "TEXT")]
    pub prompt: Option<String>,
    /// Seconds of measurement per step, fractions allowed (overrides the preset's).
    #[arg(long, value_name = "SECONDS", value_parser = seconds, allow_hyphen_values = true)]
    pub duration: Option<f64>,
}

impl RunArgs {
    /// The flags that override every step of the preset.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            dim: self.dim,
            input_size: self.input_size,
            hidden_size: self.hidden_size,
            seq_len: self.seq,
            batch: self.batch,
            num_layers: self.depth,
            cell: self.cell,
            bidirectional: self.bidirectional.then_some(true),
            threads: self.threads,
            kernel: self.kernel,
            seed: self.seed,
            schemes: self.schemes.clone(),
            weights: self.weights.clone(),
            data: self.data.clone(),
            eval_batch: self.eval_batch,
            bptt: self.bptt,
            prompt: self.prompt.clone(),
            seconds: self.duration,
            ..Overrides::default()
        }
    }
}

fn features(s: &str) -> Result<usize, String> {
    FEATURE_LIMIT.parse(s)
}

fn seq_len(s: &str) -> Result<usize, String> {
    SEQ_LEN_LIMIT.parse(s)
}

fn batch(s: &str) -> Result<usize, String> {
    BATCH_LIMIT.parse(s)
}

fn layers(s: &str) -> Result<usize, String> {
    LAYER_LIMIT.parse(s)
}

fn threads(s: &str) -> Result<usize, String> {
    THREAD_LIMIT.parse(s)
}

fn eval_batch(s: &str) -> Result<usize, String> {
    EVAL_BATCH_LIMIT.parse(s)
}

fn bptt(s: &str) -> Result<usize, String> {
    BPTT_LIMIT.parse(s)
}

fn cell(s: &str) -> Result<Cell, String> {
    s.parse().map_err(|e: dynq::DynqError| e.to_string())
}

fn scheme(s: &str) -> Result<Scheme, String> {
    s.parse().map_err(|e: dynq::DynqError| e.to_string())
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if accepts_seconds(v) => Ok(v),
        _ => Err(format!(
            "expected a number of seconds above 0 and at most {MAX_SECONDS} (e.g. 0.5)"
        )),
    }
}

/// A kernel name this CPU can run (asking for one it lacks is a usage error).
fn kernel(s: &str) -> Result<KernelChoice, String> {
    let choice: KernelChoice = s.parse().map_err(|e: dynq::DynqError| e.to_string())?;
    choice.resolve().map_err(|e| e.to_string())?;
    Ok(choice)
}
