//! One event enum on one channel into the UI loop: ticks, terminal input, worker snapshots.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use crossterm::event as terminal;

use crate::bench::Snapshot;

/// Something the UI loop reacts to.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Time passed (drives redraws that were held back by the frame-rate limit).
    Tick,
    /// A key, mouse or resize event from the terminal.
    Crossterm(terminal::Event),
    /// The worker published new figures.
    Snapshot(Box<Snapshot>),
}

/// The receiving end of the event channel, fed by two background threads.
pub struct Events {
    receiver: Receiver<Event>,
}

impl Events {
    /// Starts a thread polling the terminal and ticking every `tick`, and one forwarding the
    /// worker's `snapshots`. Both end when the receiving side is dropped (the snapshot one
    /// after its next snapshot or when the worker hangs up).
    pub fn start(tick: Duration, snapshots: Receiver<Snapshot>) -> Events {
        let (sender, receiver) = mpsc::channel();
        let terminal_sender = sender.clone();
        thread::spawn(move || poll_terminal(tick, &terminal_sender));
        thread::spawn(move || {
            for snapshot in snapshots {
                if sender.send(Event::Snapshot(Box::new(snapshot))).is_err() {
                    break;
                }
            }
        });
        Events { receiver }
    }

    /// Waits for the next event; an error once both threads have ended.
    pub fn next(&self) -> io::Result<Event> {
        self.receiver
            .recv()
            .map_err(|_| io::Error::other("the terminal event thread ended"))
    }
}

/// Sends terminal events as they come and a tick every `tick`, until the channel closes or
/// the terminal fails.
fn poll_terminal(tick: Duration, sender: &Sender<Event>) {
    let mut last_tick = Instant::now();
    loop {
        let timeout = tick.saturating_sub(last_tick.elapsed());
        let event = match terminal::poll(timeout) {
            Ok(true) => match terminal::read() {
                Ok(event) => Some(Event::Crossterm(event)),
                Err(_) => return,
            },
            Ok(false) => None,
            Err(_) => return,
        };
        if let Some(event) = event
            && sender.send(event).is_err()
        {
            return;
        }
        if last_tick.elapsed() >= tick {
            last_tick = Instant::now();
            if sender.send(Event::Tick).is_err() {
                return;
            }
        }
    }
}
