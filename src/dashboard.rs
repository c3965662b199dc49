//! Connects the dashboard to the benchmark worker (commands out, snapshots in) and to the
//! report exporters (the `s` key).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use dynq::bench::{Machine, Roofline, Snapshot, WorkerHandle};
use dynq::report::{Format, Report};
use dynq::scenario::Preset;
use dynq::tui::{Command, Engine, Options};

/// The real worker behind the dashboard.
struct Worker {
    handle: Option<WorkerHandle>,
    preset: Preset,
    machine: Machine,
    roofline: Option<Roofline>,
}

impl Engine for Worker {
    fn send(&mut self, command: Command) {
        let Some(handle) = &self.handle else { return };
        match command {
            Command::SetConfig(config) => handle.set_config(config),
            Command::Pause => handle.pause(),
            Command::Resume => handle.resume(),
            Command::Reset => handle.reset(),
            Command::Quit => {
                if let Some(handle) = self.handle.take() {
                    handle.stop();
                }
            }
        }
    }

    fn write_report(&mut self, snapshots: &[Snapshot]) -> Result<String, String> {
        let report = Report::new(
            &self.preset.name,
            &self.preset.description,
            self.machine.clone(),
            snapshots,
        );
        let report = match &self.roofline {
            Some(roofline) => report.with_roofline(roofline.clone()),
            None => report,
        };
        let path = fresh_report_path(Path::new("."));
        dynq::io::write_atomically(&path, Format::Markdown.render(&report).as_bytes())
            .map_err(|e| format!("report not written: {e}"))?;
        Ok(path.display().to_string())
    }
}

/// `dynq-report-<unix time>.md` in `dir`, with a counter added when that name is taken, so a
/// report never replaces a file that is already there.
fn fresh_report_path(dir: &Path) -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (0..)
        .map(|n| match n {
            0 => dir.join(format!("dynq-report-{stamp}.md")),
            n => dir.join(format!("dynq-report-{stamp}-{n}.md")),
        })
        .find(|path| !path.exists())
        .expect("an unused name exists")
}

/// Runs the dashboard on `preset` until the user quits or `stop` is set.
pub fn run(preset: Preset, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    let first = preset.steps[0].config.clone();
    // The machine's limits, measured (once per machine, half a second) before the worker
    // starts loading it.
    let roofline = first
        .kernel
        .resolve()
        .ok()
        .map(|kernel| Roofline::load_or_measure(kernel, false));
    let (handle, snapshots) = WorkerHandle::spawn_with_receiver(first.clone());
    let options = Options {
        preset: Some(preset.clone()),
        stop,
        roofline: roofline.clone(),
        crossover: Preset::find("crossover", &Default::default()).ok(),
        ..Options::new(first)
    };
    let mut worker = Worker {
        handle: Some(handle),
        preset,
        machine: Machine::detect(),
        roofline,
    };
    dynq::tui::run(options, &mut worker, snapshots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_never_collide_with_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let first = fresh_report_path(dir.path());
        std::fs::write(&first, "user's file").unwrap();
        let second = fresh_report_path(dir.path());
        assert_ne!(first, second);
        assert!(second.to_str().unwrap().ends_with("-1.md"));
    }
}
