//! Generated text: what FP32 and INT8 write after the same prompt (greedy), the first
//! character where they part marked, so the user sees what quantization does to the output.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::bench::VariantSnapshot;
use crate::quant::Scheme;
use crate::tui::app::App;
use crate::tui::theme;

/// Draws the generated-text panel.
pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let snapshot = app.snapshot.as_ref();
    let prompt = snapshot
        .and_then(|s| s.task.as_ref())
        .and_then(|t| t.prompt.as_deref());
    let title = match prompt {
        Some(p) => format!("Generated after {:?}", shown(p)),
        None => "Generated text".to_string(),
    };
    let variants = snapshot.map_or(&[][..], |s| &s.variants[..]);
    let reference = variants.iter().find(|v| v.is_reference());
    let other = variants
        .iter()
        .find(|v| v.scheme == Scheme::Int8)
        .or_else(|| variants.iter().find(|v| !v.is_reference()));
    let (Some(a), Some(b)) = (
        reference.and_then(|v| Some((v, v.generated.as_deref()?))),
        other.and_then(|v| Some((v, v.generated.as_deref()?))),
    ) else {
        let block = theme::panel(&title);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        frame.render_widget(Paragraph::new(Line::styled("no prompt", theme::DIM)), inner);
        return;
    };
    let split = first_difference(a.1, b.1);
    let verdict = match split {
        Some(i) => format!(" part at character {} ", i + 1),
        None => format!(" identical for all {} characters ", a.1.chars().count()),
    };
    let verdict_style = if split.is_some() {
        theme::WARN
    } else {
        theme::GOOD
    };
    let block =
        theme::panel(&title).title_bottom(Line::styled(verdict, verdict_style).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Fill(1)]).areas(inner);
    for ((variant, text), half) in [(a, top), (b, bottom)] {
        frame.render_widget(
            Paragraph::new(marked(variant, text, split)).wrap(Wrap { trim: false }),
            half,
        );
    }
}

/// The variant's name, then its text with newlines shown as `⏎`, the character at `split`
/// highlighted and what follows it dimmed.
fn marked<'a>(variant: &VariantSnapshot, text: &str, split: Option<usize>) -> Line<'a> {
    let name = Span::styled(
        format!("{}: ", theme::scheme_label(variant.scheme)),
        theme::scheme_style(variant.scheme),
    );
    let chars: Vec<char> = text.chars().collect();
    let cut = split.unwrap_or(chars.len()).min(chars.len());
    let part = |range: &[char]| shown(&range.iter().collect::<String>());
    let mut spans = vec![name, Span::raw(part(&chars[..cut]))];
    if cut < chars.len() {
        spans.push(Span::styled(
            part(&chars[cut..cut + 1]),
            theme::BAD.add_modifier(Modifier::REVERSED),
        ));
        spans.push(Span::styled(part(&chars[cut + 1..]), theme::DIM));
    }
    Line::from(spans)
}

/// `text` on one line: newlines as `⏎`.
fn shown(text: &str) -> String {
    text.replace('\n', "⏎")
}

/// The index of the first character where `a` and `b` differ (one ending first counts).
fn first_difference(a: &str, b: &str) -> Option<usize> {
    let mut a = a.chars();
    let mut b = b.chars();
    let mut index = 0;
    loop {
        match (a.next(), b.next()) {
            (None, None) => return None,
            (x, y) if x != y => return Some(index),
            _ => index += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::first_difference;

    #[test]
    fn the_first_differing_character_is_found() {
        assert_eq!(first_difference("the season", "the reason"), Some(4));
        assert_eq!(first_difference("same", "same"), None);
        assert_eq!(first_difference("short", "shorter"), Some(5));
        assert_eq!(first_difference("é1", "é2"), Some(1));
    }
}
