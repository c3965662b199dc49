//! Where each panel goes. The screen, at any size from [`MIN_WIDTH`]×[`MIN_HEIGHT`] up:
//!
//! ```text
//! ┌ dynq ────────────────────────────────────────────────────────────────────┐
//! │ header: Config, kernel, preset step k/n with progress, running/paused    │  4 rows
//! └──────────────────────────────────────────────────────────────────────────┘
//! ┌ Model size ────────────────┐┌ Latency ───────────────────────────────────┐
//! │ bars per variant, "x       ││ p50/p90/p99/max per variant, speed-up      │
//! │ smaller"                   ││                                            │
//! │ ratio vs dimension chart   ││ histogram (log bins)    │ recent sparklines │  the rest
//! │ with the 4x asymptote      ││                         │                   │
//! └────────────────────────────┘└────────────────────────────────────────────┘
//! ┌ Accuracy ──────────────┐┌ Sliders ──────────────┐┌ System ───────────────┐
//! │ mean |out|, |diff|, %  ││ dimension ◂━━●──▸ 256 ││ CPU, load, memory     │  10 rows
//! │                        ││ cell      ● LSTM ○ GRU││                       │
//! └────────────────────────┘└───────────────────────┘└───────────────────────┘
//!  status message or key hints                                                  1 row
//! ```
//! The bottom row has room for every slider row (eight with input and hidden split) when the
//! panels above keep [`MIDDLE_MIN_HEIGHT`] rows; in a lower terminal, or when the task panels
//! take the sliders' place, it has 8 rows (the sliders scroll to the selected one).
//! For a language model evaluated on text, a row of two more panels, the task figures and the
//! text FP32 and INT8 write, goes above the bottom row when the terminal has
//! [`TASK_ROW_MIN_HEIGHT`] rows; in a lower one they take the place of the accuracy and
//! slider panels. Below the minimum size the screen is a one-line notice instead.

use ratatui::layout::{Constraint, Layout, Rect};

/// Narrowest terminal the dashboard draws in.
pub const MIN_WIDTH: u16 = 80;
/// Lowest terminal the dashboard draws in.
pub const MIN_HEIGHT: u16 = 24;

/// Rows the task row takes.
const TASK_ROW: u16 = 9;
/// Rows the bottom row takes in a low terminal (six slider rows shown).
const BOTTOM_ROW: u16 = 8;
/// Rows the bottom row takes when there is room: every slider row, input and hidden split.
const TALL_BOTTOM_ROW: u16 = 10;
/// Rows the size and latency panels keep before the bottom row grows: theirs at the
/// minimum size.
pub const MIDDLE_MIN_HEIGHT: u16 = MIN_HEIGHT - 4 - BOTTOM_ROW - 1;
/// The lowest terminal that fits the task row as well as every other panel.
pub const TASK_ROW_MIN_HEIGHT: u16 = 34;

/// The panels' areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Screen {
    /// Config, kernel, preset and state.
    pub header: Rect,
    /// Model sizes and the ratio curve.
    pub size: Rect,
    /// Percentiles, histogram, sparklines.
    pub latency: Rect,
    /// Output differences.
    pub accuracy: Rect,
    /// The Config sliders.
    pub sliders: Rect,
    /// CPU and memory.
    pub system: Rect,
    /// One line of status or key hints.
    pub status: Rect,
    /// A language model's task figures and generated text, when it is evaluated on text.
    pub task: Option<TaskAreas>,
}

/// The areas of the task row's two panels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskAreas {
    /// Loss, perplexity, top-1 per variant and the evaluation's progress.
    pub figures: Rect,
    /// What FP32 and INT8 write after the prompt.
    pub generated: Rect,
}

impl Screen {
    /// Splits `area` for a model without a task; `None` when it is smaller than
    /// [`MIN_WIDTH`]×[`MIN_HEIGHT`].
    #[cfg(test)]
    pub fn new(area: Rect) -> Option<Screen> {
        Screen::with_task(area, false)
    }

