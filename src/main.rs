//! The `dynq` binary: parses the command line, runs the chosen mode, maps errors to exit codes
//! (1: a check failed or a run went wrong, 2: bad usage or unreadable input).

mod cli;

use std::process::ExitCode;

use clap::Parser;
use dynq::check::ReferenceCase;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check { file, json }) => check(&file, json),
        None => recipe(),
    }
}

fn check(file: &std::path::Path, json: bool) -> ExitCode {
    let report = match ReferenceCase::load(file).and_then(|case| case.check()) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("dynq check: {e}");
            return ExitCode::from(2);
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("plain data serializes")
        );
    } else {
        print!("{}", report.to_text());
    }
    if report.pass() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn recipe() -> ExitCode {
    match dynq::recipe::run_recipe() {
        Ok(figures) => {
            print!("{}", figures.to_text());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dynq: {e}");
            ExitCode::from(1)
        }
    }
}
