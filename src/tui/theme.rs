//! Colors and styles shared by the panels: one color per variant, everywhere.

use ratatui::style::{Color, Modifier, Style};

use crate::quant::Scheme;

/// The color of a variant: fp32 blue, int8 green, per-channel yellow, fp16 magenta, qnnpack
/// light red, int8 with the embedding cyan.
pub fn scheme_color(scheme: Scheme) -> Color {
    match scheme {
        Scheme::Fp32 => Color::Blue,
        Scheme::Int8 => Color::Green,
        Scheme::Int8PerChannel => Color::Yellow,
        Scheme::Fp16 => Color::Magenta,
        Scheme::Int8Qnnpack => Color::LightRed,
        Scheme::Int8Embedding => Color::LightCyan,
    }
}

/// A variant's name in its color.
pub fn scheme_style(scheme: Scheme) -> Style {
    Style::new()
        .fg(scheme_color(scheme))
        .add_modifier(Modifier::BOLD)
}

/// Panel borders.
pub const BORDER: Style = Style::new().fg(Color::DarkGray);
/// Panel titles.
pub const TITLE: Style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
/// Labels and secondary text.
pub const DIM: Style = Style::new().fg(Color::Gray);
/// Figures the eye should land on.
pub const FIGURE: Style = Style::new().fg(Color::White).add_modifier(Modifier::BOLD);
/// Good news (smaller, faster, accurate).
pub const GOOD: Style = Style::new()
    .fg(Color::LightGreen)
    .add_modifier(Modifier::BOLD);
/// Something to look at twice.
pub const WARN: Style = Style::new().fg(Color::LightYellow);
/// Bad news.
pub const BAD: Style = Style::new().fg(Color::LightRed);
/// The selected slider and keys in hints.
pub const HIGHLIGHT: Style = Style::new()
    .fg(Color::Black)
    .bg(Color::Cyan)
    .add_modifier(Modifier::BOLD);
/// Key names in hints and in the help overlay.
pub const KEY: Style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);

/// A variant's short name for tables and legends.
pub fn scheme_label(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Int8PerChannel => "int8/ch",
        Scheme::Int8Qnnpack => "int8/arm",
        Scheme::Int8Embedding => "int8/emb",
        other => other.name(),
    }
}

/// A titled panel frame.
pub fn panel(title: &str) -> ratatui::widgets::Block<'_> {
    ratatui::widgets::Block::bordered()
        .border_type(ratatui::widgets::BorderType::Rounded)
        .border_style(BORDER)
        .title(ratatui::text::Line::styled(format!(" {title} "), TITLE))
}
