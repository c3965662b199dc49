//! Command-line interface (clap derive).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Benchmark dynamic INT8 quantization of LSTMs, with PyTorch's numerics.
#[derive(Debug, Parser)]
#[command(name = "dynq", version, about)]
pub struct Cli {
    /// What to do; without a subcommand dynq runs the recipe's comparison.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compare dynq with PyTorch on a reference case (safetensors with PyTorch's outputs).
    ///
    /// Exit status: 0 when every variant is within tolerance, 1 when one is not, 2 when the
    /// file cannot be read.
    Check {
        /// The reference file.
        file: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}
