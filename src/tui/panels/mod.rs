//! The screen: one `render(frame, app, area)` per panel, placed by [`App::screen`].

mod accuracy;
mod crossover;
mod generated;
mod header;
mod help;
mod latency;
mod size;
mod sliders;
mod status;
mod system;
mod task;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};

use super::app::App;
use super::layout::{MIN_HEIGHT, MIN_WIDTH};
use super::theme;
use crate::quant::Scheme;

/// Draws the whole dashboard, or a notice when the terminal is too small for it.
pub fn render(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let Some(screen) = app.screen(area) else {
        too_small(frame, area);
        return;
    };
    header::render(frame, app, screen.header);
    if app.crossover_view {
        crossover::render(frame, app, screen.size.union(screen.latency));
    } else {
        size::render(frame, app, screen.size);
        latency::render(frame, app, screen.latency);
    }
    accuracy::render(frame, app, screen.accuracy);
    sliders::render(frame, app, screen.sliders);
    system::render(frame, app, screen.system);
    status::render(frame, app, screen.status);
    if let Some(areas) = screen.task {
        task::render(frame, app, areas.figures);
        generated::render(frame, app, areas.generated);
    }
    if app.help {
        help::render(frame, app, area);
    }
}

/// The one-line notice shown instead of a squeezed dashboard: the longest wording that fits.
fn too_small(frame: &mut Frame, area: Rect) {
    let (w, h) = (area.width, area.height);
    let wordings = [
        format!("Terminal {w}x{h} is too small for dynq: needs {MIN_WIDTH}x{MIN_HEIGHT} (q quits)"),
        format!("Too small: {w}x{h}, needs {MIN_WIDTH}x{MIN_HEIGHT}"),
        format!("Need {MIN_WIDTH}x{MIN_HEIGHT}, q quits"),
        format!("{MIN_WIDTH}x{MIN_HEIGHT}!"),
    ];
    let notice = wordings
        .iter()
        .find(|n| n.chars().count() <= usize::from(w))
        .unwrap_or(&wordings[3]);
    frame.render_widget(Line::styled(notice.as_str(), theme::WARN), area);
}

/// A table with one row per variant, `width` cells wide: the variant's name, then those of
/// `columns` (`(title, width, priority)`, 0 the most important) that fit, under a header
/// naming them. `rows` gives each variant's scheme and a cell for every column.
fn variant_table<'a, const N: usize>(
    width: u16,
    columns: &[(&'static str, u16, u8); N],
    rows: impl Iterator<Item = (Scheme, [Cell<'a>; N])>,
) -> Table<'a> {
    let sizes: Vec<(u16, u8)> = columns.iter().map(|&(_, w, p)| (w, p)).collect();
    let kept = fitting_columns(width.saturating_sub(NAME_WIDTH), &sizes);
    let titles = kept
        .iter()
        .map(|&i| Cell::from(Line::from(columns[i].0).right_aligned()));
    let header = Row::new(std::iter::once(Cell::from("variant")).chain(titles)).style(theme::DIM);
    let rows = rows.map(|(scheme, cells)| {
        let mut cells = cells.map(Some);
        let name = Cell::from(Span::styled(
            theme::scheme_label(scheme),
            theme::scheme_style(scheme),
        ));
        Row::new(std::iter::once(name).chain(kept.iter().filter_map(|&i| cells[i].take())))
    });
    let widths = std::iter::once(Constraint::Length(NAME_WIDTH))
        .chain(kept.iter().map(|&i| Constraint::Min(columns[i].1)));
    Table::new(rows, widths).header(header)
}

/// Cells of a variant table's name column.
const NAME_WIDTH: u16 = 8;

/// Which table columns fit in `width`, given each column's `(width, priority)` with 0 the
/// most important; the kept indices come back in display order.
fn fitting_columns(width: u16, columns: &[(u16, u8)]) -> Vec<usize> {
    let mut by_priority: Vec<usize> = (0..columns.len()).collect();
    by_priority.sort_by_key(|&i| columns[i].1);
    let mut used = 0;
    let mut kept: Vec<usize> = by_priority
        .into_iter()
        .filter(|&i| {
            // Each column takes its width plus one cell of spacing.
            let needed = columns[i].0 + 1;
            let fits = used + needed <= width;
            if fits {
                used += needed;
            }
            fits
        })
        .collect();
    kept.sort_unstable();
    kept
}

#[cfg(test)]
pub(super) use {
    accuracy::render as accuracy, generated::render as generated, header::render as header,
    latency::render as latency, size::render as size, sliders::render as sliders,
    status::render as status, system::render as system, task::render as task,
};

#[cfg(test)]
mod tests {
    use super::fitting_columns;

    #[test]
    fn columns_are_dropped_least_important_first() {
        let columns = [(8, 0), (8, 3), (8, 1), (11, 2)];
        assert_eq!(fitting_columns(100, &columns), vec![0, 1, 2, 3]);
        assert_eq!(fitting_columns(30, &columns), vec![0, 2, 3]);
        assert_eq!(fitting_columns(20, &columns), vec![0, 2]);
        assert_eq!(fitting_columns(5, &columns), Vec::<usize>::new());
    }
}
