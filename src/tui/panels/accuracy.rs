//! Accuracy: how far each variant's outputs move from FP32's, as the recipe reports it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use crate::quant::Scheme;
use crate::tui::app::App;
use crate::tui::{format, theme};

/// Percent differences below this look green, below [`WARN_PCT`] yellow, above red.
const GOOD_PCT: f64 = 1.0;
/// See [`GOOD_PCT`].
const WARN_PCT: f64 = 5.0;

/// Draws the accuracy panel.
pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let block = theme::panel("Accuracy vs FP32")
        .title_bottom(Line::styled(" y: output  Δ: y − y(fp32) ", theme::DIM).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(snapshot) = &app.snapshot else {
        frame.render_widget(
            Paragraph::new(Line::styled("measuring…", theme::DIM)),
            inner,
        );
        return;
    };
    let header = Row::new(
        std::iter::once(Cell::from("variant")).chain(
            ["mean |y|", "mean |Δ|", "Δ %", "max |Δ|"]
                .map(|h| Cell::from(Line::from(h).right_aligned())),
        ),
    )
    .style(theme::DIM);
    let rows = snapshot.variants.iter().map(|v| {
        let figure =
            |text: String, style: Style| Cell::from(Line::styled(text, style).right_aligned());
        let reference = v.scheme == Scheme::Fp32;
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
            figure(format!("{:.3} %", v.diff_pct), pct_style(v.diff_pct))
        };
        Row::new(vec![
            Cell::from(Span::styled(
                theme::scheme_label(v.scheme),
                theme::scheme_style(v.scheme),
            )),
            figure(format::small(v.output_mean_abs), theme::FIGURE),
            diff(v.diff_mean_abs),
            pct,
            diff(v.diff_max_abs),
        ])
    });
    let widths = [
        Constraint::Length(8),
        Constraint::Fill(1),
        Constraint::Fill(1),
        Constraint::Fill(1),
        Constraint::Fill(1),
    ];
    frame.render_widget(Table::new(rows, widths).header(header), inner);
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
