//! Model size: bytes per variant as bars to scale, "x smaller", the module that keeps INT8
//! from 4x, and the size ratio against the dimension over the slider's whole range (a formula
//! of the dimensions), the current model marked, with the 4x asymptote.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};

use crate::format;
use crate::metrics::{REFERENCE, times_smaller};
use crate::quant::{Scheme, heaviest_unshrunk};
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
    let [bars_area, held_back_area, chart_area] = Layout::vertical([
        Constraint::Length(bars),
        Constraint::Length(1),
        Constraint::Fill(1),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(bar_lines(app, bars_area.width)), bars_area);
    frame.render_widget(held_back_line(app), held_back_area);
    render_curve(frame, app, chart_area);
}

/// `int8 <4x: embedding, stays float32 1.00x`: the module that keeps the first int8
/// variant furthest from 4x smaller.
fn held_back_line(app: &App) -> Line<'static> {
    let held_back = app.snapshot.as_ref().and_then(|s| {
        let int8 = s.variants.iter().find(|v| v.scheme.is_int8())?;
        Some((int8.scheme, heaviest_unshrunk(&int8.modules)?.clone()))
    });
    let Some((scheme, module)) = held_back else {
        return Line::default();
    };
    // A module left in float32 is the reason; else its float32 biases and scales are.
    let why = if module.dtype.starts_with("float") {
        format!("stays {}", module.dtype)
    } else {
        "f32 biases+scales".to_string()
    };
    Line::from(vec![
        Span::styled(format!("{} <4x: ", theme::scheme_label(scheme)), theme::DIM),
        Span::styled(module.name.clone(), theme::WARN),
        Span::styled(format!(", {why} {:.2}x", module.ratio()), theme::DIM),
    ])
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

/// The schemes the curve draws: every quantized variant asked for and, for a language model,
/// int8 with and without its embedding quantized.
fn curve_schemes(app: &App, embedding_rows: Option<usize>) -> Vec<Scheme> {
    let mut schemes: Vec<Scheme> = app
        .config
        .schemes
        .iter()
        .copied()
        .filter(|&s| s != REFERENCE)
        .collect();
    if embedding_rows.is_some() {
        for scheme in [Scheme::Int8, Scheme::Int8Embedding] {
            if !schemes.contains(&scheme) {
                schemes.push(scheme);
            }
        }
    }
    schemes.sort();
    schemes
}

/// The ratio-vs-dimension chart: one curve per quantized variant over the slider's whole
/// range, computed from the dimensions, the current model marked on each, and the 4x line.
fn render_curve(frame: &mut Frame, app: &App, area: Rect) {
    let (dims, embedding_rows) = match &app.snapshot {
        Some(s) if !s.variants.is_empty() => (s.config.dims(), s.embedding_rows),
        _ => (app.config.dims(), None),
    };
    let curves: Vec<(Scheme, Vec<(f64, f64)>)> = curve_schemes(app, embedding_rows)
        .into_iter()
        .map(|s| (s, shaping::size_ratio_curve(&dims, s, embedding_rows)))
        .collect();
    let [x_min, x_max] = DIM_AXIS;
    let asymptote = [(x_min, ASYMPTOTE), (x_max, ASYMPTOTE)];
    let current_x = (dims.hidden_size.max(1) as f64).log2();
    let current: Vec<[(f64, f64); 1]> = curves
        .iter()
        .map(|(s, _)| [(current_x, shaping::size_ratio(&dims, *s, embedding_rows))])
        .collect();
    let mut datasets = vec![
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme::BORDER)
            .data(&asymptote),
    ];
    for ((scheme, points), now) in curves.iter().zip(&current) {
        datasets.push(
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(theme::scheme_color(*scheme)))
                .data(points),
        );
        datasets.push(
            Dataset::default()
                .marker(Marker::Block)
                .style(theme::scheme_style(*scheme))
                .data(now),
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

/// `FP32÷x by dim, █ now  ── 4x  ── int8  ── int8/ch`, the chart's legend.
fn caption_spans(curves: &[(Scheme, Vec<(f64, f64)>)]) -> Vec<Span<'static>> {
    let mut spans = vec![
        Span::styled("FP32÷x by dim, █ now  ", theme::DIM),
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
