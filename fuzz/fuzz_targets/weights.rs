//! A weight file, as `--weights` reads it: every naming scheme (bare `nn.LSTM`, `lstm.`/`fc.`,
//! RNNModel with vocabulary) through `ModelFile::parse`, and every variant's own file (fp32,
//! int8, int8_per_channel, fp16) through `Model::from_safetensors`. A model that loads runs one
//! step, so a loader that accepts an inconsistent model shows as a panic here.
#![no_main]

use dynq::lm::ModelFile;
use dynq::{Model, Workspace};
use libfuzzer_sys::fuzz_target;
use ndarray::Array3;

fn run_one_step(model: &Model) {
    let dims = model.dims();
    if dims.parameter_count() > 1 << 20 {
        return;
    }
    let input = Array3::<f32>::from_elem((1, 1, dims.input_size), 0.5);
    let mut workspace = Workspace::default();
    let mut output = Default::default();
    model
        .forward_into(input.view(), None, &mut workspace, &mut output)
        .expect("a model that loads runs");
}

fuzz_target!(|bytes: &[u8]| {
    if let Ok(file) = ModelFile::parse(bytes, "fuzz.safetensors") {
        run_one_step(&Model::Fp32(file.lstm.clone()));
        if let Ok(lm) = file.into_language_model("fuzz.safetensors") {
            assert_eq!(lm.vocab.len(), lm.embedding.rows());
        }
    }
    if let Ok(model) = Model::from_safetensors(bytes, "fuzz.safetensors") {
        run_one_step(&model);
    }
});
