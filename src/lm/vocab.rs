//! A language model's vocabulary: the tokens in embedding-row order, read from the weight
//! file's `dynq.vocab` metadata, and the tokenizer that turns text into their indices the way
//! PyTorch's word_language_model example reads its corpus.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{DynqError, Result};
use crate::io::read_file;

/// The safetensors `__metadata__` key that holds the vocabulary: a JSON list of tokens, the
/// token of embedding row `i` at index `i`.
pub const VOCAB_KEY: &str = "dynq.vocab";
/// The token word-level models end every line with (the example's `Corpus`).
pub const END_OF_LINE: &str = "<eos>";
/// The token unknown words map to, when the vocabulary has it.
pub const UNKNOWN: &str = "<unk>";

/// How text is split into tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenLevel {
    /// Every character (newlines included) is a token.
    Char,
    /// Whitespace-separated words, each line ending with `<eos>`.
    Word,
}

/// The tokens of a model, in embedding-row order.
#[derive(Debug, Clone, PartialEq)]
pub struct Vocab {
    tokens: Vec<String>,
    index: HashMap<String, u32>,
    level: TokenLevel,
    unknown: Option<u32>,
}

impl Vocab {
    /// Builds a vocabulary from its tokens; fails on an empty list or a repeated token.
    /// Word-level when it holds `<eos>` or any token longer than one character.
    pub fn new(tokens: Vec<String>) -> std::result::Result<Self, String> {
        if tokens.is_empty() {
            return Err("the vocabulary is empty".into());
        }
        if tokens.len() > u32::MAX as usize {
            return Err("the vocabulary has more than 2^32 tokens".into());
        }
        let mut index = HashMap::with_capacity(tokens.len());
        for (i, token) in tokens.iter().enumerate() {
            if index.insert(token.clone(), i as u32).is_some() {
                return Err(format!("token {token:?} appears twice"));
            }
        }
        let is_char = |t: &String| t.chars().count() == 1;
        let level = if tokens.iter().all(is_char) && !index.contains_key(END_OF_LINE) {
            TokenLevel::Char
        } else {
            TokenLevel::Word
        };
        let unknown = index.get(UNKNOWN).copied();
        Ok(Vocab {
            tokens,
            index,
            level,
            unknown,
        })
    }

    /// Parses the JSON list stored under [`VOCAB_KEY`].
    pub fn from_json(json: &str) -> std::result::Result<Self, String> {
        let tokens: Vec<String> = serde_json::from_str(json)
            .map_err(|e| format!("expected a JSON list of strings ({e})"))?;
        Vocab::new(tokens)
    }

    /// How many tokens it has.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Always false: a vocabulary has at least one token.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Character- or word-level.
    pub fn level(&self) -> TokenLevel {
        self.level
    }

    /// The token of index `id`.
    pub fn token(&self, id: u32) -> &str {
        &self.tokens[id as usize]
    }

    /// The index of `token`, if the vocabulary has it.
    pub fn id(&self, token: &str) -> Option<u32> {
        self.index.get(token).copied()
    }

    /// Turns `text` into token indices: characters one by one, or words line by line with
    /// `<eos>` after each line (as the example's `Corpus.tokenize`). A token the vocabulary
    /// lacks becomes `<unk>` when it has one; otherwise the error names the token, its line and
    /// `origin`.
    pub fn tokenize(&self, text: &str, origin: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::with_capacity(match self.level {
            TokenLevel::Char => text.len(),
            TokenLevel::Word => text.len() / 4,
        });
        for (line_index, line) in text.split_inclusive('\n').enumerate() {
            let mut push = |token: &str| -> Result<()> {
                let id = self.id(token).or(self.unknown).ok_or_else(|| {
                    DynqError::Unsupported(format!(
                        "{origin}: line {}: {token:?} is not in the model's vocabulary of {} \
                         tokens (and it has no '{UNKNOWN}' token to stand for it)",
                        line_index + 1,
                        self.len()
                    ))
                })?;
                ids.push(id);
                Ok(())
            };
            match self.level {
                TokenLevel::Char => {
                    let mut buffer = [0u8; 4];
                    for c in line.chars() {
                        push(c.encode_utf8(&mut buffer))?;
                    }
                }
                TokenLevel::Word => {
                    for word in line.split_whitespace() {
                        push(word)?;
                    }
                    push(END_OF_LINE)?;
                }
            }
        }
        Ok(ids)
    }

