//! The help overlay: every key.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use crate::tui::app::App;
use crate::tui::theme;

/// Every key and what it does.
pub const KEYS: [(&str, &str); 17] = [
    ("q  Esc  Ctrl-C", "quit"),
    ("?", "show / hide this help"),
    ("space", "pause / resume the worker"),
    ("↑ ↓  k j", "select a slider"),
    (
        "← →  h l",
        "change the selected slider, cell or bidirectional",
    ),
    ("mouse wheel", "change the slider under the pointer"),
    ("click", "select the slider under the pointer"),
    ("i", "split / join input and hidden size"),
    ("r", "reset the histograms"),
    ("n", "next preset step"),
    ("p", "previous preset step"),
    ("a", "automatic preset stepping on / off"),
    ("s", "write a report of what is on screen"),
    ("c", "where INT8 starts to win: measure / show / hide"),
    ("", ""),
    ("", "Slider changes reach the worker at once."),
    ("", "A weight file sets the cell and the directions."),
];

/// Draws the help overlay centered over `area`.
pub fn render(frame: &mut Frame, _app: &App, area: Rect) {
    let height = KEYS.len() as u16 + 2;
    let popup = area.centered(Constraint::Length(68), Constraint::Length(height));
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(format!(" {key:<16}"), theme::KEY),
                Span::raw(*what),
            ])
        })
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(theme::panel("Keys (? or Esc closes)")),
        popup,
    );
}
