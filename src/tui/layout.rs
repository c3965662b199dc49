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
//! │ mean |out|, |diff|, %  ││ dimension ◂━━●──▸ 256 ││ CPU, load, memory     │  8 rows
//! └────────────────────────┘└───────────────────────┘└───────────────────────┘
//!  status message or key hints                                                  1 row
//! ```
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
        let [header, middle, task_area, bottom, status] = Layout::vertical([
            Constraint::Length(4),
            Constraint::Fill(1),
            Constraint::Length(if task_row { TASK_ROW } else { 0 }),
            Constraint::Length(8),
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
        let hidden = task.is_some() && !task_row;
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
        for ((w, h), task) in [(80, 24), (120, 40), (250, 70), (80, 33), (80, 34)]
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
}
