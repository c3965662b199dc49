//! What the worker runs.

use std::path::PathBuf;

use crate::error::Result;
use crate::kernels::{KernelChoice, RunOptions};
use crate::model::{Cell, Limit, ModelDims};
use crate::quant::Scheme;
use crate::recipe::{RECIPE_BATCH, RECIPE_DIM, RECIPE_SEED, RECIPE_SEQ_LEN};

/// Accepted sequence lengths.
pub const SEQ_LEN_LIMIT: Limit = Limit::up_to(100_000);
/// Accepted batch sizes.
pub const BATCH_LIMIT: Limit = Limit::up_to(100_000);
/// Accepted thread counts.
pub const THREAD_LIMIT: Limit = Limit::up_to(1024);
/// Accepted evaluation columns (`batchify`'s batch size).
pub const EVAL_BATCH_LIMIT: Limit = Limit::up_to(4096);
/// Accepted evaluation chunk lengths (`bptt`, steps).
pub const BPTT_LIMIT: Limit = Limit::up_to(100_000);
/// The tutorial's evaluation batch size.
pub const DEFAULT_EVAL_BATCH: usize = 1;
/// The evaluation chunk length of dynq's shipped model and its parity fixture.
pub const DEFAULT_BPTT: usize = 25;
/// Tokens each variant writes after the prompt.
pub const GENERATED_TOKENS: usize = 200;

/// Everything that defines one benchmark: the model's shape (or a weight file), the input,
/// the variants to compare and how to run them. A new Config replaces the worker's models.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Config {
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
    /// The recurrent cell; `None`: an LSTM, or a weight file's own cell (which must be this
    /// one when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<Cell>,
    /// Whether every layer also reads the sequence backwards.
    #[serde(default)]
    pub bidirectional: bool,
    /// Most threads per forward (small models use fewer on their own).
    pub threads: usize,
    /// The kernel family (`auto`: the fastest this CPU supports).
    #[serde(default)]
    pub kernel: KernelChoice,
    /// Seed of the weights and the input.
    pub seed: u64,
    /// Variants to run; FP32 is always the reference for the accuracy figures.
    pub schemes: Vec<Scheme>,
    /// Load the FP32 model from this safetensors file instead of initialising it from `seed`
    /// (its sizes then override `input_size`, `hidden_size`, `num_layers`, `head` and
    /// `bidirectional`).
    pub weights: Option<PathBuf>,
    /// Text to evaluate a language model on (the weight file must be an RNNModel with a
    /// vocabulary); its chunks then set `seq_len` (`bptt`) and `batch` (`eval_batch`).
    #[serde(default)]
    pub data: Option<PathBuf>,
    /// Columns the evaluation text is `batchify`'d into.
    #[serde(default = "default_eval_batch")]
    pub eval_batch: usize,
    /// Steps per evaluation chunk; the hidden state is carried from chunk to chunk.
    #[serde(default = "default_bptt")]
    pub bptt: usize,
    /// What the variants continue when they write text (default: the data's first line).
    #[serde(default)]
    pub prompt: Option<String>,
}

fn default_eval_batch() -> usize {
    DEFAULT_EVAL_BATCH
}

fn default_bptt() -> usize {
    DEFAULT_BPTT
}

impl Default for Config {
    /// The recipe's set-up: seed 29592, dimension 8, sequence 20, batch 1, one layer, FP32 vs
    /// INT8, on the machine's cores.
    fn default() -> Self {
        Config {
            input_size: RECIPE_DIM,
            hidden_size: RECIPE_DIM,
            seq_len: RECIPE_SEQ_LEN,
            batch: RECIPE_BATCH,
            num_layers: 1,
            head: 0,
            cell: None,
            bidirectional: false,
            threads: crate::kernels::default_threads(),
            kernel: KernelChoice::Auto,
            seed: RECIPE_SEED,
            schemes: vec![Scheme::Fp32, Scheme::Int8],
            weights: None,
            data: None,
            eval_batch: DEFAULT_EVAL_BATCH,
            bptt: DEFAULT_BPTT,
            prompt: None,
        }
    }
}

impl Config {
    /// The model's shape.
    pub fn dims(&self) -> ModelDims {
        ModelDims {
            input_size: self.input_size,
            hidden_size: self.hidden_size,
            num_layers: self.num_layers,
            head: self.head,
            cell: self.cell.unwrap_or_default(),
            bidirectional: self.bidirectional,
        }
    }

    /// How the models run: kernel and threads.
    pub fn run_options(&self) -> RunOptions {
        RunOptions {
            kernel: self.kernel,
            threads: self.threads,
        }
    }

    /// Checks sizes (see [`ModelDims::validate`]), the run parameters (see [`SEQ_LEN_LIMIT`],
    /// [`BATCH_LIMIT`], [`THREAD_LIMIT`]) and that this CPU has
    /// the kernel asked for.
    pub fn validate(&self) -> Result<()> {
        self.dims().validate()?;
        SEQ_LEN_LIMIT.check("seq_len", self.seq_len)?;
        BATCH_LIMIT.check("batch", self.batch)?;
        THREAD_LIMIT.check("threads", self.threads)?;
        EVAL_BATCH_LIMIT.check("eval_batch", self.eval_batch)?;
        BPTT_LIMIT.check("bptt", self.bptt)?;
        if self.data.is_some() && self.weights.is_none() {
            return Err(crate::DynqError::Unsupported(
                "data: evaluating text needs a trained language model: give --weights \
                 (an RNNModel with a vocabulary)"
                    .into(),
            ));
        }
        if self.prompt.as_deref() == Some("") {
            return Err(crate::DynqError::Unsupported(
                "prompt: expected at least one character".into(),
            ));
        }
        self.run_options().resolve()?;
        if self.schemes.is_empty() {
            return Err(crate::DynqError::Unsupported(
                "schemes: expected at least one of fp32, int8, int8_per_channel, fp16".into(),
            ));
        }
        Ok(())
    }
}
