//! A reference case, as `dynq check FILE` reads and runs it.
#![no_main]

use dynq::check::ReferenceCase;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(case) = ReferenceCase::parse(bytes, "fuzz.safetensors") {
        if let Ok(report) = case.check() {
            let _ = report.to_text();
        }
    }
});
