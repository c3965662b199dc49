//! Preset scenarios: the file format, the shipped presets, and stepping through them.

mod preset;
mod replay;

pub use preset::{
    DEFAULT_SECONDS, MAX_SECONDS, Overrides, Preset, PresetError, RunLength, Step, accepts_seconds,
    shipped_names,
};
pub use replay::{Advance, Replay, is_complete, progress, run};
