//! The bottom line: why the Config cannot run, or the last message (where a report went, a
//! mode change), and key hints.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::tui::app::App;
use crate::tui::theme;

/// The most used keys, `(key, what)`.
const HINTS: [(&str, &str); 9] = [
    ("q", "quit"),
    ("?", "help"),
    ("space", "pause"),
    ("←→", "change"),
    ("n/p", "step"),
    ("a", "auto"),
    ("r", "reset"),
    ("s", "report"),
    ("c", "crossover"),
];

/// Draws the status line.
pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let mut spans = vec![Span::raw(" ")];
    let error = app.snapshot.as_ref().and_then(|s| s.error.as_ref());
    if let Some(status) = error.or(app.status.as_ref()) {
        spans.push(Span::styled(status.clone(), theme::WARN));
        spans.push(Span::styled("  │ ", theme::BORDER));
    }
    for (key, what) in HINTS {
        spans.push(Span::styled(key, theme::KEY));
        spans.push(Span::styled(format!(" {what}  "), theme::DIM));
    }
    frame.render_widget(Line::from(spans), area);
}
