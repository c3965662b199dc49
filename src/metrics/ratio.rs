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

/// Sequences per second at a variant's median forward of `batch` sequences; `None` until it
/// has recorded forwards.
pub fn sequences_per_second(batch: usize, latency: &LatencyStats) -> Option<f64> {
    (latency.count > 0)
        .then(|| ratio(batch as f64, latency.p50_ns as f64 / 1e9))
        .flatten()
}

/// `floor / measured · 100`: how close a measured median came to the machine's limit (the
/// roofline's floor); `None` when either is not positive.
pub fn percent_of_limit(floor_seconds: f64, measured_seconds: f64) -> Option<f64> {
    (floor_seconds > 0.0 && measured_seconds > 0.0)
        .then(|| percent(floor_seconds, measured_seconds))
        .flatten()
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
    fn throughput_and_the_share_of_the_limit_need_their_figures() {
        let stats = |p50_ns, count| LatencyStats {
            p50_ns,
            count,
            ..LatencyStats::default()
        };
        assert_eq!(
            sequences_per_second(64, &stats(1_000_000, 3)),
            Some(64_000.0)
        );
        assert_eq!(sequences_per_second(64, &stats(1_000_000, 0)), None);
        assert_eq!(percent_of_limit(1.0, 4.0), Some(25.0));
        assert_eq!(percent_of_limit(0.0, 4.0), None);
        assert_eq!(percent_of_limit(1.0, 0.0), None);
    }

    #[test]
    fn nothing_divides_by_zero() {
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(0.0, 2.0), Some(0.0));
        assert_eq!(percent(0.375, 2.5), Some(15.0));
        assert_eq!(percent(1.0, 0.0), None);
    }
}
