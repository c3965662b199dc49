//! A vocabulary (the `dynq.vocab` metadata's JSON) and a text tokenized with it, as `--data`
//! does: the input is the JSON, a NUL byte, then the text.
#![no_main]

use dynq::lm::Vocab;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let split = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let (json, text) = (&bytes[..split], bytes.get(split + 1..).unwrap_or_default());
    let (Ok(json), Ok(text)) = (std::str::from_utf8(json), std::str::from_utf8(text)) else {
        return;
    };
    let Ok(vocab) = Vocab::from_json(json) else {
        return;
    };
    if let Ok(ids) = vocab.tokenize(text, "fuzz.txt") {
        assert!(ids.iter().all(|&id| (id as usize) < vocab.len()));
        let _ = vocab.detokenize(&ids);
    }
});
