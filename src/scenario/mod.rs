//! Preset scenarios: the file format, the shipped presets, and stepping through them.

mod preset;
mod replay;

pub use preset::{DEFAULT_SECONDS, Overrides, Preset, PresetError, RunLength, Step, shipped_names};
pub use replay::{Advance, Replay, is_complete, progress, run};
