//! Latency: percentiles per variant with the speed-up, the distribution on log-spaced bins,
//! and sparklines of the most recent forwards.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, Cell, Paragraph, Sparkline};

use crate::bench::{Snapshot, VariantSnapshot};
use crate::format;
use crate::metrics::speedup;
use crate::tui::app::App;
use crate::tui::{shaping, theme};

/// Draws the latency panel.
pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let block = theme::panel("Latency per forward");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(snapshot) = app.snapshot.as_ref().filter(|s| !s.variants.is_empty()) else {
        frame.render_widget(
            Paragraph::new(Line::styled("waiting for the first forwards…", theme::DIM)),
            inner,
        );
        return;
    };
    let rows = snapshot.variants.len() as u16 + 1;
    let [table, _, charts] = Layout::vertical([
        Constraint::Length(rows),
        Constraint::Length(1),
        Constraint::Fill(1),
    ])
    .areas(inner);
    render_table(frame, snapshot, table);
    let [histogram, recent] = Layout::horizontal([Constraint::Percentage(60), Constraint::Fill(1)])
        .spacing(2)
        .areas(charts);
    render_histogram(frame, &snapshot.variants, histogram);
    render_recent(frame, &snapshot.variants, recent);
}

/// Columns after the variant's name: `(title, width, priority)`, dropped from the least
/// important when the panel is narrow.
const COLUMNS: [(&str, u16, u8); 6] = [
    ("p50", 8, 0),
    ("p90", 8, 4),
    ("p99", 8, 2),
    ("max", 8, 3),
    ("forwards", 8, 5),
    ("speed-up", 11, 1),
];

/// Percentiles, forwards and speed-up per variant.
fn render_table(frame: &mut Frame, snapshot: &Snapshot, area: Rect) {
    let reference = snapshot.reference().map(|v| v.latency);
    let rows = snapshot.variants.iter().map(|v| {
        let l = &v.latency;
        let time = |ns| Cell::from(Line::from(format::duration_ns(ns)).right_aligned());
        let speedup = match reference.and_then(|r| speedup(&r, l)) {
            Some(x) if !v.is_reference() => {
                let style = if x >= 1.0 { theme::GOOD } else { theme::BAD };
                Line::styled(format::speedup(x), style)
            }
            _ => Line::styled("—", theme::DIM),
        };
        let cells = [
            time(l.p50_ns).style(theme::FIGURE),
            time(l.p90_ns),
            time(l.p99_ns),
            time(l.max_ns),
            Cell::from(Line::from(l.count.to_string()).right_aligned()).style(theme::DIM),
            Cell::from(speedup.right_aligned()),
        ];
        (v.scheme, cells)
    });
    frame.render_widget(super::variant_table(area.width, &COLUMNS, rows), area);
}

/// The latency distributions on common log-spaced bins, one strip per variant, so the
/// quantized variants' mass visibly sits left of FP32's.
fn render_histogram(frame: &mut Frame, variants: &[VariantSnapshot], area: Rect) {
    let [caption, strips, axis] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(
        Line::styled("distribution (log-spaced bins)", theme::DIM),
        caption,
    );
    let Some(bins) = shaping::latency_bins(variants, usize::from(area.width)) else {
        return;
    };
    let max = bins.shares.iter().flat_map(|(_, s)| s).copied().max();
    let rows = Layout::vertical(variants.iter().map(|_| Constraint::Fill(1))).split(strips);
    for ((scheme, shares), &row) in bins.shares.iter().zip(rows.iter()) {
        let bars: Vec<Bar> = shares
            .iter()
            .map(|&share| Bar::new(share).text_value(""))
            .collect();
        frame.render_widget(
            BarChart::new(bars)
                .bar_width(1)
                .bar_gap(0)
                .max(max.unwrap_or(1).max(1))
                .bar_style(Style::new().fg(theme::scheme_color(*scheme))),
            row,
        );
        let label = theme::scheme_label(*scheme);
        let corner = Rect {
            width: (label.len() as u16).min(row.width),
            height: row.height.min(1),
            ..row
        };
        frame.render_widget(Span::styled(label, theme::scheme_style(*scheme)), corner);
    }
    let low = format::duration_ns(bins.edges_ns[0]);
    let high = format::duration_ns(*bins.edges_ns.last().unwrap_or(&0));
    let gap = usize::from(area.width).saturating_sub(low.chars().count() + high.chars().count());
    frame.render_widget(
        Line::styled(format!("{low}{}{high}", " ".repeat(gap.max(1))), theme::DIM),
        axis,
    );
}

/// One sparkline per variant of its latest forwards, on a common scale.
fn render_recent(frame: &mut Frame, variants: &[VariantSnapshot], area: Rect) {
    let max = variants
        .iter()
        .flat_map(|v| &v.recent_ns)
        .copied()
        .max()
        .unwrap_or(1);
    let [caption, rest] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    frame.render_widget(Line::styled("recent forwards", theme::DIM), caption);
    let rows = Layout::vertical(variants.iter().map(|_| Constraint::Fill(1))).split(rest);
    for (v, &row) in variants.iter().zip(rows.iter()) {
        let [label, line] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(row);
        let latest = v
            .recent_ns
            .last()
            .map_or(String::new(), |&ns| format!(" {}", format::duration_ns(ns)));
        frame.render_widget(
            Line::from(vec![
                Span::styled(theme::scheme_label(v.scheme), theme::scheme_style(v.scheme)),
                Span::styled(latest, theme::DIM),
            ]),
            label,
        );
        // Only the newest values that fit, right-aligned like a scrolling trace.
        let shown = &v.recent_ns[v.recent_ns.len().saturating_sub(usize::from(line.width))..];
        frame.render_widget(
            Sparkline::default()
                .data(shown)
                .max(max.max(1))
                .style(Style::new().fg(theme::scheme_color(v.scheme))),
            line,
        );
    }
}
