//! System: CPU model and load, the kernel, this process's CPU and memory, and (with the
//! machine's roofline) how close each variant runs to the machine's limit.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{LineGauge, Paragraph};

use crate::format;
use crate::metrics::percent_of_limit;
use crate::tui::app::App;
use crate::tui::theme;

/// `limit  L2 bandwidth, floor` (what bounds the current model), then per variant
/// `int8    49% of limit, 34.1 µs` (its floor).
fn limit_lines(app: &App) -> Vec<Line<'static>> {
    let (Some(roofline), Some(snapshot)) = (&app.roofline, &app.snapshot) else {
        return Vec::new();
    };
    let c = &snapshot.config;
    let floor = |scheme| roofline.forward_floor(&c.dims(), c.seq_len, c.batch, scheme, c.threads);
    let Some(reference) = snapshot.variants.first() else {
        return Vec::new();
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{:<7}", "limit"), theme::DIM),
        // Short enough for the panel: `L2 bw + handoff, floor`.
        Span::styled(
            floor(reference.scheme)
                .bound_by
                .replace(" bandwidth + handoff", " bw + handoff"),
            theme::FIGURE,
        ),
        Span::styled(", floor", theme::DIM),
    ])];
    for v in &snapshot.variants {
        let floor = floor(v.scheme).seconds;
        let measured = v.latency.p50_ns as f64 / 1e9;
        let percent = percent_of_limit(floor, measured)
            .filter(|_| v.latency.count > 0)
            .map_or_else(|| "—".to_string(), |p| format!("{p:.0}%"));
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:<7}", theme::scheme_label(v.scheme)),
                theme::scheme_style(v.scheme),
            ),
            Span::styled(format!("{percent:>4}"), theme::FIGURE),
            Span::styled(
                format!(" of limit, {}", format::duration_ns((floor * 1e9) as u64)),
                theme::DIM,
            ),
        ]));
    }
    lines
}

/// Draws the system panel.
pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let block = theme::panel("System");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let s = &app.system;
    let label = |text: &'static str| Span::styled(format!("{text:<7}"), theme::DIM);
    let [cpu, cores, load, process, memory, limits] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(limit_lines(app)), limits);
    let name = if s.cpu.is_empty() {
        "…"
    } else {
        s.cpu.as_str()
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            label("CPU"),
            Span::styled(name.to_string(), theme::FIGURE),
        ])),
        cpu,
    );
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            label("cores"),
            Span::styled(s.cores.to_string(), theme::FIGURE),
            Span::styled("  kernel ", theme::DIM),
            Span::styled(s.kernel.clone(), theme::FIGURE),
        ])),
        cores,
    );
    let load_ratio = f64::from(s.machine_cpu_percent / 100.0).clamp(0.0, 1.0);
    let [load_label, load_gauge] =
        Layout::horizontal([Constraint::Length(7), Constraint::Fill(1)]).areas(load);
    frame.render_widget(label("load"), load_label);
    frame.render_widget(
        LineGauge::default()
            .ratio(load_ratio)
            .label(format!("{:>3.0}%", s.machine_cpu_percent))
            .filled_style(theme::KEY)
            .unfilled_style(theme::BORDER),
        load_gauge,
    );
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            label("dynq"),
            Span::styled(format!("{:.0}%", s.process_cpu_percent), theme::FIGURE),
            Span::styled(" of a core", theme::DIM),
        ])),
        process,
    );
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            label("memory"),
            Span::styled(format::bytes(s.process_memory_bytes), theme::FIGURE),
            Span::styled(" resident", theme::DIM),
        ])),
        memory,
    );
}
