//! The Config being measured, the kernel, the preset step and running/paused.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{LineGauge, Paragraph};

use crate::model::{Cell, ModelDims};
use crate::tui::app::App;
use crate::tui::sliders::cell_name;
use crate::tui::theme;

/// Draws the header.
pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let dims = app.model_dims();
    let article = if dims.bidirectional || dims.cell == Cell::Gru {
        "a"
    } else {
        "an"
    };
    let title = format!(
        "dynq · dynamic INT8 quantization of {article} {}",
        model_name(&dims)
    );
    let block = theme::panel(&title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [config_line, preset_line] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(inner);
    frame.render_widget(Paragraph::new(config_spans(app)), config_line);

    let snapshot = app.snapshot.as_ref();
    let state = if snapshot.is_some_and(|s| s.error.is_some()) {
        Span::styled("✖ cannot run ", theme::WARN)
    } else if app.paused {
        Span::styled("⏸ paused ", theme::WARN)
    } else if snapshot.is_none_or(|s| s.building) {
        Span::styled("⚙ building models ", theme::DIM)
    } else {
        Span::styled("▶ running ", theme::GOOD)
    };
    let [preset_text, gauge, state_area] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Percentage(30),
        Constraint::Length(state.width() as u16 + 1),
    ])
    .spacing(1)
    .areas(preset_line);
    frame.render_widget(Paragraph::new(preset_spans(app)), preset_text);
    if let Some(progress) = app.step_progress() {
        frame.render_widget(
            LineGauge::default()
                .ratio(progress)
                .label(format!("{:>3.0}%", progress * 100.0))
                .filled_style(theme::KEY)
                .unfilled_style(theme::BORDER),
            gauge,
        );
    }
    frame.render_widget(Paragraph::new(state).right_aligned(), state_area);
}

/// `LSTM`, `GRU`, `bidirectional LSTM`, `bidirectional GRU`.
fn model_name(dims: &ModelDims) -> String {
    let cell = cell_name(dims.cell);
    if dims.bidirectional {
        format!("bidirectional {cell}")
    } else {
        cell.to_string()
    }
}

/// `LSTM 256 → 256  layers 1  seq 20  batch 1  threads 8  seed 29592  kernel avx2  variants
/// fp32 vs int8`; a weight file's model is described by its own shape once it is built.
fn config_spans(app: &App) -> Line<'static> {
    let c = &app.config;
    let dims = app.model_dims();
    let field = |label: &str, value: String| {
        [
            Span::styled(format!("{label} "), theme::DIM),
            Span::styled(value, theme::FIGURE),
            Span::styled("  ", theme::DIM),
        ]
    };
    let kernel = match app.system.kernel.as_str() {
        "" => "…".to_string(),
        k => k.to_string(),
    };
    let schemes = c
        .schemes
        .iter()
        .map(|&s| theme::scheme_label(s))
        .collect::<Vec<_>>()
        .join(" vs ");
    let mut spans = Vec::new();
    spans.extend(field(
        &model_name(&dims),
        format!("{} → {}", dims.input_size, dims.hidden_size),
    ));
    spans.extend(field("layers", dims.num_layers.to_string()));
    spans.extend(field("seq", c.seq_len.to_string()));
    spans.extend(field("batch", c.batch.to_string()));
    spans.extend(field("threads", c.threads.to_string()));
    spans.extend(field("seed", c.seed.to_string()));
    spans.extend(field("kernel", kernel));
    spans.extend(field("variants", schemes));
    Line::from(spans)
}

/// `preset dim-sweep  step 3/8  auto` or `exploring (no preset)`.
fn preset_spans(app: &App) -> Line<'static> {
    let replay = &app.replay;
    let Some(preset) = replay.preset() else {
        return Line::styled("exploring, no preset", theme::DIM);
    };
    let mode = if preset.steps.len() < 2 {
        Span::raw("")
    } else if replay.auto() {
        Span::styled("auto-stepping", theme::GOOD)
    } else {
        Span::styled("manual (a: auto)", theme::DIM)
    };
    Line::from(vec![
        Span::styled("preset ", theme::DIM),
        Span::styled(preset.name.clone(), theme::FIGURE),
        Span::styled("  step ", theme::DIM),
        Span::styled(
            format!("{}/{}", replay.current() + 1, preset.steps.len()),
            theme::FIGURE,
        ),
        Span::raw("  "),
        mode,
    ])
}
