//! Every figure derived from two measurements ("x smaller", speed-ups, percentages) is computed
//! here and only here, with the undefined case decided once: `None` when what divides is zero
//! or not measured yet. Callers only choose how to show a `None` (a dash on screen; 0 in the
//! report, whose JSON contract has a number for every ratio).

use super::latency::LatencyStats;

/// `numerator / denominator`, `None` when the denominator is 0.
pub fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator != 0.0).then(|| numerator / denominator)
}

/// `part / whole · 100`, `None` when `whole` is 0.
pub fn percent(part: f64, whole: f64) -> Option<f64> {
    ratio(part, whole).map(|r| r * 100.0)
}

/// How many times smaller a model of `bytes` is than the reference's `reference_bytes`
/// (reference size / this size); `None` while either size is unknown (0).
pub fn times_smaller(reference_bytes: u64, bytes: u64) -> Option<f64> {
    if reference_bytes == 0 {
        return None;
    }
    ratio(reference_bytes as f64, bytes as f64)
}

/// How many times faster a variant's median forward is than the reference's (reference
/// median / this median); `None` until both have recorded forwards.
pub fn speedup(reference: &LatencyStats, latency: &LatencyStats) -> Option<f64> {
    let median = |l: &LatencyStats| (l.count > 0 && l.p50_ns > 0).then_some(l.p50_ns as f64);
    ratio(median(reference)?, median(latency)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_need_both_figures() {
        assert_eq!(times_smaller(400, 100), Some(4.0));
        assert_eq!(times_smaller(400, 0), None);
        assert_eq!(times_smaller(0, 100), None);
        let stats = |p50_ns, count| LatencyStats {
            p50_ns,
            count,
            ..LatencyStats::default()
        };
        assert_eq!(speedup(&stats(300, 5), &stats(100, 5)), Some(3.0));
        assert_eq!(speedup(&stats(300, 5), &stats(100, 0)), None);
        assert_eq!(speedup(&stats(0, 0), &stats(100, 5)), None);
    }

    #[test]
    fn nothing_divides_by_zero() {
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(0.0, 2.0), Some(0.0));
        assert_eq!(percent(0.375, 2.5), Some(15.0));
        assert_eq!(percent(1.0, 0.0), None);
    }
}
