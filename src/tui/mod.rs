//! The live terminal dashboard (ratatui + crossterm).
//!
//! The dashboard talks to the benchmark worker only through [`Engine`] (commands out) and a
//! channel of [`Snapshot`]s (figures in); it never runs a model itself. To connect a worker:
//!
//! ```no_run
//! use std::sync::mpsc;
//! use dynq::bench::{Config, Snapshot};
//! use dynq::tui::{Command, Engine, Options};
//!
//! struct Worker(mpsc::Sender<Command>);
//!
//! impl Engine for Worker {
//!     fn send(&mut self, command: Command) {
//!         let _ = self.0.send(command);
//!     }
//!     fn write_report(&mut self, snapshots: &[Snapshot]) -> Result<String, String> {
//!         Err(format!("{} snapshots, but no exporter connected", snapshots.len()))
//!     }
//! }
//!
//! let (commands, _worker_commands) = mpsc::channel::<Command>();
//! let (_worker_snapshots, snapshots) = mpsc::channel::<Snapshot>();
//! // ... start the worker with Config::default(), _worker_commands and _worker_snapshots ...
//! dynq::tui::run(Options::new(Config::default()), &mut Worker(commands), snapshots)?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod app;
mod engine;
mod event;
mod history;
mod layout;
mod panels;
mod shaping;
mod sliders;
#[cfg(test)]
mod tests;
mod theme;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event as TerminalEvent};
use crossterm::execute;
use ratatui::DefaultTerminal;
use ratatui::layout::Rect;

use crate::bench::Snapshot;
use event::{Event, Events};

pub use app::{Action, App, Options};
pub use engine::{Command, Engine};
pub use history::{HISTORY_LIMIT, Language, Measured, MeasuredVariant};

/// Shortest time between two frames (30 fps), also the tick period.
const FRAME: Duration = Duration::from_millis(33);

/// Runs the dashboard until the user quits: takes over the terminal, draws `snapshots` as
/// they arrive, and hands the user's changes to `engine`. The worker should already be
/// running `options.config`. Sends [`Command::Quit`] before returning. The terminal is
/// restored on return, on error and on panic.
pub fn run(
    options: Options,
    engine: &mut impl Engine,
    snapshots: Receiver<Snapshot>,
) -> io::Result<()> {
    let mut terminal = ratatui::init();
    release_mouse_on_panic();
    let result = execute!(io::stdout(), EnableMouseCapture).and_then(|()| {
        let events = Events::start(FRAME, snapshots);
        let stop = Arc::clone(&options.stop);
        run_loop(&mut terminal, App::new(options), engine, &events, &stop)
    });
    engine.send(Command::Quit);
    let released = execute!(io::stdout(), DisableMouseCapture);
    ratatui::restore();
    result.and(released)
}

/// Reacts to events and redraws at most every [`FRAME`], until an [`Action::Quit`] or `stop`.
fn run_loop(
    terminal: &mut DefaultTerminal,
    mut app: App,
    engine: &mut impl Engine,
    events: &Events,
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        if dirty && last_draw.is_none_or(|t| t.elapsed() >= FRAME) {
            terminal.draw(|frame| panels::render(frame, &app))?;
            last_draw = Some(Instant::now());
            dirty = false;
        }
        let action = match events.next()? {
            Event::Tick => continue,
            Event::Crossterm(TerminalEvent::Key(key)) => app.on_key(key),
            Event::Crossterm(TerminalEvent::Mouse(mouse)) => {
                let size = terminal.size()?;
                app.on_mouse(mouse, Rect::new(0, 0, size.width, size.height))
            }
            Event::Crossterm(_) => None,
            Event::Snapshot(snapshot) => app.on_snapshot(*snapshot),
        };
        dirty = true;
        match action {
            None => {}
            Some(Action::Quit) => return Ok(()),
            Some(Action::Send(command)) => engine.send(command),
            Some(Action::WriteReport) => {
                let message = if app.history.is_empty() {
                    "nothing measured yet, no report written".to_string()
                } else {
                    match engine.write_report(&app.report_snapshots()) {
                        Ok(place) => format!("report written to {place}"),
                        Err(e) => format!("report failed: {e}"),
                    }
                };
                app.set_status(message);
            }
        }
    }
}

/// Chains a panic hook that turns mouse reporting off before ratatui's hook restores the
/// rest of the terminal.
fn release_mouse_on_panic() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(io::stdout(), DisableMouseCapture);
        previous(info);
    }));
}
