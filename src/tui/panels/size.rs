//! Model size: bytes per variant as bars to scale, "x smaller", and the size ratio against
//! the dimension for every dimension measured, with the 4x asymptote.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};

use crate::format;
use crate::metrics::{REFERENCE, times_smaller};
use crate::quant::Scheme;
use crate::tui::app::App;
use crate::tui::{shaping, theme};

/// The INT8 asymptote: four bytes per weight become one.
const ASYMPTOTE: f64 = 4.0;
/// The dimension axis, log2: 8 to 4096.
const DIM_AXIS: [f64; 2] = [3.0, 12.0];

/// Draws the size panel.
pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let block = theme::panel("Model size");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let bars = app.config.schemes.len().max(1) as u16;
    let [bars_area, chart_area] =
        Layout::vertical([Constraint::Length(bars + 1), Constraint::Fill(1)]).areas(inner);
    frame.render_widget(Paragraph::new(bar_lines(app, bars_area.width)), bars_area);
    render_curve(frame, app, chart_area);
}

/// `fp32  ██████████  4.26 KB` and `int8  ███  1.15 KB  3.71x smaller`.
fn bar_lines(app: &App, width: u16) -> Vec<Line<'static>> {
    let Some(snapshot) = &app.snapshot else {
        return vec![Line::styled("measuring…", theme::DIM)];
    };
    let largest = snapshot
        .variants
        .iter()
        .map(|v| v.size_bytes)
        .max()
        .unwrap_or(0);
    let reference = snapshot.reference().map_or(0, |v| v.size_bytes);
    let narrow = width < 40;
    let bar_width = usize::from(width)
        .saturating_sub(8 + 10 + if narrow { 7 } else { 14 })
        .max(2);
    snapshot
        .variants
        .iter()
        .map(|v| {
            let fraction = v.size_bytes as f64 / largest.max(1) as f64;
            let ratio = match times_smaller(reference, v.size_bytes) {
                Some(r) if !v.is_reference() => {
                    let text = if narrow {
                        format!(" {r:.2}x")
                    } else {
                        format!(" {}", format::size_ratio(r))
                    };
                    Span::styled(text, theme::GOOD)
                }
                _ => Span::raw(""),
            };
            Line::from(vec![
                Span::styled(
                    format!("{:<8}", theme::scheme_label(v.scheme)),
                    theme::scheme_style(v.scheme),
                ),
                Span::styled(
                    shaping::bar(fraction, bar_width),
                    Style::new().fg(theme::scheme_color(v.scheme)),
                ),
                Span::styled(
                    format!("{:>10}", format::bytes(v.size_bytes)),
                    theme::FIGURE,
                ),
                ratio,
            ])
        })
        .collect()
}

/// The ratio-vs-dimension chart: one curve per quantized variant and the 4x line.
fn render_curve(frame: &mut Frame, app: &App, area: Rect) {
    let curves: Vec<(Scheme, Vec<(f64, f64)>)> = app
        .config
        .schemes
        .iter()
        .filter(|&&s| s != REFERENCE)
        .map(|&s| (s, shaping::ratio_curve(&app.history, s)))
        .collect();
    let (x_min, x_max) = curves
        .iter()
        .flat_map(|(_, points)| points)
        .fold((DIM_AXIS[0], DIM_AXIS[1]), |(lo, hi), &(x, _)| {
            (lo.min(x), hi.max(x))
        });
    let asymptote = [(x_min, ASYMPTOTE), (x_max, ASYMPTOTE)];
    let mut datasets = vec![
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme::BORDER)
            .data(&asymptote),
    ];
    for (scheme, points) in &curves {
        datasets.push(
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(theme::scheme_color(*scheme)))
                .data(points),
        );
        // Dots on the measured dimensions, so a single point shows before there is a line.
        datasets.push(
            Dataset::default()
                .marker(Marker::Dot)
                .style(theme::scheme_style(*scheme))
                .data(points),
        );
    }
    let x_labels = (0..4).map(|i| {
        let log2 = x_min + (x_max - x_min) * f64::from(i) / 3.0;
        Span::styled(format!("{:.0}", log2.exp2()), theme::DIM)
    });
    let y_labels = ["0x", "5x"].map(|l| Span::styled(l, theme::DIM));
    let [caption, chart] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    frame.render_widget(Line::from(caption_spans(&curves)), caption);
    frame.render_widget(
        Chart::new(datasets)
            .x_axis(
                Axis::default()
                    .bounds([x_min, x_max])
                    .labels(x_labels)
                    .style(theme::BORDER),
            )
            .y_axis(
                Axis::default()
                    .bounds([0.0, 5.0])
                    .labels(y_labels)
                    .style(theme::BORDER),
            )
            .legend_position(None),
        chart,
    );
}

/// `FP32÷x by dimension  ── 4x  ── int8  ── int8/ch`, the chart's legend.
fn caption_spans(curves: &[(Scheme, Vec<(f64, f64)>)]) -> Vec<Span<'static>> {
    let mut spans = vec![
        Span::styled("FP32÷x by dimension  ", theme::DIM),
        Span::styled("── ", theme::BORDER),
        Span::styled("4x ", theme::DIM),
    ];
    for (scheme, _) in curves {
        spans.push(Span::styled(
            " ── ",
            Style::new().fg(theme::scheme_color(*scheme)),
        ));
        spans.push(Span::styled(theme::scheme_label(*scheme), theme::DIM));
    }
    spans
}
