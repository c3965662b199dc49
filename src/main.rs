//! The `dynq` binary: parses the command line, runs the chosen mode (dashboard, report, check),
//! maps errors to exit codes (1: a check failed or a run went wrong, 2: bad usage or unreadable
//! input).

mod cli;
mod dashboard;
mod signals;

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use clap::Parser;
use dynq::DynqError;
use dynq::bench::{Machine, Roofline, Snapshot, refuse_embedding_schemes};
use dynq::check::ReferenceCase;
use dynq::kernels::KernelChoice;
use dynq::lm::{ModelFile, TokenGrid, read_text_tokens};
use dynq::report::{Format, Report};
use dynq::scenario::{Preset, Replay};

use cli::{Cli, Command, RunArgs};
use signals::Termination;

/// A failure: the one-line message and the exit status it maps to.
struct Failure {
    code: u8,
    message: String,
}

/// Bad usage or unreadable input: exit status 2.
fn usage(error: impl Display) -> Failure {
    Failure {
        code: 2,
        message: error.to_string(),
    }
}

/// A run that went wrong: exit status 1.
fn failed(error: impl Display) -> Failure {
    Failure {
        code: 1,
        message: error.to_string(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Some(Command::Check { file, json }) => check(&file, json),
        Some(Command::Roofline {
            json,
            remeasure,
            kernel,
        }) => roofline(json, remeasure, kernel.unwrap_or_default()),
        None => benchmark(&cli.run),
    };
    match outcome {
        Ok(code) => code,
        Err(Failure { code, message }) => {
            let _ = writeln!(std::io::stderr(), "dynq: {message}");
            ExitCode::from(code)
        }
    }
}

fn check(file: &Path, json: bool) -> Result<ExitCode, Failure> {
    let report = ReferenceCase::load(file)
        .and_then(|case| case.check())
        .map_err(|e| usage(format!("check: {e}")))?;
    let text = if json {
        let mut text = serde_json::to_string_pretty(&report).expect("plain data serializes");
        text.push('\n');
        text
    } else {
        report.to_text()
    };
    print_stdout(&text).map_err(failed)?;
    Ok(if report.pass() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Without a subcommand: list the presets, or measure one in the dashboard or as a report.
fn benchmark(args: &RunArgs) -> Result<ExitCode, Failure> {
    if args.list_presets {
        print_stdout(&preset_list()).map_err(failed)?;
        return Ok(ExitCode::SUCCESS);
    }
    let preset = Preset::find(
        args.preset.as_deref().unwrap_or("recipe"),
        &args.overrides(),
    )
    .map_err(usage)?;
    check_weight_files(&preset)?;
    match &args.report {
        Some(path) => report(&preset, path, args.format.map(Into::into)),
        None if !std::io::stdout().is_terminal() => {
            report(&preset, Path::new("-"), args.format.map(Into::into))
        }
        None => dashboard(&preset),
    }
}

/// The interactive dashboard on `preset`.
fn dashboard(preset: &Preset) -> Result<ExitCode, Failure> {
    let termination = Termination::catch().map_err(|e| failed(format!("signals: {e}")))?;
    dashboard::run(preset.clone(), termination.flag())
        .map_err(|e| failed(format!("dashboard: {e}")))?;
    Ok(match termination.signal() {
        Some(signal) => ExitCode::from(Termination::describe(signal).1),
        None => ExitCode::SUCCESS,
    })
}

/// `dynq roofline`: the machine's limits with `kernel`, as a table or JSON.
fn roofline(json: bool, remeasure: bool, kernel: KernelChoice) -> Result<ExitCode, Failure> {
    let kernel = kernel.resolve().map_err(usage)?;
    let roofline = Roofline::load_or_measure(kernel, remeasure);
    let text = if json {
        serde_json::to_string_pretty(&roofline).map_err(failed)? + "\n"
    } else {
        roofline.to_text()
    };
    print_stdout(&text).map_err(failed)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs every step of `preset` and writes the report to `path` (`-`: stdout) in `format`
/// (default: from the extension).
fn report(preset: &Preset, path: &Path, format: Option<Format>) -> Result<ExitCode, Failure> {
    let to_stdout = path == Path::new("-");
    if !to_stdout {
        check_writable(path)?;
    }
    let format = format.unwrap_or_else(|| Format::from_path(path));
    let show_progress = std::io::stderr().is_terminal();
    let termination = Termination::catch().map_err(|e| failed(format!("signals: {e}")))?;
    let stop = termination.flag();
    // The machine's limits, measured (once per machine) before anything else runs.
    let kernel = preset
        .steps
        .first()
        .map_or(KernelChoice::Auto, |s| s.config.kernel);
    let roofline = Roofline::load_or_measure(kernel.resolve().map_err(usage)?, false);
    let results = dynq::scenario::run(preset, |replay, snapshot| {
        if show_progress {
            progress(replay, snapshot);
        }
        if stop.load(Ordering::SeqCst) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    if show_progress {
        let _ = write!(std::io::stderr(), "\r\x1b[2K");
    }
    let steps = match results {
        Err(DynqError::Interrupted) => {
            let (name, code) = Termination::describe(termination.signal().unwrap_or(0));
            let kept = if to_stdout {
                String::new()
            } else {
                format!(" ({} is as it was)", path.display())
            };
            return Err(Failure {
                code,
                message: format!("interrupted by {name}: no report written{kept}"),
            });
        }
        other => other.map_err(failed)?,
    };
    // Measured again: a virtual machine's cores may have moved while the steps ran.
    let handoff_after = roofline.measure_handoff();
    let report = Report::new(&preset.name, &preset.description, Machine::detect(), &steps)
        .with_roofline(roofline)
        .with_handoff_after(handoff_after);
    let text = format.render(&report);
    if to_stdout {
        print_stdout(&text).map_err(failed)?;
    } else {
        dynq::io::write_atomically(path, text.as_bytes()).map_err(failed)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One status line on stderr: step k of n, the Config, the time measured.
fn progress(replay: &Replay, snapshot: &Snapshot) {
    let Some(step) = replay.step() else {
        return;
    };
    let c = &step.config;
    let state = if snapshot.building || !replay.is_current(snapshot) {
        "building the models".to_string()
    } else {
        let elapsed = snapshot.elapsed.as_secs_f64();
        let text = match step.length.seconds {
            Some(seconds) => format!("{:.1} s of {seconds} s", elapsed.min(seconds)),
            None => format!("{elapsed:.1} s"),
        };
        text + &format!(", {} forwards per variant", snapshot.min_samples())
    };
    let _ = write!(
        std::io::stderr(),
        "\r\x1b[2Kstep {} of {}: input {}, hidden {}, seq {}, batch {}, layers {}: {state}",
        replay.current() + 1,
        replay.len(),
        c.input_size,
        c.hidden_size,
        c.seq_len,
        c.batch,
        c.num_layers,
    );
}

/// The shipped presets, one per line with its description.
fn preset_list() -> String {
    let presets = Preset::shipped();
    let width = presets.iter().map(|p| p.name.len()).max().unwrap_or(0);
    presets
        .iter()
        .map(|p| format!("{:width$}  {}\n", p.name, p.description))
        .collect()
}

/// Loads every weight file (and text to evaluate) the preset names, so that a bad one (or a
/// scheme the model cannot have) is reported before any measuring.
fn check_weight_files(preset: &Preset) -> Result<(), Failure> {
    for config in preset.steps.iter().map(|s| &s.config) {
        let Some(path) = &config.weights else {
            refuse_embedding_schemes(config, "the random model").map_err(usage)?;
            continue;
        };
        let file = ModelFile::load(path).map_err(|e| usage(format!("weights: {e}")))?;
        if file.embedding.is_none() {
            refuse_embedding_schemes(config, &path.display().to_string()).map_err(usage)?;
        }
        file.ensure_cell(config.cell, &path.display().to_string())
            .map_err(|e| usage(format!("weights: {e}")))?;
        if let Some(data) = &config.data {
            let model = file
                .into_language_model(&path.display().to_string())
                .map_err(|e| usage(format!("--data: {e}")))?;
            let tokens =
                read_text_tokens(data, &model.vocab).map_err(|e| usage(format!("--data: {e}")))?;
            TokenGrid::batchify(&tokens, config.eval_batch)
                .map_err(|e| usage(format!("--data: {e}")))?;
        }
    }
    Ok(())
}

/// Fails early (before measuring) when the report could not be written to `path`'s folder.
fn check_writable(path: &Path) -> Result<(), Failure> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(usage(format!(
            "--report: the folder {} does not exist; create it or choose another path",
            dir.display()
        )));
    }
    tempfile::NamedTempFile::new_in(dir).map(drop).map_err(|e| {
        usage(format!(
            "--report: cannot create a file in {}: {}",
            dir.display(),
            std::io::Error::from(e.kind())
        ))
    })
}

/// Writes `text` to stdout; a closed pipe (`dynq ... | head -1`) is not an error.
fn print_stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
