//! RNNModel weight files (PyTorch's word_language_model names), their vocabulary and the text
//! they are evaluated on: what loads, what it computes, and the one-line errors (exit 2) for
//! everything that does not fit.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use dynq::lm::{Evaluation, ModelFile, TokenGrid, VOCAB_KEY};
use dynq::model::{LinearOp, Workspace};
use dynq::{ModelDims, Scheme};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

type Tensor = (String, Vec<usize>, Vec<f32>);

/// Distinct, small values so that every weight matters.
fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 7 + seed * 13) % 17) as f32 - 8.0) / 20.0)
        .collect()
}

/// An RNNModel state_dict: `encoder` `[vocab, embed]`, a one-layer `rnn` of `hidden`, and a
/// `decoder` `[vocab, hidden]` (left out when `tied`: safetensors keeps only the encoder).
fn rnn_model(vocab: usize, embed: usize, hidden: usize, tied: bool) -> Vec<Tensor> {
    let mut t: Vec<Tensor> = vec![
        (
            "encoder.weight".into(),
            vec![vocab, embed],
            values(vocab * embed, 1),
        ),
        (
            "rnn.weight_ih_l0".into(),
            vec![4 * hidden, embed],
            values(4 * hidden * embed, 2),
        ),
        (
            "rnn.weight_hh_l0".into(),
            vec![4 * hidden, hidden],
            values(4 * hidden * hidden, 3),
        ),
        (
            "rnn.bias_ih_l0".into(),
            vec![4 * hidden],
            values(4 * hidden, 4),
        ),
        (
            "rnn.bias_hh_l0".into(),
            vec![4 * hidden],
            values(4 * hidden, 5),
        ),
        ("decoder.bias".into(), vec![vocab], values(vocab, 6)),
    ];
    if !tied {
        t.push((
            "decoder.weight".into(),
            vec![vocab, hidden],
            values(vocab * hidden, 7),
        ));
    }
    t
}

fn serialize(tensors: &[Tensor], vocab: Option<&[&str]>) -> Vec<u8> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let metadata =
        vocab.map(|v| HashMap::from([(VOCAB_KEY.into(), serde_json::to_string(v).unwrap())]));
    safetensors::serialize(views, metadata).unwrap()
}

const CHARS: [&str; 5] = ["\n", " ", "a", "b", "c"];
const WORDS: [&str; 4] = ["<eos>", "the", "cat", "sat"];

#[test]
fn an_rnn_model_loads_its_embedding_decoder_and_vocabulary() {
    let bytes = serialize(&rnn_model(5, 3, 4, false), Some(&CHARS));
    let lm = ModelFile::parse(&bytes, "m.safetensors")
        .unwrap()
        .into_language_model("m.safetensors")
        .unwrap();
    let dims = lm.lstm.dims();
    assert_eq!((dims.input_size, dims.hidden_size, dims.head), (3, 4, 5));
    assert_eq!((lm.embedding.rows(), lm.embedding.features()), (5, 3));
    assert_eq!(lm.embedding.row(1), &values(15, 1)[3..6]);
    assert_eq!(lm.vocab.len(), 5);
    assert_eq!(lm.lstm.head().unwrap().out_features(), 5);
}

#[test]
fn a_decoder_tied_to_the_encoder_reads_the_encoders_weight() {
    let tensors = rnn_model(5, 4, 4, true);
    let lm = ModelFile::parse(&serialize(&tensors, Some(&CHARS)), "tied")
        .unwrap()
        .into_language_model("tied")
        .unwrap();
    let head = lm.lstm.head().unwrap();
    let decoder = dynq::Linear::new(values(20, 1), values(5, 6), 4, 5);
    assert_eq!(head, &decoder, "decoder = encoder.weight with decoder.bias");
    // Tied needs the encoder's width to be the hidden size, as in PyTorch.
    let err = ModelFile::parse(&serialize(&rnn_model(5, 3, 4, true), Some(&CHARS)), "t")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("encoder.weight") && err.contains("tied"),
        "{err}"
    );
}

