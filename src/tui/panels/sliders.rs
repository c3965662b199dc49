//! The sliders: one row per Config field, the selected one highlighted; the cell and the
//! directions are switches showing their choices. When the rows do not all fit, they scroll
//! to keep the selected one in view.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::app::App;
use crate::tui::sliders::{Slider, cell_name, position};
use crate::tui::theme;

/// Label column width.
const LABEL: usize = 11;
/// Value column width.
const VALUE: usize = 6;
/// Label column width of the switches ("bidirectional" and a space).
const SWITCH_LABEL: usize = 14;

/// Draws the sliders panel.
pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let rows = app.sliders();
    let mut block = theme::panel("Sliders").title_bottom(
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
    let visible = usize::from(area.height.saturating_sub(2));
    let first = app.first_shown_slider(visible);
    let below = rows.len().saturating_sub(first + visible);
    if first > 0 || below > 0 {
        let mut more = Vec::new();
        if first > 0 {
            more.push(format!("↑{first}"));
        }
        if below > 0 {
            more.push(format!("↓{below}"));
        }
        block = block.title_top(
            Line::styled(format!(" {} more ", more.join(" ")), theme::DIM).right_aligned(),
        );
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    // Room left for the track; narrow panels show label and value only.
    let track = width.saturating_sub(LABEL + VALUE + 5);
    let selected = app.selected_slider();
    let lines: Vec<Line> = rows
        .iter()
        .skip(first)
        .take(visible)
        .map(|&slider| {
            let is_selected = slider == selected;
            if slider.is_switch() {
                return switch_line(app, slider, is_selected, width);
            }
            let (marker, label_style) = row_start(is_selected);
            let value = slider.value(&app.config);
            let at = position(&slider.steps(app.max_threads), value);
            let knob = (at * track.saturating_sub(1) as f64).round() as usize;
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

/// A switch row, `width` cells at most: `cell          ● LSTM  ○ GRU`, the current choice
/// marked and bright; in a narrow panel the current choice alone, in the value column. With a
/// weight file, the file's choice (once known), which the keys do not change.
fn switch_line(app: &App, slider: Slider, is_selected: bool, width: usize) -> Line<'static> {
    let (marker, label_style) = row_start(is_selected);
    let label = slider.label();
    let mut spans = vec![Span::styled(marker, theme::KEY)];
    if app.config.weights.is_some() {
        let value = match app.file_dims() {
            None => "…",
            Some(dims) if slider == Slider::Cell => cell_name(dims.cell),
            Some(dims) => slider.choices()[usize::from(dims.bidirectional)],
        };
        let note = "  (weight file)";
        let longest = switches().flat_map(Slider::choices).map(|c| c.len()).max();
        if 2 + SWITCH_LABEL + longest.unwrap_or(0) + note.len() <= width {
            spans.extend([
                Span::styled(format!("{label:<SWITCH_LABEL$}"), label_style),
                Span::styled(value, theme::FIGURE),
                Span::styled(note, theme::DIM),
            ]);
        } else {
            spans.extend(compact(label, label_style, value));
        }
        return Line::from(spans);
    }
    let choices = slider.choices();
    let current = slider.value(&app.config);
    // Every switch lists its choices, or none does.
    let widest = switches().map(choices_width).max();
    if 2 + SWITCH_LABEL + widest.unwrap_or(0) > width {
        spans.extend(compact(label, label_style, choices[current]));
        return Line::from(spans);
    }
    spans.push(Span::styled(format!("{label:<SWITCH_LABEL$}"), label_style));
    for (i, choice) in choices.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw("  "));
        }
        let (dot, dot_style, style) = if i == current {
            ("● ", theme::KEY, theme::FIGURE)
        } else {
            ("○ ", theme::BORDER, theme::DIM)
        };
        spans.extend([Span::styled(dot, dot_style), Span::styled(*choice, style)]);
    }
    Line::from(spans)
}

/// The switch rows.
fn switches() -> impl Iterator<Item = Slider> {
    Slider::rows(false)
        .iter()
        .copied()
        .filter(|s| s.is_switch())
}

/// Cells the choices of `switch` take listed: `● LSTM  ○ GRU`.
fn choices_width(switch: Slider) -> usize {
    let choices = switch.choices();
    let names: usize = choices.iter().map(|c| c.chars().count()).sum();
    (names + 4 * choices.len()).saturating_sub(2)
}

/// The selection marker and the label's style of a row.
fn row_start(is_selected: bool) -> (&'static str, Style) {
    if is_selected {
        ("▸ ", theme::HIGHLIGHT)
    } else {
        ("  ", theme::DIM)
    }
}

/// A label and a value ending where a slider's value column ends (a long label pushes the
/// value right, never past it).
fn compact(label: &'static str, label_style: Style, value: &'static str) -> [Span<'static>; 2] {
    let label_width = LABEL.max(label.len());
    let room = (LABEL + VALUE)
        .saturating_sub(label_width)
        .max(value.len() + 1);
    [
        Span::styled(format!("{label:<label_width$}"), label_style),
        Span::styled(format!("{value:>room$}"), theme::FIGURE),
    ]
}
