//! A language model's part of a benchmark: the embedding in front of every variant (FP32, or
//! 8-bit rows for `int8_embedding`), the tokens the timed forwards read, the evaluation of the text (chunk by chunk, between timed
//! forwards) and the text every variant writes after the same prompt.

use std::path::Path;
use std::sync::Arc;

use ndarray::Array3;
use rand::SeedableRng;
use rand_distr::{Distribution, Uniform};

use super::config::{Config, GENERATED_TOKENS};
use crate::error::{DynqError, Result};
use crate::lm::{
    Evaluation, StoredEmbedding, TokenGrid, TokenLevel, Vocab, generate_greedy, read_text_tokens,
};
use crate::metrics::{TaskAccuracy, TaskTotals};
use crate::model::{Embedding, ModelDims, Workspace};
use crate::quant::{Model, Scheme};

/// How far the evaluation of the text has come, and over what.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TaskProgress {
    /// Tokens each variant has predicted so far.
    pub tokens_done: u64,
    /// Tokens the evaluation predicts in all.
    pub tokens_total: u64,
    /// Tokens in the model's vocabulary.
    pub vocabulary: usize,
    /// `char` or `word`.
    pub token_level: String,
    /// What every variant continued to write its `generated` text.
    pub prompt: Option<String>,
}

impl TaskProgress {
    /// Whether every chunk has been evaluated.
    pub fn is_done(&self) -> bool {
        self.tokens_done >= self.tokens_total
    }
}

/// The language-model side of one Config's variants.
pub(crate) struct LanguageRun {
    embedding: StoredEmbedding,
    /// The 8-bit embedding, when a variant quantizes it.
    quantized_embedding: Option<StoredEmbedding>,
    vocab: Option<Arc<Vocab>>,
    /// The tokens of one timed forward, `[seq_len, batch]` step by step.
    latency_tokens: Vec<u32>,
    /// The text's tokens, kept so that a new evaluation shape needs no new read.
    data_tokens: Option<Arc<Vec<u32>>>,
    evaluation: Option<Evaluation>,
    prompt: Option<String>,
    /// What each variant wrote after the prompt, in variant order.
    generated: Vec<String>,
}

impl LanguageRun {
    /// Reads and tokenizes `config.data` (when set) with `vocab`, and quantizes the embedding
    /// when one of `config.schemes` does.
    pub fn new(
        embedding: Arc<Embedding>,
        vocab: Option<Arc<Vocab>>,
        config: &Config,
    ) -> Result<LanguageRun> {
        let data_tokens = match (&config.data, &vocab) {
            (Some(path), Some(vocab)) => Some(Arc::new(read_text_tokens(path, vocab)?)),
            _ => None,
        };
        let quantized_embedding = config
            .schemes
            .iter()
            .find(|s| s.quantizes_embedding())
            .map(|&scheme| StoredEmbedding::for_scheme(&embedding, scheme));
        Ok(LanguageRun {
            embedding: StoredEmbedding::Fp32(embedding),
            quantized_embedding,
            vocab,
            latency_tokens: Vec::new(),
            data_tokens,
            evaluation: None,
            prompt: None,
            generated: Vec::new(),
        })
    }

    /// The embedding as `scheme`'s variant stores it.
    pub fn stored_embedding(&self, scheme: Scheme) -> &StoredEmbedding {
        stored_for(&self.embedding, &self.quantized_embedding, scheme)
    }

    /// Tokens the embedding has a row for.
    pub fn embedding_rows(&self) -> usize {
        self.table(Scheme::Fp32).rows()
    }

    /// The rows `scheme`'s variant reads its tokens through.
    fn table(&self, scheme: Scheme) -> &Embedding {
        self.stored_embedding(scheme).lookup_table()
    }

    /// Sets up `config`'s shapes: returns `config` with `seq_len` and `batch` those of the
    /// evaluation's chunks when there is text, and prepares the timed tokens, a fresh
    /// evaluation of `variants` models of `dims` and the prompt.
    pub fn configure(
        &mut self,
        config: &Config,
        variants: usize,
        dims: ModelDims,
    ) -> Result<Config> {
        let mut as_run = config.clone();
        self.evaluation = None;
        match &self.data_tokens {
            Some(tokens) => {
                let grid = TokenGrid::batchify(tokens, config.eval_batch)?;
                as_run.seq_len = config.bptt.min(grid.steps() - 1);
                as_run.batch = grid.batch();
                self.latency_tokens = grid.rows(0..as_run.seq_len).to_vec();
                self.evaluation = Some(Evaluation::new(grid, config.bptt, variants, dims)?);
            }
            None => {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
                let rows = self.table(Scheme::Fp32).rows() as u32;
                let tokens = Uniform::new(0, rows).expect("an embedding has rows");
                self.latency_tokens = (0..config.seq_len * config.batch)
                    .map(|_| tokens.sample(&mut rng))
                    .collect();
            }
        }
        self.prompt = match (&config.prompt, &config.data) {
            (Some(prompt), _) => Some(prompt.clone()),
            (None, Some(path)) => first_line(path),
            (None, None) => None,
        };
        Ok(as_run)
    }