#[test]
fn a_word_model_evaluates_words_with_eos_and_every_variant_agrees_in_size() {
    let lm = ModelFile::parse(&serialize(&rnn_model(4, 3, 4, false), Some(&WORDS)), "w")
        .unwrap()
        .into_language_model("w")
        .unwrap();
    let tokens = lm
        .vocab
        .tokenize("the cat sat\nthe cat\n", "w.txt")
        .unwrap();
    assert_eq!(tokens, [1, 2, 3, 0, 1, 2, 0]);
    let models: Vec<_> = Scheme::ALL.iter().map(|&s| lm.variant(s)).collect();
    let refs: Vec<_> = models.iter().collect();
    let stored: Vec<_> = Scheme::ALL
        .iter()
        .map(|&s| lm.stored_embedding(s))
        .collect();
    let tables: Vec<_> = stored.iter().map(|e| e.lookup_table()).collect();
    let grid = TokenGrid::batchify(&tokens, 2).unwrap();
    let mut evaluation = Evaluation::new(grid, 2, refs.len(), ModelDims::square(4)).unwrap();
    evaluation
        .run_to_end(&tables, &refs, 0, &mut Workspace::default())
        .unwrap();
    let fp32 = evaluation.totals(0);
    // 7 tokens in 2 columns of 3: 2 predictions per column.
    assert_eq!(fp32.tokens, 4);
    assert_eq!(fp32.agree, 4, "FP32 agrees with itself");
    // Uniform guessing over 4 tokens costs ln 4; this model is close to uniform.
    let loss = fp32.loss_sum / 4.0;
    assert!((loss - 4f64.ln()).abs() < 0.5, "{loss}");
    for index in 1..refs.len() {
        let totals = evaluation.totals(index);
        assert_eq!(totals.tokens, 4);
        assert!((totals.loss_sum / 4.0 - loss).abs() < 0.05);
    }
}

fn error_of(tensors: &[Tensor], vocab: Option<&[&str]>) -> String {
    ModelFile::parse(&serialize(tensors, vocab), "m.safetensors")
        .and_then(|f| {
            f.into_language_model("m.safetensors")
                .map(|_| ())
                .map_err(dynq::DynqError::Unsupported)
        })
        .unwrap_err()
        .to_string()
}

#[test]
fn language_model_files_that_do_not_fit_name_the_tensor_or_the_metadata() {
    let err = error_of(&rnn_model(5, 3, 4, false), Some(&CHARS[..4]));
    assert!(
        err.contains("dynq.vocab") && err.contains("4 tokens") && err.contains("5 rows"),
        "{err}"
    );
    let err = error_of(&rnn_model(5, 3, 4, false), None);
    assert!(
        err.contains("no vocabulary") && err.contains("dynq.vocab"),
        "{err}"
    );
    let no_decoder: Vec<Tensor> = rnn_model(5, 3, 4, false)
        .into_iter()
        .filter(|(n, _, _)| !n.starts_with("decoder."))
        .collect();
    let err = error_of(&no_decoder, Some(&CHARS));
    assert!(err.contains("no decoder"), "{err}");
    let mut narrow = rnn_model(5, 3, 4, false);
    narrow[0] = ("encoder.weight".into(), vec![5, 2], values(10, 1));
    let err = error_of(&narrow, Some(&CHARS));
    assert!(
        err.contains("encoder.weight") && err.contains("[5, 2]"),
        "{err}"
    );
    let mut decoder_rows = rnn_model(5, 3, 4, false);
    decoder_rows[6] = ("decoder.weight".into(), vec![6, 4], values(24, 7));
    decoder_rows[5] = ("decoder.bias".into(), vec![6], values(6, 6));
    let err = error_of(&decoder_rows, Some(&CHARS));
    assert!(err.contains("decoder has 6 outputs"), "{err}");
    let err = ModelFile::parse(
        &serialize(&rnn_model(5, 3, 4, false), Some(&["a", "a"])),
        "m",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("dynq.vocab") && err.contains("twice"), "{err}");
}

