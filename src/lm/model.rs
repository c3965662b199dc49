//! PyTorch's word_language_model `RNNModel` (`encoder` → `rnn` → `decoder`) loaded from its
//! state_dict, with its vocabulary, and its variants: `quantize_dynamic(model, {nn.LSTM,
//! nn.Linear})` quantizes the LSTM and the decoder and leaves the embedding in FP32; adding
//! `nn.Embedding: float_qparams_weight_only_qconfig` quantizes the embedding too.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::vocab::{VOCAB_KEY, Vocab};
use crate::error::Result;
use crate::io::{Cell, ENCODER_WEIGHT, OwnedTensor, TensorFile, read_file, serialize};
use crate::model::{Embedding, FloatModel, read_fp32};
use crate::quant::{Model, QuantizedEmbedding, Scheme, quantize_dynamic};

/// What a weight file holds: the LSTM (with its head or decoder) and, for an RNNModel, the
/// embedding in front of it and the vocabulary it was saved with.
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// The recurrent layers and the head (`fc`, or RNNModel's `decoder`).
    pub lstm: FloatModel,
    /// RNNModel's `encoder`, when the file has one.
    pub embedding: Option<Arc<Embedding>>,
    /// The vocabulary from the `dynq.vocab` metadata, when the file has one.
    pub vocab: Option<Arc<Vocab>>,
    /// The tensor whose shape gives the recurrent cell (`lstm.weight_hh_l0`, ...), for errors.
    pub cell_tensor: String,
}

/// A language model whose decoder predicts the next token of its vocabulary.
#[derive(Debug, Clone)]
pub struct LanguageModel {
    /// The FP32 model: embedding rows in, logits over the vocabulary out.
    pub lstm: FloatModel,
    /// The FP32 embedding (see [`LanguageModel::stored_embedding`] for a variant's).
    pub embedding: Arc<Embedding>,
    /// The tokens, in embedding-row order.
    pub vocab: Arc<Vocab>,
}

impl ModelFile {
    /// Checks that the file's cell is `asked` (when given), else names the tensor that shows
    /// which cell it is; `origin` names the file.
    pub fn ensure_cell(
        &self,
        asked: Option<Cell>,
        origin: &str,
    ) -> std::result::Result<(), String> {
        let found = self.lstm.cell();
        match asked {
            Some(asked) if asked != found => Err(format!(
                "{origin}: tensor '{}' holds an {} ({} gates), but cell = {asked} was asked for \
                 (--cell or the preset's `cell`): use {found} or leave it out",
                self.cell_tensor,
                found.module(),
                found.gates(),
            )),
            _ => Ok(()),
        }
    }

    /// Reads a weight file; see [`ModelFile::parse`].
    pub fn load(path: &Path) -> Result<ModelFile> {
        let bytes = read_file(path)?;
        ModelFile::parse(&bytes, &path.display().to_string())
    }

    /// Parses an FP32 state_dict (bare `nn.LSTM`, `lstm.`/`fc.` names, or an RNNModel) and
    /// checks that its parts fit together: the embedding's width is the LSTM's input size, the
    /// vocabulary has one token per embedding row and the decoder one output per token.
    pub fn parse(bytes: &[u8], origin: &str) -> Result<ModelFile> {
        let file = TensorFile::parse(bytes, origin)?;
        let (lstm, layout) = read_fp32(&file)?;
        let dims = lstm.dims();
        let embedding = match file.shape(ENCODER_WEIGHT) {
            Some(shape) if layout.is_rnn_model() => {
                let [rows, features] = shape[..] else {
                    return Err(file.error(format!(
                        "tensor '{ENCODER_WEIGHT}' has shape {shape:?}, expected \
                         [vocabulary, {}]",
                        dims.input_size
                    )));
                };
                if features != dims.input_size {
                    return Err(file.error(format!(
                        "tensor '{ENCODER_WEIGHT}' has shape {shape:?}, expected \
                         [vocabulary, {}] (the LSTM's input size)",
                        dims.input_size
                    )));
                }
                let weight = file.f32(ENCODER_WEIGHT, &shape)?;
                let table = Embedding::new(weight, rows, features)
                    .map_err(|e| file.error(e.to_string()))?;
                Some(Arc::new(table))
            }
            _ => None,
        };
        let vocab = match file.metadata.get(VOCAB_KEY) {
            Some(json) => {
                let vocab = Vocab::from_json(json)
                    .map_err(|e| file.error(format!("metadata '{VOCAB_KEY}': {e}")))?;
                Some(Arc::new(vocab))
            }
            None => None,
        };
        if let (Some(vocab), Some(table)) = (&vocab, &embedding)
            && vocab.len() != table.rows()
        {
            return Err(file.error(format!(
                "metadata '{VOCAB_KEY}' lists {} tokens but '{ENCODER_WEIGHT}' has {} rows: \
                 save the vocabulary the model was trained with",
                vocab.len(),
                table.rows()
            )));
        }
        if let Some(table) = &embedding
            && dims.head > 0
            && dims.head != table.rows()
        {
            return Err(file.error(format!(
                "the decoder has {} outputs but '{ENCODER_WEIGHT}' has {} rows: a language \
                 model predicts one logit per token",
                dims.head,
                table.rows()
            )));
        }
        Ok(ModelFile {
            lstm,
            embedding,
            vocab,
            cell_tensor: layout.first_recurrent_weight(),
        })
    }

