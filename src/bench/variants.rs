//! Building the models of one [`Config`]: the FP32 model, its quantized twins, their sizes and
//! their accuracy figures (computed once: the input is seeded, the outputs deterministic).

use std::time::{Duration, Instant};

use ndarray::Array3;

use super::config::Config;
use super::language::{LanguageRun, TaskProgress};
use crate::error::{DynqError, Result};
use crate::lm::{ModelFile, language_model_bytes};
use crate::metrics::{Accuracy, REFERENCE, TaskAccuracy};
use crate::model::{RecurrentOutput, RecurrentState, Workspace, random_inputs, random_model};
use crate::quant::{Model, ModuleSize, Scheme, file_modules, quantize_dynamic};

/// The schemes a Config runs: FP32 (the reference) always, then the others in display order,
/// each once.
pub fn schemes_to_run(requested: &[Scheme]) -> Vec<Scheme> {
    Scheme::ALL
        .into_iter()
        .filter(|&s| s == REFERENCE || requested.contains(&s))
        .collect()
}

/// One runnable variant with its reusable buffers and its fixed figures.
pub struct Variant {
    /// The model.
    pub model: Model,
    /// Byte size of the serialized safetensors model.
    pub size_bytes: u64,
    /// What each module (and the file's header) weighs in it, beside its FP32 bytes.
    pub modules: Vec<ModuleSize>,
    /// Output comparison with the reference (FP32).
    pub accuracy: Accuracy,
    output: RecurrentOutput,
}

/// The models of one Config, ready to be timed.
pub struct Variants {
    /// The Config as run: when weights were loaded, their sizes replace the Config's.
    pub config: Config,
    /// FP32 first.
    pub variants: Vec<Variant>,
    /// The Config as asked for (before a weight file's sizes replaced its own).
    requested: Config,
    /// One set of buffers and worker threads for every variant: the variants run one after
    /// the other, and a second thread pool's idle spinning would slow the variant running.
    workspace: Workspace,
    input: Array3<f32>,
    state: RecurrentState,
    /// The embedding, timed tokens, evaluation and generated text of a language model.
    language: Option<LanguageRun>,
    /// How far qnnpack's output (ARM) is from x86's, when both int8 engines run.
    pub engine_gap: Option<Accuracy>,
}

impl Variants {
    /// Builds every variant of `config`. Between stages `cancelled` is asked whether the result
    /// is still wanted; if not, building stops and `Ok(None)` is returned.
    pub fn build(config: &Config, cancelled: &dyn Fn() -> bool) -> Result<Option<Variants>> {
        config.validate()?;
        let (fp32, mut language) = match &config.weights {
            Some(path) => {
                let file = ModelFile::load(path)?;
                let origin = path.display().to_string();
                if config.data.is_some() {
                    file.clone()
                        .into_language_model(&origin)
                        .map_err(DynqError::Unsupported)?;
                }
                file.ensure_cell(config.cell, &origin)
                    .map_err(DynqError::Unsupported)?;
                let language = match file.embedding {
                    Some(embedding) => Some(LanguageRun::new(embedding, file.vocab, config)?),
                    None => {
                        refuse_embedding_schemes(config, &origin)?;
                        None
                    }
                };
                (file.lstm, language)
            }
            None => {
                refuse_embedding_schemes(config, "the random model")?;
                (random_model(config.dims(), config.seed)?, None)
            }
        };
        let dims = fp32.dims();
        let as_run = Config {
            input_size: dims.input_size,
            hidden_size: dims.hidden_size,
            num_layers: dims.num_layers,
            head: dims.head,
            cell: Some(dims.cell),
            bidirectional: dims.bidirectional,
            ..config.clone()
        };
        let mut variants: Vec<Variant> = Vec::new();
        for scheme in schemes_to_run(&config.schemes) {
            if cancelled() {
                return Ok(None);
            }
            let model = quantize_dynamic(&fp32, scheme);
            let size_bytes = match &language {
                Some(lm) => language_model_bytes(&model, lm.stored_embedding(scheme)).len(),
                None => model.to_safetensors().len(),
            } as u64;
            let embedding_rows = language.as_ref().map(LanguageRun::embedding_rows);
            // FP32 comes first (see schemes_to_run): its file is the one every ratio divides.
            let fp32_bytes = variants.first().map_or(size_bytes, |v| v.size_bytes);
            variants.push(Variant {
                modules: file_modules(&dims, scheme, embedding_rows, size_bytes, fp32_bytes),
                model,
                size_bytes,
                accuracy: Accuracy::default(),
                output: RecurrentOutput::default(),
            });
        }
        if cancelled() {
            return Ok(None);
        }
        let as_run = match &mut language {
            Some(lm) => lm.configure(&as_run, variants.len(), dims)?,
            None => as_run,
        };
        let (input, state) = random_inputs(dims, as_run.seq_len, as_run.batch, as_run.seed);
        let mut built = Variants {
            config: as_run,
            variants,
            requested: config.clone(),
            workspace: Workspace::default(),
            input,
            state,
            language,
            engine_gap: None,
        };
        built.prepare()?;
        Ok(Some(built))
    }

