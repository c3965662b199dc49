//! SIGINT and SIGTERM as requests to stop: a headless report stops at its next snapshot and
//! writes nothing (an existing report is left as it was), the dashboard quits as if `q` were
//! pressed and restores the terminal. A second signal of either kind ends the process at once,
//! with the usual 128 + signal status.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// Which of the termination signals arrived first, if any.
#[derive(Clone)]
pub struct Termination {
    requested: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

impl Termination {
    /// Catches SIGINT and SIGTERM from now on.
    pub fn catch() -> io::Result<Termination> {
        let termination = Termination {
            requested: Arc::default(),
            signal: Arc::default(),
        };
        for signal in [SIGINT, SIGTERM] {
            // Does nothing the first time; registered first, so the first signal only arms it.
            flag::register_conditional_shutdown(
                signal,
                128 + signal,
                Arc::clone(&termination.requested),
            )?;
            flag::register_usize(signal, Arc::clone(&termination.signal), signal as usize)?;
            flag::register(signal, Arc::clone(&termination.requested))?;
        }
        Ok(termination)
    }

    /// The flag set when a signal arrives, for loops that poll it.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.requested)
    }

    /// The signal that asked to stop, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(signal as i32),
        }
    }

    /// The signal's name and the exit status a process it ended would have (128 + signal).
    pub fn describe(signal: i32) -> (&'static str, u8) {
        let name = match signal {
            SIGINT => "SIGINT",
            SIGTERM => "SIGTERM",
            _ => "a signal",
        };
        (name, (128 + signal) as u8)
    }
}
