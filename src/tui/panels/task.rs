//! Task accuracy: a language model's loss, perplexity and top-1 figures per variant on the
//! text, filling in chunk by chunk while the worker evaluates it between latency runs.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Cell, Gauge, Paragraph};

use crate::bench::TaskProgress;
use crate::format;
use crate::tui::app::App;
use crate::tui::theme;

/// Columns after the variant's name: `(title, width, priority)`.
const COLUMNS: [(&str, u16, u8); 6] = [
    ("loss", 7, 0),
    ("Δloss", 8, 1),
    ("ppl", 6, 3),
    ("top-1", 7, 2),
    ("agree", 7, 4),
    ("tok/s", 8, 5),
];

/// Draws the task-accuracy panel.
pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let block = theme::panel("Task accuracy on the text").title_bottom(
        Line::styled(" loss: nats/token  agree: top-1 = FP32's ", theme::DIM).right_aligned(),
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some((snapshot, progress)) = app
        .snapshot
        .as_ref()
        .and_then(|s| Some((s, s.task.as_ref()?)))
    else {
        frame.render_widget(Paragraph::new(Line::styled("no text", theme::DIM)), inner);
        return;
    };
    let [gauge, table] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);
    frame.render_widget(progress_gauge(progress), gauge);
    let rows = snapshot.variants.iter().map(|v| {
        let figure =
            |text: String, style: Style| Cell::from(Line::styled(text, style).right_aligned());
        let dash = || figure("—".into(), theme::DIM);
        let cells = match &v.task {
            Some(t) => [
                figure(format!("{:.4}", t.loss), theme::FIGURE),
                if v.is_reference() {
                    dash()
                } else {
                    figure(format!("{:+.4}", t.delta_loss), delta_style(t.delta_loss))
                },
                figure(format!("{:.3}", t.perplexity), Style::new()),
                figure(format!("{:.2}%", t.top1_accuracy * 100.0), Style::new()),
                if v.is_reference() {
                    dash()
                } else {
                    figure(format!("{:.2}%", t.top1_agreement * 100.0), Style::new())
                },
                figure(format!("{:.0}", t.tokens_per_second), theme::DIM),
            ],
            None => [dash(), dash(), dash(), dash(), dash(), dash()],
        };
        (v.scheme, cells)
    });
    frame.render_widget(super::variant_table(table.width, &COLUMNS, rows), table);
}

/// How much of the text has been evaluated, as a one-line gauge.
fn progress_gauge(progress: &TaskProgress) -> Gauge<'static> {
    let ratio = progress.tokens_done as f64 / progress.tokens_total.max(1) as f64;
    let label = if progress.is_done() {
        format!(
            "done: {} {} tokens",
            format::thousands(progress.tokens_total),
            progress.token_level
        )
    } else {
        format!(
            "evaluating {} / {} tokens ({:.0}%)",
            format::thousands(progress.tokens_done),
            format::thousands(progress.tokens_total),
            ratio * 100.0
        )
    };
    Gauge::default()
        .ratio(ratio.clamp(0.0, 1.0))
        .label(label)
        .gauge_style(if progress.is_done() {
            theme::GOOD
        } else {
            theme::WARN
        })
}

/// Green for a loss within 0.01 nats of FP32's, yellow within 0.05, red beyond.
fn delta_style(delta: f64) -> Style {
    match delta.abs() {
        d if d < 0.01 => theme::GOOD,
        d if d < 0.05 => theme::WARN,
        _ => theme::BAD,
    }
}
