//! The dashboard's state, and how keys, the mouse and the worker's snapshots change it.
//! Every input becomes at most one [`Action`] for the run loop; nothing here draws or waits.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::engine::Command;
use super::history::{self, Measured};
use super::layout::Screen;
use super::sliders::{Slider, first_shown};
use crate::bench::{Config, Roofline, Snapshot, SystemStats};
use crate::model::ModelDims;
use crate::scenario::{self, Advance, Preset, Replay};

/// What the dashboard starts with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Config the worker starts with.
    pub config: Config,
    /// The preset being replayed, if any; its first step should be `config`.
    pub preset: Option<Preset>,
    /// Top of the threads slider.
    pub max_threads: usize,
    /// The machine's limits, for each variant's "% of limit".
    pub roofline: Option<Roofline>,
    /// The sweep the crossover view (the `c` key) measures.
    pub crossover: Option<Preset>,
    /// Set from outside (the binary sets it on SIGTERM) to make the dashboard quit as if the
    /// user had pressed `q`, restoring the terminal.
    pub stop: Arc<AtomicBool>,
}

impl Options {
    /// Starts from `config`, without a preset, threads up to the machine's logical cores.
    pub fn new(config: Config) -> Options {
        Options {
            config,
            preset: None,
            max_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            roofline: None,
            crossover: None,
            stop: Arc::default(),
        }
    }
}

/// What the run loop does after an input.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Hand this command to the worker.
    Send(Command),
    /// Write a report of [`App::history`] and show where it went.
    WriteReport,
    /// Leave the dashboard.
    Quit,
}

/// Everything the panels draw from.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    /// The Config asked of the worker (the sliders' values).
    pub config: Config,
    /// The preset being replayed (if any), its current step, automatic stepping, and which
    /// snapshots belong to a replaced Config.
    pub replay: Replay,
    /// Whether the worker is paused.
    pub paused: bool,
    /// One dimension slider for input and hidden size (true) or one each.
    pub linked: bool,
    /// Index of the selected slider in `Slider::rows`.
    pub selected: usize,
    /// Whether the help overlay is shown.
    pub help: bool,
    /// The last message for the status line.
    pub status: Option<String>,
    /// The latest snapshot of the current Config; `None` until it arrives.
    pub snapshot: Option<Snapshot>,
    /// The latest figures of each Config measured this session (at most
    /// [`HISTORY_LIMIT`](history::HISTORY_LIMIT), the latest ones), in the order measured:
    /// what the size curve and the report read.
    pub history: Vec<Measured>,
    /// The latest machine figures (kept across Config changes).
    pub system: SystemStats,
    /// Top of the threads slider.
    pub max_threads: usize,
    /// The machine's limits, for "% of limit" (none in tests that do not set one).
    pub roofline: Option<Roofline>,
    /// The sweep the crossover view measures, if there is one.
    pub crossover: Option<Preset>,
    /// Whether the crossover view replaces the size and latency panels.
    pub crossover_view: bool,
}

impl App {
    /// The state before the first snapshot.
    pub fn new(options: Options) -> App {
        App {
            linked: options.config.input_size == options.config.hidden_size,
            config: options.config,
            replay: options.preset.map_or_else(Replay::exploring, Replay::new),
            paused: false,
            selected: 0,
            help: false,
            status: None,
            snapshot: None,
            history: Vec::new(),
            system: SystemStats::default(),
            max_threads: options.max_threads,
            roofline: options.roofline,
            crossover: options.crossover,
            crossover_view: false,
        }
    }