    /// Splits `area`, with room for the task panels when `task` is true; `None` when it is
    /// smaller than [`MIN_WIDTH`]×[`MIN_HEIGHT`].
    pub fn with_task(area: Rect, task: bool) -> Option<Screen> {
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            return None;
        }
        let task_row = task && area.height >= TASK_ROW_MIN_HEIGHT;
        let task_height = if task_row { TASK_ROW } else { 0 };
        // Without the task row, the task panels take the place of the sliders.
        let sliders_shown = !task || task_row;
        let room = area.height - 4 - task_height - 1;
        let bottom_height = if sliders_shown && room >= MIDDLE_MIN_HEIGHT + TALL_BOTTOM_ROW {
            TALL_BOTTOM_ROW
        } else {
            BOTTOM_ROW
        };
        let [header, middle, task_area, bottom, status] = Layout::vertical([
            Constraint::Length(4),
            Constraint::Fill(1),
            Constraint::Length(task_height),
            Constraint::Length(bottom_height),
            Constraint::Length(1),
        ])
        .areas(area);
        let [size, latency] =
            Layout::horizontal([Constraint::Percentage(42), Constraint::Fill(1)]).areas(middle);
        let [accuracy, sliders, system] = Layout::horizontal([
            Constraint::Percentage(42),
            Constraint::Percentage(31),
            Constraint::Fill(1),
        ])
        .areas(bottom);
        let task = task.then(|| {
            let row = if task_row {
                task_area
            } else {
                accuracy.union(sliders)
            };
            let [figures, generated] =
                Layout::horizontal([Constraint::Percentage(50), Constraint::Fill(1)]).areas(row);
            TaskAreas { figures, generated }
        });
        let hidden = !sliders_shown;
        let none = Rect::default();
        Some(Screen {
            header,
            size,
            latency,
            accuracy: if hidden { none } else { accuracy },
            sliders: if hidden { none } else { sliders },
            system,
            status,
            task,
        })
    }

    /// Every panel's area, the task panels' included.
    #[cfg(test)]
    pub fn panels(&self) -> Vec<Rect> {
        let mut panels = vec![
            self.header,
            self.size,
            self.latency,
            self.accuracy,
            self.sliders,
            self.system,
            self.status,
        ];
        if let Some(task) = self.task {
            panels.extend([task.figures, task.generated]);
        }
        panels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_small_has_no_layout() {
        assert_eq!(Screen::new(Rect::new(0, 0, 20, 5)), None);
        assert_eq!(Screen::new(Rect::new(0, 0, 79, 40)), None);
        assert!(Screen::new(Rect::new(0, 0, MIN_WIDTH, MIN_HEIGHT)).is_some());
    }

    #[test]
    fn panels_tile_the_screen() {
        let sizes = [
            (80, 24),
            (120, 40),
            (250, 70),
            (80, 25),
            (80, 26),
            (80, 33),
            (80, 34),
            (80, 35),
        ];
        for ((w, h), task) in sizes
            .into_iter()
            .flat_map(|size| [(size, false), (size, true)])
        {
            let area = Rect::new(0, 0, w, h);
            let s = Screen::with_task(area, task).unwrap();
            assert_eq!(s.task.is_some(), task);
            // Below the task row's height the task panels replace accuracy and sliders.
            let replaced = task && h < TASK_ROW_MIN_HEIGHT;
            assert_eq!(s.sliders.is_empty(), replaced, "{w}x{h}");
            let panels = s.panels();
            let cells: u32 = panels.iter().map(|r| r.area()).sum();
            assert_eq!(cells, area.area(), "{w}x{h}");
            for (i, a) in panels.iter().enumerate() {
                assert!(area.contains(a.as_position()) && a.right() <= w && a.bottom() <= h);
                for b in &panels[i + 1..] {
                    assert!(!a.intersects(*b), "{a:?} overlaps {b:?}");
                }
            }
        }
    }

    #[test]
    fn the_bottom_row_grows_to_show_every_slider_when_the_panels_above_keep_their_rows() {
        for (h, task, bottom) in [
            (24, false, 8),
            (25, false, 8),
            (26, false, 10),
            (40, false, 10),
            (30, true, 8),
            (33, true, 8),
            (34, true, 8),
            (35, true, 10),
        ] {
            let s = Screen::with_task(Rect::new(0, 0, 80, h), task).unwrap();
            assert_eq!(s.system.height, bottom, "80x{h}, task {task}");
            // Below the task row's height the task panels replace the sliders: no room for
            // them is needed.
            if !s.sliders.is_empty() {
                assert_eq!(s.sliders.height, bottom, "80x{h}, task {task}");
            }
            assert!(s.size.height >= MIDDLE_MIN_HEIGHT, "80x{h}, task {task}");
        }
        // Every slider row, input and hidden split, fits in the tall bottom row.
        let rows = crate::tui::sliders::Slider::rows(false).len();
        assert_eq!(usize::from(TALL_BOTTOM_ROW - 2), rows);
        assert_eq!(MIDDLE_MIN_HEIGHT, 11);
    }
}