// ---- through the binary ----

fn dynq(args: &[&str]) -> Output {
    common::dynq_command()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Runs a JSON report of `model` on `data` and returns the binary's output.
fn report_output(model: &[u8], data: &[u8], extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let weights = write(dir.path(), "m.safetensors", model);
    let text = write(dir.path(), "data.txt", data);
    let mut args = vec![
        "--weights",
        weights.to_str().unwrap(),
        "--data",
        text.to_str().unwrap(),
        "--duration",
        "0.1",
        "--report",
        "-",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    dynq(&args)
}

/// Runs a report of `model` on `data` and returns (exit status, stderr).
fn report_on(model: &[u8], data: &[u8], extra: &[&str]) -> (Option<i32>, String) {
    let out = report_output(model, data, extra);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stderr)
}

#[test]
fn bad_data_is_a_usage_error_naming_the_file_and_the_fix() {
    let chars = serialize(&rnn_model(5, 3, 4, false), Some(&CHARS));
    let (code, err) = report_on(&chars, b"ab\nab x", &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("data.txt: line 2: \"x\" is not in the model's vocabulary"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let (code, err) = report_on(&chars, b"", &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("at least two"), "{err}");
    let (code, err) = report_on(&chars, b"a", &[]);
    assert_eq!(code, Some(2), "{err}");

    let (code, err) = report_on(&chars, b"\xff\xfe", &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not UTF-8"), "{err}");

    let no_vocab = serialize(&rnn_model(5, 3, 4, false), None);
    let (code, err) = report_on(&no_vocab, b"abc", &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no vocabulary"), "{err}");

    let (code, err) = report_on(&chars, b"abc", &["--bptt", "0"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--bptt"), "{err}");

    let (code, err) = report_on(&chars, b"abcab", &["--eval-batch", "4"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--eval-batch"), "{err}");
}

#[test]
fn data_without_a_language_model_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = write(dir.path(), "data.txt", b"abc");
    let out = dynq(&["--data", text.to_str().unwrap(), "--report", "-"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--weights"), "{err}");

    // A plain nn.LSTM file has no decoder nor embedding.
    let lstm: Vec<Tensor> = rnn_model(5, 3, 4, false)
        .into_iter()
        .filter(|(n, _, _)| n.starts_with("rnn."))
        .collect();
    let weights = write(dir.path(), "lstm.safetensors", &serialize(&lstm, None));
    let out = dynq(&[
        "--weights",
        weights.to_str().unwrap(),
        "--data",
        text.to_str().unwrap(),
        "--report",
        "-",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no embedding"), "{err}");
}

#[test]
fn a_report_on_text_carries_the_task_figures_of_every_variant() {
    let chars = serialize(&rnn_model(5, 3, 4, false), Some(&CHARS));
    let text = b"ab cab\nbca abc\n".repeat(20);
    let out = report_output(&chars, &text, &["--schemes", "int8,fp16"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = &json["runs"][0];
    assert_eq!(
        run["config"]["seq_len"], 25,
        "the chunk length is the timed shape"
    );
    let variants = run["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 3);
    for v in variants {
        let task = &v["task"];
        assert_eq!(task["tokens"], 299, "{v}");
        let loss = task["loss"].as_f64().unwrap();
        assert!(loss > 0.0 && loss < 3.0, "{loss}");
        assert!(v["generated"].as_str().unwrap().chars().count() == 200);
    }
    assert_eq!(variants[0]["task"]["delta_loss"], 0.0);
    assert_eq!(variants[0]["task"]["top1_agreement"], 1.0);
}