    /// Writes the timed tokens' embedding rows, as `scheme`'s variant looks them up, into
    /// `input` (`[seq_len, batch, features]`).
    pub fn embed_latency_input(&self, scheme: Scheme, input: &mut Array3<f32>) {
        let table = self.table(scheme);
        let shape = (
            self.latency_tokens.len() / input.dim().1.max(1),
            input.dim().1,
            table.features(),
        );
        if input.dim() != shape {
            *input = Array3::zeros(shape);
        }
        let slice = input.as_slice_mut().expect("owned arrays are contiguous");
        table.lookup_into(&self.latency_tokens, slice);
    }

    /// Lets every model write [`GENERATED_TOKENS`] tokens after the prompt (nothing without a
    /// prompt or a vocabulary).
    pub fn generate(&mut self, models: &[&Model], workspace: &mut Workspace) -> Result<()> {
        self.generated.clear();
        let (Some(prompt), Some(vocab)) = (&self.prompt, &self.vocab) else {
            return Ok(());
        };
        let ids = vocab.tokenize(prompt, "prompt")?;
        let ids = match vocab.level() {
            // A word prompt ends with <eos> after tokenizing; continue the line instead.
            TokenLevel::Word => &ids[..ids.len() - 1],
            TokenLevel::Char => &ids[..],
        };
        if ids.is_empty() {
            return Err(DynqError::Unsupported(
                "prompt: expected at least one token".into(),
            ));
        }
        for model in models {
            let table = self.table(model.scheme());
            let tokens = generate_greedy(model, table, ids, GENERATED_TOKENS, workspace)?;
            self.generated.push(vocab.detokenize(&tokens));
        }
        Ok(())
    }

    /// Evaluates the next chunk of the text with every model; false once there is nothing
    /// left (or no text).
    pub fn evaluate_chunk(
        &mut self,
        models: &[&Model],
        reference: usize,
        workspace: &mut Workspace,
    ) -> Result<bool> {
        let (fp32, quantized) = (&self.embedding, &self.quantized_embedding);
        let tables: Vec<&Embedding> = models
            .iter()
            .map(|m| stored_for(fp32, quantized, m.scheme()).lookup_table())
            .collect();
        match &mut self.evaluation {
            Some(evaluation) => evaluation.step(&tables, models, reference, workspace),
            None => Ok(false),
        }
    }

    /// Variant `index`'s task figures so far, against the reference's.
    pub fn task(&self, index: usize, reference: usize) -> Option<TaskAccuracy> {
        let evaluation = self.evaluation.as_ref()?;
        let totals: TaskTotals = evaluation.totals(index);
        TaskAccuracy::from_totals(&totals, &evaluation.totals(reference))
    }

    /// What variant `index` wrote after the prompt.
    pub fn generated(&self, index: usize) -> Option<String> {
        self.generated.get(index).cloned()
    }

    /// The evaluation's progress, when there is text.
    pub fn progress(&self) -> Option<TaskProgress> {
        let evaluation = self.evaluation.as_ref()?;
        let (tokens_done, tokens_total) = evaluation.progress();
        let vocab = self.vocab.as_ref()?;
        Some(TaskProgress {
            tokens_done,
            tokens_total,
            vocabulary: vocab.len(),
            token_level: match vocab.level() {
                TokenLevel::Char => "char",
                TokenLevel::Word => "word",
            }
            .into(),
            prompt: self.prompt.clone(),
        })
    }
}

/// The embedding `scheme` reads: the 8-bit one when it quantizes embeddings, else the FP32 one.
fn stored_for<'a>(
    fp32: &'a StoredEmbedding,
    quantized: &'a Option<StoredEmbedding>,
    scheme: Scheme,
) -> &'a StoredEmbedding {
    match quantized {
        Some(quantized) if scheme.quantizes_embedding() => quantized,
        _ => fp32,
    }
}

/// The first non-empty line of the text at `path` (a prompt in the text's own style), at most
/// 60 characters.
fn first_line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    Some(line.chars().take(60).collect())
}