    /// The text of `ids`: characters joined as they are, words with spaces and `<eos>` as a
    /// line break.
    pub fn detokenize(&self, ids: &[u32]) -> String {
        let mut text = String::new();
        for &id in ids {
            let token = self.token(id);
            match self.level {
                TokenLevel::Char => text.push_str(token),
                TokenLevel::Word if token == END_OF_LINE => text.push('\n'),
                TokenLevel::Word => {
                    if !text.is_empty() && !text.ends_with('\n') {
                        text.push(' ');
                    }
                    text.push_str(token);
                }
            }
        }
        text
    }

    /// The tokens as the JSON list [`Vocab::from_json`] reads.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.tokens).expect("strings serialize")
    }
}

/// The tokens of the UTF-8 text file at `path` (at least two), with errors that name the file.
pub fn read_text_tokens(path: &Path, vocab: &Vocab) -> Result<Vec<u32>> {
    let origin = path.display().to_string();
    let bytes = read_file(path)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        DynqError::Unsupported(format!(
            "{origin}: not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    let tokens = vocab.tokenize(&text, &origin)?;
    if tokens.len() < 2 {
        return Err(DynqError::Unsupported(format!(
            "{origin}: holds {} token(s); evaluating needs at least two",
            tokens.len()
        )));
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(tokens: &[&str]) -> Vocab {
        Vocab::new(tokens.iter().map(|t| t.to_string()).collect()).unwrap()
    }

    #[test]
    fn characters_tokenize_one_by_one_newlines_included() {
        let v = vocab(&["\n", " ", "a", "b"]);
        assert_eq!(v.level(), TokenLevel::Char);
        let ids = v.tokenize("ab a\nb", "t").unwrap();
        assert_eq!(ids, [2, 3, 1, 2, 0, 3]);
        assert_eq!(v.detokenize(&ids), "ab a\nb");
    }

    #[test]
    fn words_end_each_line_with_eos_as_the_examples_corpus_does() {
        let v = vocab(&["<eos>", "the", "cat", "sat"]);
        assert_eq!(v.level(), TokenLevel::Word);
        // Corpus.tokenize: for line in f: words = line.split() + ['<eos>']
        let ids = v.tokenize("the cat\n  sat \n", "t").unwrap();
        assert_eq!(ids, [1, 2, 0, 3, 0]);
        assert_eq!(v.tokenize("the", "t").unwrap(), [1, 0]);
        assert_eq!(v.detokenize(&ids), "the cat\nsat\n");
    }

    #[test]
    fn an_unknown_token_is_named_with_its_line_unless_there_is_unk() {
        let v = vocab(&["\n", "a"]);
        let err = v.tokenize("a\naXa", "val.txt").unwrap_err().to_string();
        assert!(err.contains("val.txt: line 2: \"X\""), "{err}");
        let with_unk = vocab(&["<eos>", "<unk>", "cat"]);
        assert_eq!(with_unk.tokenize("cat dog", "t").unwrap(), [2, 1, 0]);
    }

    #[test]
    fn bad_vocabularies_are_refused() {
        assert!(Vocab::from_json("[]").is_err());
        assert!(
            Vocab::from_json("[\"a\", \"a\"]")
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            Vocab::from_json("{\"a\": 1}")
                .unwrap_err()
                .contains("JSON list")
        );
        let v = Vocab::from_json("[\"x\", \"y\"]").unwrap();
        assert_eq!(Vocab::from_json(&v.to_json()).unwrap(), v);
    }
}