    /// Whether `config` asks for the very models these are (same sizes, seed, weight file and
    /// schemes), so that only the input and how the models run need to change.
    pub fn has_models_of(&self, config: &Config) -> bool {
        let r = &self.requested;
        r.dims() == config.dims()
            && r.seed == config.seed
            && r.weights == config.weights
            && r.data == config.data
            && schemes_to_run(&r.schemes) == schemes_to_run(&config.schemes)
    }

    /// Keeps the models and switches to `config`'s sequence length, batch, kernel and threads
    /// (see [`Variants::has_models_of`]): a new input and new accuracy figures, no rebuild.
    pub fn reconfigure(mut self, config: &Config) -> Result<Variants> {
        config.validate()?;
        let dims = self.variants[0].model.dims();
        self.config = Config {
            seq_len: config.seq_len,
            batch: config.batch,
            threads: config.threads,
            kernel: config.kernel,
            eval_batch: config.eval_batch,
            bptt: config.bptt,
            prompt: config.prompt.clone(),
            ..self.config
        };
        if let Some(lm) = &mut self.language {
            self.config = lm.configure(&self.config, self.variants.len(), dims)?;
        }
        let c = &self.config;
        (self.input, self.state) = random_inputs(dims, c.seq_len, c.batch, c.seed);
        self.requested = config.clone();
        self.prepare()?;
        Ok(self)
    }

    /// Applies the Config's kernel and threads, runs every variant once on the input and
    /// compares its output with FP32's.
    fn prepare(&mut self) -> Result<()> {
        let options = self.config.run_options();
        for index in 0..self.variants.len() {
            self.variants[index].model.set_run_options(options)?;
            self.time(index)?;
        }
        if let Some(lm) = &mut self.language {
            let models: Vec<&Model> = self.variants.iter().map(|v| &v.model).collect();
            lm.generate(&models, &mut self.workspace)?;
        }
        let reference = self.reference().output_values();
        let figures: Vec<Accuracy> = self
            .variants
            .iter()
            .map(|v| Accuracy::compare(reference, v.output_values()))
            .collect();
        for (variant, accuracy) in self.variants.iter_mut().zip(figures) {
            variant.accuracy = accuracy;
        }
        let output_of = |scheme| {
            let variant = self.variants.iter().find(|v| v.model.scheme() == scheme);
            variant.map(Variant::output_values)
        };
        self.engine_gap = match (output_of(Scheme::Int8), output_of(Scheme::Int8Qnnpack)) {
            (Some(x86), Some(arm)) => Some(Accuracy::compare(x86, arm)),
            _ => None,
        };
        Ok(())
    }

    /// The reference variant (FP32), which every Config runs (see [`schemes_to_run`]).
    pub fn reference(&self) -> &Variant {
        self.variants
            .iter()
            .find(|v| v.model.scheme() == REFERENCE)
            .expect("schemes_to_run always includes the reference")
    }

