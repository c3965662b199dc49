//! A preset file, as `--preset PATH` reads it; one that parses is applied to every step.
#![no_main]

use dynq::scenario::{Overrides, Preset};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(preset) = Preset::parse(text, "fuzz.toml", &Overrides::default()) {
        let _ = format!("{preset:?}");
    }
});
