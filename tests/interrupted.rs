//! A headless report killed at any moment: SIGINT and SIGTERM stop it cleanly (no report,
//! the existing file as it was, nothing left behind, status 130 / 143), SIGKILL cannot be
//! caught but still never leaves the report half-written. A run the signal comes too late for
//! has written a whole report.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const PRESET: &str = r#"
name = "interruptible"
description = "Two short steps"

[defaults]
seq_len = 5
schemes = ["fp32", "int8"]
seconds = 0.4

[[steps]]
dim = 8

[[steps]]
dim = 16
"#;

const PREVIOUS: &str = "the user's previous report\n";

/// Runs a report into `dir/report.json` (which holds [`PREVIOUS`]), sends `signal` after
/// `delay`, and returns the exit status.
fn interrupt(dir: &Path, signal: &str, delay: Duration) -> std::process::ExitStatus {
    let preset = dir.join("interruptible.toml");
    std::fs::write(&preset, PRESET).unwrap();
    let report = dir.join("report.json");
    std::fs::write(&report, PREVIOUS).unwrap();
    let child = common::dynq_command()
        .args([
            "--report",
            report.to_str().unwrap(),
            "--preset",
            preset.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let sent = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked"),
        "{signal} after {delay:?}: {stderr}"
    );
    if sent.success() && output.status.code().is_some_and(|c| c > 1) {
        assert!(
            stderr.contains("no report written"),
            "{signal} after {delay:?}: {stderr}"
        );
    }
    output.status
}

/// The report is the previous one or a whole new one, never a mixture or a fragment.
fn assert_previous_or_whole(dir: &Path, label: &str) -> bool {
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
    if text == PREVIOUS {
        return false;
    }
    let json: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{label}: partial report: {e}"));
    assert_eq!(json["runs"].as_array().map(Vec::len), Some(2), "{label}");
    true
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn sigint_and_sigterm_at_any_moment_leave_the_previous_report_or_a_whole_one() {
    for (signal, interrupted_code) in [("INT", 130), ("TERM", 143)] {
        let mut caught = 0;
        for delay_ms in [5, 150, 450, 900, 4000] {
            let dir = tempfile::tempdir().unwrap();
            let delay = Duration::from_millis(delay_ms);
            let label = format!("SIG{signal} after {delay_ms} ms");
            let status = interrupt(dir.path(), signal, delay);
            let replaced = assert_previous_or_whole(dir.path(), &label);
            match status.code() {
                Some(0) => assert!(replaced, "{label}: success without a report"),
                Some(code) => {
                    assert_eq!(code, interrupted_code, "{label}");
                    assert!(!replaced, "{label}: interrupted yet replaced the report");
                    caught += 1;
                }
                // Before dynq catches signals, the default action ends it: nothing written.
                None => assert!(!replaced, "{label}"),
            }
            assert_eq!(
                files_in(dir.path()),
                ["interruptible.toml", "report.json"],
                "{label}: nothing left behind"
            );
        }
        // The runs signalled mid-measurement stopped through dynq's handler.
        assert!(
            caught >= 2,
            "SIG{signal}: only {caught} runs stopped with {interrupted_code}"
        );
    }
}

#[test]
fn sigkill_never_leaves_a_partial_report() {
    for delay_ms in [5, 300, 900] {
        let dir = tempfile::tempdir().unwrap();
        let label = format!("SIGKILL after {delay_ms} ms");
        interrupt(dir.path(), "KILL", Duration::from_millis(delay_ms));
        assert_previous_or_whole(dir.path(), &label);
    }
}
