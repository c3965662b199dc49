//! The figures every layer shows, defined once: how far a variant's outputs move from the
//! reference's ([`Accuracy`]), a language model's task figures on text ([`TaskAccuracy`]), its latency percentiles ([`LatencyStats`]), and every figure
//! derived from two of them, ratios and speed-ups ([`ratio`]), always against [`REFERENCE`].

mod accuracy;
mod crossover;
mod latency;
pub mod ratio;
mod task;

use crate::quant::Scheme;

pub use accuracy::{Accuracy, max_abs_diff, mean_abs, mean_abs_diff, percent_diff};
pub use crossover::{Crossover, CrossoverPoint, Sample, crossovers, from_dim, shape};
pub use latency::LatencyStats;
pub use ratio::{percent_of_limit, sequences_per_second, speedup, times_smaller};
pub use task::{TaskAccuracy, TaskTotals};

/// The variant every accuracy figure and ratio is taken against: the FP32 model.
pub const REFERENCE: Scheme = Scheme::Fp32;
