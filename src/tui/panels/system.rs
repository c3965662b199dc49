//! System: CPU model and load, the kernel, this process's CPU and memory.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{LineGauge, Paragraph};

use crate::format;
use crate::tui::app::App;
use crate::tui::theme;

/// Draws the system panel.
pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let block = theme::panel("System");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let s = &app.system;
    let label = |text: &'static str| Span::styled(format!("{text:<7}"), theme::DIM);
    let [cpu, cores, load, process, memory] =
        Layout::vertical([Constraint::Length(1); 5]).areas(inner);
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
