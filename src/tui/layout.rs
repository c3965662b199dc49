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
//! Below the minimum size the screen is a one-line notice instead.

use ratatui::layout::{Constraint, Layout, Rect};

/// Narrowest terminal the dashboard draws in.
pub const MIN_WIDTH: u16 = 80;
/// Lowest terminal the dashboard draws in.
pub const MIN_HEIGHT: u16 = 24;

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
}

impl Screen {
    /// Splits `area`; `None` when it is smaller than [`MIN_WIDTH`]×[`MIN_HEIGHT`].
    pub fn new(area: Rect) -> Option<Screen> {
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            return None;
        }
        let [header, middle, bottom, status] = Layout::vertical([
            Constraint::Length(4),
            Constraint::Fill(1),
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
        Some(Screen {
            header,
            size,
            latency,
            accuracy,
            sliders,
            system,
            status,
        })
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
        for (w, h) in [(80, 24), (120, 40), (250, 70)] {
            let area = Rect::new(0, 0, w, h);
            let s = Screen::new(area).unwrap();
            let panels = [
                s.header, s.size, s.latency, s.accuracy, s.sliders, s.system, s.status,
            ];
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
