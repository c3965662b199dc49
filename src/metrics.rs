//! The accuracy figures the recipe prints, on flat f32 outputs.

/// `mean(|x|)`, accumulated in f64 (0 for an empty slice).
pub fn mean_abs(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    x.iter().map(|v| f64::from(v.abs())).sum::<f64>() / x.len() as f64
}

/// `mean(|a − b|)`, accumulated in f64.
///
/// # Panics
/// If the lengths differ.
pub fn mean_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "mean_abs_diff: length mismatch");
    if a.is_empty() {
        return 0.0;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from((x - y).abs()))
        .sum::<f64>()
        / a.len() as f64
}

/// `max(|a − b|)`.
///
/// # Panics
/// If the lengths differ.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "max_abs_diff: length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from((x - y).abs()))
        .fold(0.0, f64::max)
}

/// The recipe's percent difference: `mean(|a − b|) / mean(|a|) · 100` (0 when `a` is all zero).
pub fn percent_diff(reference: &[f32], other: &[f32]) -> f64 {
    let magnitude = mean_abs(reference);
    if magnitude == 0.0 {
        return 0.0;
    }
    mean_abs_diff(reference, other) / magnitude * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_formulas() {
        let a = [1.0, -2.0, 3.0, -4.0];
        let b = [1.5, -2.0, 2.0, -4.0];
        assert_eq!(mean_abs(&a), 2.5);
        assert_eq!(mean_abs_diff(&a, &b), 0.375);
        assert_eq!(max_abs_diff(&a, &b), 1.0);
        assert_eq!(percent_diff(&a, &b), 15.0);
        assert_eq!(percent_diff(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
        assert_eq!(mean_abs(&[]), 0.0);
    }
}
