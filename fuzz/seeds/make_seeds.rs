//! Writes the generated part of the fuzz corpora (`fuzz/corpus/<target>/`): the files that
//! `tests/fixtures/` and `presets/` lack, small enough to mutate quickly: every variant's own
//! file of a 2-layer model with a head, a bare `nn.LSTM` state_dict, a tiny RNNModel with its
//! vocabulary, and vocabulary-plus-text inputs for `tokenize`. `fuzz/run.sh` copies the real
//! files beside them.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use dynq::lm::ModelFile;
use dynq::model::{Cell, random_model};
use dynq::{ModelDims, Scheme, quantize_dynamic};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A safetensors file of f32 tensors with `metadata`.
fn safetensors_file(
    tensors: &[(&str, Vec<usize>, Vec<f32>)],
    metadata: &[(&str, &str)],
) -> Vec<u8> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape, values)| (name.to_string(), shape.clone(), f32_bytes(values)))
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(name, shape, data)| {
            (
                name.clone(),
                TensorView::new(Dtype::F32, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    let metadata: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    safetensors::serialize(views, Some(metadata)).unwrap()
}

fn ramp(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 37 % 17) as f32 - 8.0) / 10.0)
        .collect()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let dir = |target: &str| {
        let dir = root.join(target);
        fs::create_dir_all(&dir).unwrap();
        dir
    };

    let weights = dir("weights");
    let dims = ModelDims {
        input_size: 3,
        hidden_size: 4,
        num_layers: 2,
        head: 2,
        ..ModelDims::square(1)
    };
    // Every variant of an LSTM, a GRU and a bidirectional GRU.
    for (cell, bidirectional) in [(Cell::Lstm, false), (Cell::Gru, false), (Cell::Gru, true)] {
        let dims = ModelDims {
            cell,
            bidirectional,
            ..dims
        };
        let model = random_model(dims, 7).unwrap();
        let kind = format!("{cell}{}", if bidirectional { "_bi" } else { "" });
        for scheme in Scheme::ALL {
            let bytes = quantize_dynamic(&model, scheme).to_safetensors();
            let name = format!("{kind}_{}.safetensors", scheme.name());
            fs::write(weights.join(name), bytes).unwrap();
        }
    }
    let (h, i) = (2usize, 3usize);
    let bare = safetensors_file(
        &[
            ("weight_ih_l0", vec![4 * h, i], ramp(4 * h * i)),
            ("weight_hh_l0", vec![4 * h, h], ramp(4 * h * h)),
            ("bias_ih_l0", vec![4 * h], ramp(4 * h)),
            ("bias_hh_l0", vec![4 * h], ramp(4 * h)),
        ],
        &[],
    );
    fs::write(weights.join("bare_lstm.safetensors"), bare).unwrap();
    let vocab = r#"["a","b"," ","\n"]"#;
    let (v, e) = (4usize, 3usize);
    let rnn_model = safetensors_file(
        &[
            ("encoder.weight", vec![v, e], ramp(v * e)),
            ("rnn.weight_ih_l0", vec![4 * h, e], ramp(4 * h * e)),
            ("rnn.weight_hh_l0", vec![4 * h, h], ramp(4 * h * h)),
            ("rnn.bias_ih_l0", vec![4 * h], ramp(4 * h)),
            ("rnn.bias_hh_l0", vec![4 * h], ramp(4 * h)),
            ("decoder.weight", vec![v, h], ramp(v * h)),
            ("decoder.bias", vec![v], ramp(v)),
        ],
        &[("dynq.vocab", vocab)],
    );
    ModelFile::parse(&rnn_model, "seed").expect("the RNNModel seed loads");
    fs::write(weights.join("rnn_model.safetensors"), rnn_model).unwrap();

    let tokenize = dir("tokenize");
    let texts = [
        (vocab, "ab a\nba b\n"),
        (r#"["<unk>","the","cat","<eos>"]"#, "the cat\nthe dog sat\n"),
        (r#"["x","y","<eos>"]"#, "x y\ny z\n"),
    ];
    for (k, (json, text)) in texts.iter().enumerate() {
        let input = [json.as_bytes(), &[0], text.as_bytes()].concat();
        fs::write(tokenize.join(format!("seed{k}")), input).unwrap();
    }
    println!("wrote seeds under {}", root.display());
}
