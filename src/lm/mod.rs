//! Language models: PyTorch's word_language_model `RNNModel` (an FP32 embedding, the LSTM and
//! a decoder to the vocabulary) with its vocabulary, evaluated on text by the tutorial's
//! protocol and made to write text, in every variant.

mod eval;
mod generate;
mod model;
mod vocab;

pub use eval::{Evaluation, TokenGrid};
pub use generate::{first_difference, generate_greedy};
pub use model::{LanguageModel, ModelFile, StoredEmbedding, language_model_bytes};
pub use vocab::{END_OF_LINE, TokenLevel, UNKNOWN, VOCAB_KEY, Vocab, read_text_tokens};
