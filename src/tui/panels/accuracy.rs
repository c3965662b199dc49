//! Accuracy: how far each variant's outputs move from FP32's, as the recipe reports it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph};

use crate::format;
use crate::tui::app::App;
use crate::tui::theme;

/// Percent differences below this look green, below [`WARN_PCT`] yellow, above red.
const GOOD_PCT: f64 = 1.0;
/// See [`GOOD_PCT`].
const WARN_PCT: f64 = 5.0;

/// Columns after the variant's name: `(title, width, priority)`, dropped from the least
/// important when the panel is narrow.
const COLUMNS: [(&str, u16, u8); 4] = [
    ("mean |y|", 8, 3),
    ("mean |Δ|", 8, 1),
    ("Δ %", 8, 0),
    ("max |Δ|", 8, 2),
];

/// Draws the accuracy panel.
pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let mut block = theme::panel("Accuracy vs FP32")
        .title_bottom(Line::styled(" y: output  Δ: y − y(fp32) ", theme::DIM).right_aligned());
    // With both int8 engines, how far ARM's answer (qnnpack) is from x86's.
    if let Some(gap) = app.snapshot.as_ref().and_then(|s| s.engine_gap) {
        block = block.title_bottom(Line::from(vec![
            Span::styled(" x86 vs ARM max |Δ| ", theme::DIM),
            Span::styled(format::small(gap.diff_max_abs), theme::FIGURE),
            Span::raw(" "),
        ]));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(snapshot) = &app.snapshot else {
        frame.render_widget(
            Paragraph::new(Line::styled("measuring…", theme::DIM)),
            inner,
        );
        return;
    };
    let rows = snapshot.variants.iter().map(|v| {
        let figure =
            |text: String, style: Style| Cell::from(Line::styled(text, style).right_aligned());
        let reference = v.is_reference();
        let accuracy = &v.accuracy;
        let diff = |value: f64| {
            if reference {
                figure("—".into(), theme::DIM)
            } else {
                figure(format::small(value), Style::new())
            }
        };
        let pct = if reference {
            figure("—".into(), theme::DIM)
        } else {
            figure(
                format!("{:.3} %", accuracy.diff_pct),
                pct_style(accuracy.diff_pct),
            )
        };
        let cells = [
            figure(format::small(accuracy.output_mean_abs), theme::FIGURE),
            diff(accuracy.diff_mean_abs),
            pct,
            diff(accuracy.diff_max_abs),
        ];
        (v.scheme, cells)
    });
    frame.render_widget(super::variant_table(inner.width, &COLUMNS, rows), inner);
}

/// Green, yellow or red by the size of the percent difference.
fn pct_style(pct: f64) -> Style {
    if pct < GOOD_PCT {
        theme::GOOD
    } else if pct < WARN_PCT {
        theme::WARN
    } else {
        theme::BAD
    }
}
