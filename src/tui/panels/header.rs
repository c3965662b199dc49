//! The Config being measured, the kernel, the preset step and running/paused.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{LineGauge, Paragraph};

use crate::tui::app::App;
use crate::tui::theme;

/// Draws the header.
pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let block = theme::panel("dynq · dynamic INT8 quantization of an LSTM");
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

/// `LSTM 256 → 256 · 1 layer · seq 20 · batch 1 · 8 threads · seed 29592 · kernel avx2`.
fn config_spans(app: &App) -> Line<'static> {
    let c = &app.config;
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
        "LSTM",
        format!("{} → {}", c.input_size, c.hidden_size),
    ));
    spans.extend(field("layers", c.num_layers.to_string()));
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
