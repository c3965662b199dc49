//! The screen: one `render(frame, app, area)` per panel, placed by [`Screen`].

mod accuracy;
mod header;
mod help;
mod latency;
mod size;
mod sliders;
mod status;
mod system;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::app::App;
use super::layout::{MIN_HEIGHT, MIN_WIDTH, Screen};
use super::theme;

/// Draws the whole dashboard, or a notice when the terminal is too small for it.
pub fn render(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let Some(screen) = Screen::new(area) else {
        too_small(frame, area);
        return;
    };
    header::render(frame, app, screen.header);
    size::render(frame, app, screen.size);
    latency::render(frame, app, screen.latency);
    accuracy::render(frame, app, screen.accuracy);
    sliders::render(frame, app, screen.sliders);
    system::render(frame, app, screen.system);
    status::render(frame, app, screen.status);
    if app.help {
        help::render(frame, app, area);
    }
}

/// The notice shown instead of a squeezed dashboard.
fn too_small(frame: &mut Frame, area: Rect) {
    let notice = format!(
        "Terminal {}x{} is too small for dynq: needs {MIN_WIDTH}x{MIN_HEIGHT} (q quits)",
        area.width, area.height
    );
    frame.render_widget(
        Paragraph::new(Line::styled(notice, theme::WARN)).wrap(Wrap { trim: true }),
        area,
    );
}

#[cfg(test)]
pub(super) use {
    accuracy::render as accuracy, header::render as header, latency::render as latency,
    size::render as size, sliders::render as sliders, status::render as status,
    system::render as system,
};