    /// The kernel family the models compute with.
    pub fn kernel_name(&self) -> &'static str {
        self.variants[0].model.kernel_name()
    }

    /// Runs variant `index` once on the Config's input and returns how long it took; a
    /// language model's forward starts from its tokens (the embedding lookup is timed too).
    pub fn time(&mut self, index: usize) -> Result<Duration> {
        let start = Instant::now();
        let variant = &mut self.variants[index];
        if let Some(lm) = &self.language {
            lm.embed_latency_input(variant.model.scheme(), &mut self.input);
        }
        variant.model.forward_into(
            self.input.view(),
            Some(&self.state),
            &mut self.workspace,
            &mut variant.output,
        )?;
        Ok(start.elapsed())
    }

    /// Evaluates the next chunk of the text with every variant; false when there is no text
    /// or nothing left of it.
    pub fn evaluate_chunk(&mut self) -> Result<bool> {
        let reference = self.reference_index();
        let Some(lm) = &mut self.language else {
            return Ok(false);
        };
        let models: Vec<&Model> = self.variants.iter().map(|v| &v.model).collect();
        lm.evaluate_chunk(&models, reference, &mut self.workspace)
    }

    /// Variant `index`'s task figures on the text so far.
    pub fn task(&self, index: usize) -> Option<TaskAccuracy> {
        self.language.as_ref()?.task(index, self.reference_index())
    }

    /// What variant `index` wrote after the prompt.
    pub fn generated(&self, index: usize) -> Option<String> {
        self.language.as_ref()?.generated(index)
    }

    /// Rows of the language model's embedding, when the model has one.
    pub fn embedding_rows(&self) -> Option<usize> {
        self.language.as_ref().map(LanguageRun::embedding_rows)
    }

    /// How far the evaluation of the text has come, when there is text.
    pub fn task_progress(&self) -> Option<TaskProgress> {
        self.language.as_ref()?.progress()
    }

    fn reference_index(&self) -> usize {
        self.variants
            .iter()
            .position(|v| v.model.scheme() == REFERENCE)
            .expect("schemes_to_run always includes the reference")
    }
}

/// Refuses `config` when it asks for a scheme that quantizes an embedding of a model (named
/// by `model`) that has none.
pub fn refuse_embedding_schemes(config: &Config, model: &str) -> Result<()> {
    match config.schemes.iter().find(|s| s.quantizes_embedding()) {
        Some(scheme) => Err(DynqError::Unsupported(format!(
            "scheme {scheme} quantizes a language model's embedding, but {model} has none \
             ('encoder.weight'): load an RNNModel with --weights (e.g. --preset shakespeare) or \
             leave {scheme} out of --schemes"
        ))),
        None => Ok(()),
    }
}

impl Variant {
    fn output_values(&self) -> &[f32] {
        self.output
            .output()
            .as_slice()
            .expect("outputs are owned, contiguous arrays")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fp32_always_comes_first_and_schemes_are_deduplicated() {
        use Scheme::*;
        assert_eq!(schemes_to_run(&[Fp16, Int8, Int8]), [Fp32, Int8, Fp16]);
        assert_eq!(schemes_to_run(&[]), [Fp32]);
    }

    #[test]
    fn the_recipe_config_builds_with_the_recipes_figures() {
        let config = Config {
            schemes: Scheme::RECURRENT.to_vec(),
            ..Config::default()
        };
        let mut built = Variants::build(&config, &|| false).unwrap().unwrap();
        let recipe = crate::recipe::run_recipe().unwrap();
        let [fp32, int8, per_channel, fp16, qnnpack] = &built.variants[..] else {
            panic!("five variants");
        };
        assert_eq!(fp32.accuracy.diff_mean_abs, 0.0);
        assert_eq!(fp32.size_bytes, recipe.fp32_bytes);
        assert_eq!(int8.size_bytes, recipe.int8_bytes);
        assert_eq!(fp32.accuracy, recipe.fp32);
        assert_eq!(int8.accuracy, recipe.int8);
        assert!(int8.accuracy.diff_max_abs >= int8.accuracy.diff_mean_abs);
        assert!(per_channel.accuracy.diff_pct > 0.0);
        assert!(fp16.accuracy.diff_pct < int8.accuracy.diff_pct);
        // The ARM engine computes the same weights differently: its output moves, a little.
        assert_eq!(
            qnnpack.size_bytes,
            int8.size_bytes + 8,
            "the longer scheme name only"
        );
        let gap = built.engine_gap.expect("int8 and int8_qnnpack both ran");
        assert!(gap.diff_max_abs > 0.0 && gap.diff_max_abs < 0.1, "{gap:?}");
        assert_ne!(qnnpack.accuracy, int8.accuracy);
        assert!(built.time(1).is_ok());
        let without_arm = Config {
            schemes: vec![Scheme::Int8],
            ..Config::default()
        };
        let built = Variants::build(&without_arm, &|| false).unwrap().unwrap();
        assert_eq!(built.engine_gap, None);
    }

    #[test]
    fn a_new_input_shape_or_thread_count_keeps_the_models() {
        let config = Config {
            input_size: 12,
            hidden_size: 12,
            ..Config::default()
        };
        let built = Variants::build(&config, &|| false).unwrap().unwrap();
        let models: Vec<Model> = built.variants.iter().map(|v| v.model.clone()).collect();
        let longer = Config {
            seq_len: 7,
            batch: 3,
            threads: 1,
            kernel: crate::kernels::KernelChoice::Scalar,
            ..config.clone()
        };
        assert!(built.has_models_of(&longer));
        let kept = built.reconfigure(&longer).unwrap();
        assert_eq!((kept.config.seq_len, kept.config.batch), (7, 3));
        assert_eq!(kept.input.shape(), &[7, 3, 12]);
        assert_eq!(kept.kernel_name(), "scalar");
        for (variant, model) in kept.variants.iter().zip(&models) {
            assert_eq!(variant.model.scheme(), model.scheme());
            assert_eq!(variant.model.to_safetensors(), model.to_safetensors());
        }
        // The accuracy figures are those of a fresh build of the same Config.
        let fresh = Variants::build(&longer, &|| false).unwrap().unwrap();
        let figures = |v: &Variants| v.variants.iter().map(|v| v.accuracy).collect::<Vec<_>>();
        assert_eq!(figures(&kept), figures(&fresh));

        for other in [
            Config {
                hidden_size: 16,
                ..longer.clone()
            },
            Config {
                seed: 1,
                ..longer.clone()
            },
            Config {
                schemes: vec![Scheme::Fp16],
                ..longer.clone()
            },
        ] {
            assert!(!kept.has_models_of(&other), "{other:?}");
        }
    }

    #[test]
    fn building_stops_when_cancelled_and_refuses_bad_configs() {
        assert!(
            Variants::build(&Config::default(), &|| true)
                .unwrap()
                .is_none()
        );
        let bad = Config {
            hidden_size: 0,
            ..Config::default()
        };
        let err = Variants::build(&bad, &|| false).err().unwrap().to_string();
        assert!(err.contains("hidden_size"), "{err}");
    }

    fn shakespeare(data: &str, eval_batch: usize) -> (Config, tempfile::TempDir) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("text.txt");
        std::fs::write(&text, data).unwrap();
        let config = Config {
            weights: Some(root.join("models/shakespeare-charlstm.safetensors")),
            data: Some(text),
            eval_batch,
            bptt: 10,
            schemes: vec![Scheme::Int8],
            ..Config::default()
        };
        (config, dir)
    }