    /// The sliders shown, top to bottom.
    pub fn sliders(&self) -> &'static [Slider] {
        Slider::rows(self.linked)
    }

    /// The selected slider.
    pub fn selected_slider(&self) -> Slider {
        self.sliders()[self.selected_index()]
    }

    /// The index of the selected slider in [`App::sliders`].
    pub fn selected_index(&self) -> usize {
        self.selected.min(self.sliders().len() - 1)
    }

    /// The first slider row a panel with room for `visible` rows shows: the sliders scroll
    /// to keep the selected one in view when they do not all fit.
    pub fn first_shown_slider(&self, visible: usize) -> usize {
        first_shown(self.selected_index(), self.sliders().len(), visible)
    }

    /// The shape of a weight file's model, once it is built and measured: the file's sizes,
    /// cell and directions replace the Config's. `None` without a weight file or before then.
    pub fn file_dims(&self) -> Option<ModelDims> {
        self.config.weights.as_ref()?;
        let snapshot = self.snapshot.as_ref()?;
        (!snapshot.variants.is_empty()).then(|| snapshot.config.dims())
    }

    /// The shape of the model measured: the weight file's (see [`App::file_dims`]), else the
    /// Config's.
    pub fn model_dims(&self) -> ModelDims {
        self.file_dims().unwrap_or_else(|| self.config.dims())
    }

    /// How far the current preset step is measured, 0 to 1; `None` without a preset.
    pub fn step_progress(&self) -> Option<f64> {
        let step = self.replay.step()?;
        Some(
            self.snapshot
                .as_ref()
                .map_or(0.0, |s| scenario::progress(&step.length, s)),
        )
    }

    /// Shows `message` in the status line.
    pub fn set_status(&mut self, message: impl Into<String>) {
        self.status = Some(message.into());
    }

    /// Handles a key press (repeats and releases are ignored).
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind != KeyEventKind::Press {
            return None;
        }
        match key.code {
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                Some(Action::Quit)
            }
            KeyCode::Char('q') => Some(Action::Quit),
            KeyCode::Esc if self.help => {
                self.help = false;
                None
            }
            KeyCode::Esc => Some(Action::Quit),
            KeyCode::Char('?') => {
                self.help = !self.help;
                None
            }
            KeyCode::Char(' ') => Some(self.toggle_pause()),
            KeyCode::Char('r') => {
                self.set_status("histograms reset");
                Some(Action::Send(Command::Reset))
            }
            KeyCode::Char('n') => self.change_step(true),
            KeyCode::Char('p') => self.change_step(false),
            KeyCode::Char('a') => {
                self.toggle_auto();
                None
            }
            KeyCode::Char('s') => Some(Action::WriteReport),
            KeyCode::Char('c') => self.toggle_crossover(),
            KeyCode::Char('i') => self.toggle_linked(),
            KeyCode::Up | KeyCode::Char('k') => {
                self.selected = self.selected.saturating_sub(1);
                None
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(self.sliders().len() - 1);
                None
            }
            KeyCode::Left | KeyCode::Char('h') => self.move_slider(false),
            KeyCode::Right | KeyCode::Char('l') => self.move_slider(true),
            _ => None,
        }
    }

    /// Where each panel goes in `area`, with the task panels when the shown model is being
    /// evaluated on text; `None` when `area` is too small.
    pub fn screen(&self, area: Rect) -> Option<Screen> {
        let has_task = self.snapshot.as_ref().is_some_and(|s| s.task.is_some());
        Screen::with_task(area, has_task)
    }

    /// Handles the mouse over the sliders: a click selects a row, the wheel moves it.
    /// `area` is the whole terminal, for finding the sliders panel.
    pub fn on_mouse(&mut self, mouse: MouseEvent, area: Rect) -> Option<Action> {
        let panel = self.screen(area)?.sliders;
        let position = Position::new(mouse.column, mouse.row);
        if self.help || !panel.contains(position) {
            return None;
        }
        let line = usize::from(mouse.row.checked_sub(panel.y + 1)?);
        let visible = usize::from(panel.height.saturating_sub(2));
        let row = self.first_shown_slider(visible) + line;
        if line >= visible || row >= self.sliders().len() {
            return None;
        }
        match mouse.kind {
            MouseEventKind::Down(_) => {
                self.selected = row;
                None
            }
            MouseEventKind::ScrollUp => {
                self.selected = row;
                self.move_slider(true)
            }
            MouseEventKind::ScrollDown => {
                self.selected = row;
                self.move_slider(false)
            }
            _ => None,
        }
    }

    /// Takes in a worker snapshot; may advance the preset step.
    pub fn on_snapshot(&mut self, snapshot: Snapshot) -> Option<Action> {
        self.system.clone_from(&snapshot.system);
        if !self.replay.observe(&snapshot) {
            return None;
        }
        self.remember(&snapshot);
        let advance = if self.paused {
            Advance::Continue
        } else {
            self.replay.advance(&snapshot)
        };
        self.snapshot = Some(snapshot);
        match advance {
            Advance::Next(config) => Some(self.show_step(config)),
            Advance::Continue | Advance::Done => None,
        }
    }

    /// Keeps what the size curve and the report read of `snapshot` as the latest of its
    /// Config (see [`history::remember`]).
    fn remember(&mut self, snapshot: &Snapshot) {
        history::remember(&mut self.history, snapshot);
    }

    /// The history as snapshots for [`Engine::write_report`](super::Engine::write_report),
    /// in the order measured (see [`Measured::to_snapshot`]).
    pub fn report_snapshots(&self) -> Vec<Snapshot> {
        self.history.iter().map(Measured::to_snapshot).collect()
    }

    /// Asks the worker for `config`; the panels wait for its first snapshot.
    fn set_config(&mut self, config: Config) -> Action {
        self.config = config.clone();
        self.replay.config_replaced();
        self.snapshot = None;
        Action::Send(Command::SetConfig(config))
    }

    /// Shows or hides the crossover view; the first time, starts measuring its sweep (it
    /// goes on in the background, step by step, while the keys keep answering).
    fn toggle_crossover(&mut self) -> Option<Action> {
        if self.crossover_view {
            self.crossover_view = false;
            return None;
        }
        let Some(preset) = self.crossover.clone() else {
            self.set_status("no crossover sweep to measure");
            return None;
        };
        self.crossover_view = true;
        if self.replay.preset().is_some_and(|p| p.name == preset.name) {
            return None;
        }
        let points = preset.steps.len();
        let config = self.replay.switch_to(preset)?.clone();
        self.set_status(format!(
            "measuring where INT8 starts to win: {points} points (c: back to the panels)"
        ));
        Some(self.show_step(config))
    }

    fn toggle_pause(&mut self) -> Action {
        self.paused = !self.paused;
        Action::Send(if self.paused {
            Command::Pause
        } else {
            Command::Resume
        })
    }

    fn toggle_auto(&mut self) {
        if self.replay.len() < 2 {
            self.set_status("no preset steps to replay");
            return;
        }
        self.replay.set_auto(!self.replay.auto());
        self.set_status(if self.replay.auto() {
            "automatic stepping on"
        } else {
            "automatic stepping off"
        });
    }

    /// Moves to the next (`forward`) or previous preset step, if there is one.
    fn change_step(&mut self, forward: bool) -> Option<Action> {
        let moved = if forward {
            self.replay.next_step()
        } else {
            self.replay.previous_step()
        };
        let Some(config) = moved.cloned() else {
            self.set_status(if self.replay.preset().is_none() {
                "no preset steps to replay"
            } else if forward {
                "already at the last step"
            } else {
                "already at the first step"
            });
            return None;
        };
        Some(self.show_step(config))
    }

    /// Shows preset step Config `config`: the sliders follow it, the worker is asked for it.
    fn show_step(&mut self, config: Config) -> Action {
        self.linked = config.input_size == config.hidden_size;
        self.selected = self.selected.min(self.sliders().len() - 1);
        self.set_config(config)
    }

    fn move_slider(&mut self, up: bool) -> Option<Action> {
        let slider = self.selected_slider();
        if slider.set_by_weight_file() && self.config.weights.is_some() {
            // The worker takes the sizes from the file whatever the sliders say, but a cell
            // other than the file's would stop it: the file's tensors decide these rows.
            self.set_status("the weight file sets the cell and the directions");
            return None;
        }
        let config = slider.moved(&self.config, up, self.max_threads);
        if config == self.config {
            return None;
        }
        if self.replay.auto() {
            self.replay.set_auto(false);
            self.set_status("automatic stepping off while you explore (a turns it back on)");
        }
        Some(self.set_config(config))
    }

    fn toggle_linked(&mut self) -> Option<Action> {
        self.linked = !self.linked;
        self.selected = self.selected.min(self.sliders().len() - 1);
        if self.linked && self.config.input_size != self.config.hidden_size {
            let config = Config {
                input_size: self.config.hidden_size,
                ..self.config.clone()
            };
            return Some(self.set_config(config));
        }
        None
    }
}