    /// The language model in this file, or why it is not one (no embedding, no decoder or no
    /// vocabulary), naming `origin` and what to add.
    pub fn into_language_model(self, origin: &str) -> std::result::Result<LanguageModel, String> {
        let Some(embedding) = self.embedding else {
            return Err(format!(
                "{origin}: has no embedding ('{ENCODER_WEIGHT}'): evaluating text needs an \
                 RNNModel (encoder, rnn, decoder)"
            ));
        };
        if self.lstm.head().is_none() {
            return Err(format!(
                "{origin}: has no decoder ('decoder.weight', 'decoder.bias'): evaluating text \
                 needs one logit per token"
            ));
        }
        let Some(vocab) = self.vocab else {
            return Err(format!(
                "{origin}: has no vocabulary: add metadata {{\"{VOCAB_KEY}\": json.dumps(tokens)}} \
                 to save_file (see the README)"
            ));
        };
        Ok(LanguageModel {
            lstm: self.lstm,
            embedding,
            vocab,
        })
    }
}

impl LanguageModel {
    /// The variant `scheme` of the LSTM and decoder, as `quantize_dynamic` converts them.
    pub fn variant(&self, scheme: Scheme) -> Model {
        quantize_dynamic(&self.lstm, scheme)
    }

    /// The embedding as variant `scheme` stores it: the FP32 table, or (for
    /// [`Scheme::Int8Embedding`]) its 8-bit rows.
    pub fn stored_embedding(&self, scheme: Scheme) -> StoredEmbedding {
        StoredEmbedding::for_scheme(&self.embedding, scheme)
    }
}

/// A language model's embedding as one variant stores it.
#[derive(Debug, Clone)]
pub enum StoredEmbedding {
    /// The FP32 table, as `quantize_dynamic` with `{nn.LSTM, nn.Linear}` leaves it.
    Fp32(Arc<Embedding>),
    /// 8-bit rows with a float scale and zero point each.
    Quint8(Arc<QuantizedEmbedding>),
}

impl StoredEmbedding {
    /// `table` as `scheme` stores it (quantizing it when the scheme quantizes embeddings).
    pub fn for_scheme(table: &Arc<Embedding>, scheme: Scheme) -> StoredEmbedding {
        if scheme.quantizes_embedding() {
            StoredEmbedding::Quint8(Arc::new(QuantizedEmbedding::quantize(table)))
        } else {
            StoredEmbedding::Fp32(Arc::clone(table))
        }
    }

    /// The rows a lookup returns (for 8-bit rows, dequantized as PyTorch's lookup does).
    pub fn lookup_table(&self) -> &Embedding {
        match self {
            StoredEmbedding::Fp32(table) => table,
            StoredEmbedding::Quint8(quantized) => quantized.dequantized(),
        }
    }

    /// The tensors a file of the variant holds for the embedding: `encoder.weight` (f32), or
    /// `encoder.weight.quint8` (u8) with `encoder.weight.scale` and `.zero_point` (f32 per row).
    fn tensors(&self) -> Vec<(String, OwnedTensor)> {
        match self {
            StoredEmbedding::Fp32(table) => vec![(
                ENCODER_WEIGHT.to_string(),
                OwnedTensor::f32(table.weight(), &[table.rows(), table.features()]),
            )],
            StoredEmbedding::Quint8(quantized) => {
                let rows = [quantized.shape()[0]];
                vec![
                    (
                        format!("{ENCODER_WEIGHT}.quint8"),
                        OwnedTensor::u8(quantized.values(), &quantized.shape()),
                    ),
                    (
                        format!("{ENCODER_WEIGHT}.scale"),
                        OwnedTensor::f32(quantized.scales(), &rows),
                    ),
                    (
                        format!("{ENCODER_WEIGHT}.zero_point"),
                        OwnedTensor::f32(quantized.zero_points(), &rows),
                    ),
                ]
            }
        }
    }
}

/// The bytes of a whole language model in `variant`: its LSTM and decoder in the variant's
/// format, beside the embedding as the variant stores it.
pub fn language_model_bytes(variant: &Model, embedding: &StoredEmbedding) -> Vec<u8> {
    let mut tensors = variant.tensors();
    tensors.extend(embedding.tensors());
    serialize(&tensors, HashMap::from([variant.scheme_metadata()]))
}
