//! The sliders: one row per Config field, the selected one highlighted.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::app::App;
use crate::tui::sliders::position;
use crate::tui::theme;

/// Label column width.
const LABEL: usize = 11;
/// Value column width.
const VALUE: usize = 6;

/// Draws the sliders panel.
pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let block = theme::panel("Sliders").title_bottom(
        Line::from(vec![
            Span::styled(" ↑↓←→ ", theme::KEY),
            Span::styled(" ", theme::DIM),
            Span::styled("i", theme::KEY),
            Span::styled(
                if app.linked {
                    " split input/hidden "
                } else {
                    " join input/hidden "
                },
                theme::DIM,
            ),
        ])
        .right_aligned(),
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // Room left for the track; narrow panels show label and value only.
    let track = usize::from(inner.width).saturating_sub(LABEL + VALUE + 5);
    let selected = app.selected_slider();
    let lines: Vec<Line> = app
        .sliders()
        .iter()
        .map(|&slider| {
            let value = slider.value(&app.config);
            let at = position(&slider.steps(app.max_threads), value);
            let knob = (at * track.saturating_sub(1) as f64).round() as usize;
            let is_selected = slider == selected;
            let (marker, label_style) = if is_selected {
                ("▸ ", theme::HIGHLIGHT)
            } else {
                ("  ", theme::DIM)
            };
            let arrow = if is_selected {
                theme::KEY
            } else {
                theme::BORDER
            };
            let mut spans = vec![
                Span::styled(marker, theme::KEY),
                Span::styled(format!("{:<LABEL$}", slider.label()), label_style),
            ];
            if track >= 3 {
                spans.extend([
                    Span::styled(" ◂", arrow),
                    Span::styled("━".repeat(knob), theme::KEY),
                    Span::styled("●", Style::new().fg(ratatui::style::Color::White)),
                    Span::styled("─".repeat(track - 1 - knob), theme::BORDER),
                    Span::styled("▸", arrow),
                ]);
            }
            spans.push(Span::styled(format!("{value:>VALUE$}"), theme::FIGURE));
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
