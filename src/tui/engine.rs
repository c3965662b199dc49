//! The dashboard's only link to the benchmark worker: commands out, snapshots in.

use crate::bench::{Config, Snapshot};

/// What the dashboard asks of the worker.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Replace the models with this Config and reset every figure.
    SetConfig(Config),
    /// Stop running forwards (snapshots may keep coming, with `running: false`).
    Pause,
    /// Run forwards again.
    Resume,
    /// Clear the histograms and recent latencies, keeping the models.
    Reset,
    /// The dashboard is closing.
    Quit,
}

/// The worker as the dashboard sees it. Both methods run on the UI thread, so they must
/// return quickly: send the command on a channel, write the report file and return.
pub trait Engine {
    /// Delivers `command` to the worker.
    fn send(&mut self, command: Command);

    /// Writes a report of `snapshots` (the latest snapshot of each Config measured this
    /// session, in the order measured; the one on screen last) and returns where it went.
    /// They hold what a report reads: no histograms or recent latencies, and of the machine
    /// figures only the kernel (see [`Measured::to_snapshot`](super::Measured::to_snapshot)).
    fn write_report(&mut self, snapshots: &[Snapshot]) -> Result<String, String>;
}
