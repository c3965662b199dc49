//! Building the models of one [`Config`]: the FP32 model, its quantized twins, their sizes and
//! their accuracy figures (computed once: the input is seeded, the outputs deterministic).

use std::time::{Duration, Instant};

use ndarray::Array3;

use super::config::Config;
use crate::error::Result;
use crate::metrics::{max_abs_diff, mean_abs, mean_abs_diff, percent_diff};
use crate::model::{LstmOutput, LstmState, Workspace, load_fp32, random_inputs, random_model};
use crate::quant::{Model, Scheme, quantize_dynamic};

/// How a variant's output compares with the FP32 output on the same input (the recipe's
/// figures plus the largest difference).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Accuracy {
    /// `mean(|output|)`.
    pub output_mean_abs: f64,
    /// `mean(|output − reference|)`.
    pub diff_mean_abs: f64,
    /// `diff_mean_abs / mean(|reference|) · 100`.
    pub diff_pct: f64,
    /// `max(|output − reference|)`.
    pub diff_max_abs: f64,
}

impl Accuracy {
    /// Compares `output` with `reference` (equal lengths).
    pub fn compare(reference: &[f32], output: &[f32]) -> Accuracy {
        Accuracy {
            output_mean_abs: mean_abs(output),
            diff_mean_abs: mean_abs_diff(reference, output),
            diff_pct: percent_diff(reference, output),
            diff_max_abs: max_abs_diff(reference, output),
        }
    }
}

/// The schemes a Config runs: FP32 (the reference) always, then the others in display order,
/// each once.
pub fn schemes_to_run(requested: &[Scheme]) -> Vec<Scheme> {
    Scheme::ALL
        .into_iter()
        .filter(|&s| s == Scheme::Fp32 || requested.contains(&s))
        .collect()
}

/// One runnable variant with its reusable buffers and its fixed figures.
pub struct Variant {
    /// The model.
    pub model: Model,
    /// Byte size of the serialized safetensors model.
    pub size_bytes: u64,
    /// Output comparison with FP32.
    pub accuracy: Accuracy,
    workspace: Workspace,
    output: LstmOutput,
}

/// The models of one Config, ready to be timed.
pub struct Variants {
    /// The Config as run: when weights were loaded, their sizes replace the Config's.
    pub config: Config,
    /// FP32 first.
    pub variants: Vec<Variant>,
    input: Array3<f32>,
    state: LstmState,
}

impl Variants {
    /// Builds every variant of `config`. Between stages `cancelled` is asked whether the result
    /// is still wanted; if not, building stops and `Ok(None)` is returned.
    pub fn build(config: &Config, cancelled: &dyn Fn() -> bool) -> Result<Option<Variants>> {
        config.validate()?;
        let fp32 = match &config.weights {
            Some(path) => load_fp32(path)?,
            None => random_model(config.dims(), config.seed)?,
        };
        let dims = fp32.dims();
        let config = Config {
            input_size: dims.input_size,
            hidden_size: dims.hidden_size,
            num_layers: dims.num_layers,
            head: dims.head,
            ..config.clone()
        };
        let (input, state) = random_inputs(dims, config.seq_len, config.batch, config.seed);
        let mut variants: Vec<Variant> = Vec::new();
        for scheme in schemes_to_run(&config.schemes) {
            if cancelled() {
                return Ok(None);
            }
            let model = quantize_dynamic(&fp32, scheme);
            let size_bytes = model.to_safetensors().len() as u64;
            let mut variant = Variant {
                model,
                size_bytes,
                accuracy: Accuracy::default(),
                workspace: Workspace::default(),
                output: LstmOutput::default(),
            };
            variant.run(&input, &state)?;
            let reference = variants.first().unwrap_or(&variant).output_values();
            let accuracy = Accuracy::compare(reference, variant.output_values());
            variant.accuracy = accuracy;
            variants.push(variant);
        }
        Ok(Some(Variants {
            config,
            variants,
            input,
            state,
        }))
    }

    /// Runs variant `index` once on the Config's input and returns how long it took.
    pub fn time(&mut self, index: usize) -> Result<Duration> {
        self.variants[index].run(&self.input, &self.state)
    }
}

impl Variant {
    fn run(&mut self, input: &Array3<f32>, state: &LstmState) -> Result<Duration> {
        let start = Instant::now();
        self.model.forward_into(
            input.view(),
            Some(state),
            &mut self.workspace,
            &mut self.output,
        )?;
        Ok(start.elapsed())
    }

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
            schemes: Scheme::ALL.to_vec(),
            ..Config::default()
        };
        let mut built = Variants::build(&config, &|| false).unwrap().unwrap();
        let recipe = crate::recipe::run_recipe().unwrap();
        let [fp32, int8, per_channel, fp16] = &built.variants[..] else {
            panic!("four variants");
        };
        assert_eq!(fp32.accuracy.diff_mean_abs, 0.0);
        assert_eq!(fp32.size_bytes, recipe.fp32_bytes);
        assert_eq!(int8.size_bytes, recipe.int8_bytes);
        assert_eq!(int8.accuracy.output_mean_abs, recipe.int8_mean_abs);
        assert_eq!(int8.accuracy.diff_pct, recipe.diff_percent);
        assert!(int8.accuracy.diff_max_abs >= int8.accuracy.diff_mean_abs);
        assert!(per_channel.accuracy.diff_pct > 0.0);
        assert!(fp16.accuracy.diff_pct < int8.accuracy.diff_pct);
        assert!(built.time(1).is_ok());
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
}
