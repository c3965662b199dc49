//! The accuracy figures the recipe prints, on flat f32 outputs, and [`Accuracy`], the one
//! type that carries them from the engine to the reports and the dashboard.

use super::ratio::percent;

/// How a variant's output compares with the reference output on the same input (the recipe's
/// figures plus the largest difference). The report's JSON has these four fields flat in each
/// variant, under these names.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Accuracy {
    /// `mean(|output|)`.
    pub output_mean_abs: f64,
    /// `mean(|output − reference|)`.
    pub diff_mean_abs: f64,
    /// `diff_mean_abs / mean(|reference|) · 100`, the recipe's percent difference.
    pub diff_pct: f64,
    /// `max(|output − reference|)`.
    pub diff_max_abs: f64,
}

impl Accuracy {
    /// Compares `output` with `reference`.
    ///
    /// # Panics
    /// If the lengths differ.
    pub fn compare(reference: &[f32], output: &[f32]) -> Accuracy {
        Accuracy {
            output_mean_abs: mean_abs(output),
            diff_mean_abs: mean_abs_diff(reference, output),
            diff_pct: percent_diff(reference, output),
            diff_max_abs: max_abs_diff(reference, output),
        }
    }
}

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
    percent(mean_abs_diff(reference, other), mean_abs(reference)).unwrap_or(0.0)
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

    #[test]
    fn accuracy_gathers_the_figures() {
        let a = [1.0, -2.0, 3.0, -4.0];
        let b = [1.5, -2.0, 2.0, -4.0];
        let accuracy = Accuracy::compare(&a, &b);
        assert_eq!(
            accuracy,
            Accuracy {
                output_mean_abs: 2.375,
                diff_mean_abs: 0.375,
                diff_pct: 15.0,
                diff_max_abs: 1.0,
            }
        );
        assert_eq!(Accuracy::compare(&a, &a).diff_max_abs, 0.0);
    }
}