    #[test]
    fn a_language_model_times_its_chunks_and_evaluates_them_between_rounds() {
        let text = "First Citizen:\nBefore we proceed any further, hear me speak.\n";
        let (config, _dir) = shakespeare(text, 2);
        let mut built = Variants::build(&config, &|| false).unwrap().unwrap();
        // 61 characters in 2 columns of 30: chunks of 10 steps, 58 predicted characters.
        assert_eq!((built.config.seq_len, built.config.batch), (10, 2));
        assert_eq!(built.config.input_size, 128, "the embedding's width");
        let progress = built.task_progress().unwrap();
        assert_eq!((progress.tokens_done, progress.tokens_total), (0, 58));
        assert_eq!(progress.prompt.as_deref(), Some("First Citizen:"));
        assert!(built.task(0).is_none());
        let embedding_bytes = 65 * 128 * 4;
        assert!(built.variants[0].size_bytes > 946_625 * 4);
        assert!(built.variants[1].size_bytes > embedding_bytes as u64);
        assert!(built.variants[1].size_bytes < built.variants[0].size_bytes / 2);

        let mut chunks = 0;
        while built.evaluate_chunk().unwrap() {
            chunks += 1;
        }
        assert_eq!(chunks, 3);
        assert!(built.task_progress().unwrap().is_done());
        let (fp32, int8) = (built.task(0).unwrap(), built.task(1).unwrap());
        assert_eq!((fp32.tokens, int8.tokens), (58, 58));
        assert_eq!(fp32.delta_loss, 0.0);
        assert_eq!(fp32.top1_agreement, 1.0);
        assert!(fp32.loss > 0.5 && fp32.loss < 3.0, "{fp32:?}");
        assert!(int8.delta_loss.abs() < 0.1, "{int8:?}");
        assert_eq!(built.generated(0).unwrap().chars().count(), 200);
        assert!(built.time(1).is_ok());

        // New threads keep the models and restart the evaluation.
        let again = built
            .reconfigure(&Config {
                threads: 1,
                ..config
            })
            .unwrap();
        assert_eq!(again.task_progress().unwrap().tokens_done, 0);
    }

    #[test]
    fn a_language_model_refuses_text_outside_its_vocabulary() {
        let (config, _dir) = shakespeare("caf\u{e9} au lait", 1);
        let err = Variants::build(&config, &|| false)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("line 1: \"é\" is not in"), "{err}");
    }
}
