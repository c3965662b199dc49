//! The crossover view (the `c` key): each INT8 variant's speed-up over FP32 against the
//! dimension, one chart per batch size and one line per thread count, with the 1x line, the
//! sweep's progress and, per line, the dimension from which INT8 wins.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};

use crate::metrics::{Crossover, REFERENCE, Sample, crossovers, shape};
use crate::quant::Scheme;
use crate::tui::app::App;
use crate::tui::history::Measured;
use crate::tui::theme;

/// The dimension axis, log2: 4 to 1024 (so that its middle label, 64, sits at 64).
const DIM_AXIS: [f64; 2] = [2.0, 10.0];
/// One color per thread count, in order.
const THREAD_COLORS: [Color; 4] = [Color::Green, Color::Cyan, Color::Magenta, Color::Yellow];

/// Draws the crossover view in `area`.
pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let title = format!("Where INT8 starts to win · {}", progress(app));
    let block = theme::panel(&title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let curves = measured_curves(app);
    let mut batches: Vec<usize> = curves.iter().map(|c| c.batch).collect();
    batches.sort_unstable();
    batches.dedup();
    let lines = curves.len().min(6) as u16;
    let [charts, sentences] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(lines.max(1))]).areas(inner);
    if curves.is_empty() {
        frame.render_widget(
            Line::styled("measuring the first dimensions…", theme::DIM),
            sentences,
        );
        return;
    }
    let areas = Layout::horizontal(vec![Constraint::Fill(1); batches.len()]).split(charts);
    for (batch, &chart_area) in batches.iter().zip(areas.iter()) {
        let of_batch: Vec<&Crossover> = curves.iter().filter(|c| c.batch == *batch).collect();
        render_chart(frame, *batch, &of_batch, chart_area);
    }
    let text: Vec<Line> = curves
        .iter()
        .map(|c| Line::styled(c.sentence(), Style::new().fg(thread_color(c.threads))))
        .collect();
    frame.render_widget(Paragraph::new(text), sentences);
}

/// `point 12 of 36`, `done (36 points)`, or `c starts the sweep`.
fn progress(app: &App) -> String {
    let sweeping = match (&app.crossover, app.replay.preset()) {
        (Some(sweep), Some(running)) => sweep.name == running.name,
        _ => false,
    };
    if !sweeping {
        return "press c to measure".into();
    }
    let (current, total) = (app.replay.current() + 1, app.replay.len());
    if current == total && app.step_progress().is_some_and(|p| p >= 1.0) {
        format!("done ({total} points)")
    } else {
        format!("point {current} of {total}")
    }
}

/// The crossovers of the sweep's shape among the Configs measured so far.
fn measured_curves(app: &App) -> Vec<Crossover> {
    let Some(first) = app.crossover.as_ref().and_then(|p| p.steps.first()) else {
        return Vec::new();
    };
    let wanted = config_shape(&first.config);
    let samples: Vec<Sample> = app
        .history
        .iter()
        .filter(|m| m.config.weights.is_none() && m.config.input_size == m.config.hidden_size)
        .filter(|m| config_shape(&m.config) == wanted)
        .flat_map(samples_of)
        .collect();
    crossovers(samples)
}

fn config_shape(c: &crate::bench::Config) -> String {
    let cell = c.cell.unwrap_or_default().name();
    shape(cell, c.bidirectional, c.num_layers, c.seq_len, c.head)
}

/// One sample per INT8 variant of `m`, against its FP32.
fn samples_of(m: &Measured) -> Vec<Sample> {
    let Some(reference) = m.variants.iter().find(|v| v.scheme == REFERENCE) else {
        return Vec::new();
    };
    let us = |ns: u64| ns as f64 / 1e3;
    m.variants
        .iter()
        .filter(|v| v.scheme.is_int8() && v.latency.count > 0 && reference.latency.count > 0)
        .map(|v| Sample {
            shape: config_shape(&m.config),
            scheme: v.scheme,
            threads: m.config.threads,
            batch: m.config.batch,
            dim: m.config.hidden_size,
            fp32_p50_us: us(reference.latency.p50_ns),
            p50_us: us(v.latency.p50_ns),
        })
        .collect()
}

fn thread_color(threads: usize) -> Color {
    THREAD_COLORS[(threads.max(1) - 1) % THREAD_COLORS.len()]
}

/// One batch size's chart: speed-up against log2 dim, a line per (thread count, variant).
fn render_chart(frame: &mut Frame, batch: usize, curves: &[&Crossover], area: Rect) {
    let points: Vec<Vec<(f64, f64)>> = curves
        .iter()
        .map(|c| {
            c.points
                .iter()
                .map(|p| ((p.dim as f64).log2(), p.speedup))
                .collect()
        })
        .collect();
    let top = points
        .iter()
        .flatten()
        .map(|&(_, y)| y)
        .fold(2.0f64, f64::max)
        .ceil();
    let one = [(DIM_AXIS[0], 1.0), (DIM_AXIS[1], 1.0)];
    let mut datasets = vec![
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme::BORDER)
            .data(&one),
    ];
    for (curve, points) in curves.iter().zip(&points) {
        // qnnpack's line is drawn with dots, x86's (and per-channel's) with braille lines.
        let marker = if curve.scheme == Scheme::Int8Qnnpack {
            Marker::Dot
        } else {
            Marker::Braille
        };
        datasets.push(
            Dataset::default()
                .marker(marker)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(thread_color(curve.threads)))
                .data(points),
        );
    }
    let x_labels = ["4", "64", "1024"].map(|l| Span::styled(l, theme::DIM));
    let y_labels = [
        "0x".to_string(),
        format!("{}x", top / 2.0),
        format!("{top}x"),
    ]
    .map(|l| Span::styled(l, theme::DIM));
    let [caption, chart] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    let mut legend = vec![Span::styled(
        format!("batch {batch}: INT8 ÷ FP32  "),
        theme::DIM,
    )];
    for curve in curves {
        legend.push(Span::styled(
            format!("── {}t ", curve.threads),
            Style::new().fg(thread_color(curve.threads)),
        ));
    }
    frame.render_widget(Line::from(legend), caption);
    frame.render_widget(
        Chart::new(datasets)
            .x_axis(
                Axis::default()
                    .bounds(DIM_AXIS)
                    .labels(x_labels)
                    .style(theme::BORDER),
            )
            .y_axis(
                Axis::default()
                    .bounds([0.0, top])
                    .labels(y_labels)
                    .style(theme::BORDER),
            )
            .legend_position(None),
        chart,
    );
}
