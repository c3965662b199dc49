//! Latency recording (one HDR histogram per variant) and the pure shaping of what it holds into
//! the figures a [`Snapshot`](super::Snapshot) carries.

use std::collections::VecDeque;

use hdrhistogram::Histogram;

use crate::metrics::LatencyStats;

/// How many of the most recent latencies a recorder keeps for sparklines.
pub const RECENT_LEN: usize = 120;
/// How many log-spaced buckets [`log_buckets`] makes.
pub const HISTOGRAM_BUCKETS: usize = 24;
/// Largest recordable latency (one hour, ns); longer forwards saturate.
const HIGHEST_NS: u64 = 3_600_000_000_000;

/// One variant's recorded forwards: an HDR histogram (ns, 3 significant figures) and the most
/// recent latencies.
#[derive(Debug, Clone)]
pub struct LatencyRecorder {
    histogram: Histogram<u64>,
    recent: VecDeque<u64>,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        LatencyRecorder {
            histogram: Histogram::new_with_bounds(1, HIGHEST_NS, 3)
                .expect("constant bounds are valid"),
            recent: VecDeque::with_capacity(RECENT_LEN),
        }
    }
}

impl LatencyRecorder {
    /// Records one forward's latency in ns.
    pub fn record(&mut self, ns: u64) {
        self.histogram.saturating_record(ns.max(1));
        if self.recent.len() == RECENT_LEN {
            self.recent.pop_front();
        }
        self.recent.push_back(ns);
    }

    /// Forgets everything recorded.
    pub fn reset(&mut self) {
        self.histogram.reset();
        self.recent.clear();
    }

    /// Number of recorded forwards.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Percentiles of everything recorded (all zero when nothing was).
    pub fn stats(&self) -> LatencyStats {
        stats(&self.histogram)
    }

    /// The recorded latencies in [`HISTOGRAM_BUCKETS`] log-spaced buckets.
    pub fn buckets(&self) -> Vec<(u64, u64)> {
        log_buckets(&self.histogram, HISTOGRAM_BUCKETS)
    }

    /// The most recent latencies, oldest first.
    pub fn recent(&self) -> Vec<u64> {
        self.recent.iter().copied().collect()
    }
}

/// Min, p50, p90, p99, max, mean and count of `h` (all zero when empty).
pub fn stats(h: &Histogram<u64>) -> LatencyStats {
    if h.is_empty() {
        return LatencyStats::default();
    }
    LatencyStats {
        min_ns: h.min(),
        p50_ns: h.value_at_quantile(0.50),
        p90_ns: h.value_at_quantile(0.90),
        p99_ns: h.value_at_quantile(0.99),
        max_ns: h.max(),
        mean_ns: h.mean(),
        count: h.len(),
    }
}

/// Splits the range `min..=max` of `h` into `n` geometrically growing buckets and counts the
/// values in each: `(upper bound in ns, count)`, ascending, the last bound being `max`.
/// Empty when `h` is empty or `n` is 0; a single bucket when all values are equal (within the
/// histogram's resolution).
pub fn log_buckets(h: &Histogram<u64>, n: usize) -> Vec<(u64, u64)> {
    if h.is_empty() || n == 0 {
        return Vec::new();
    }
    let (min, max) = (h.min().max(1), h.max().max(1));
    if h.highest_equivalent(min) >= max {
        return vec![(max, h.len())];
    }
    let ratio = (max as f64 / min as f64).powf(1.0 / n as f64);
    let mut bounds: Vec<u64> = (1..n)
        .map(|k| (min as f64 * ratio.powi(k as i32)).round() as u64)
        .collect();
    bounds.push(max);
    bounds.dedup();
    let mut counts = vec![0u64; bounds.len()];
    for value in h.iter_recorded() {
        let v = h.highest_equivalent(value.value_iterated_to()).min(max);
        let index = bounds.partition_point(|&b| b < v).min(bounds.len() - 1);
        counts[index] += value.count_at_value();
    }
    bounds.into_iter().zip(counts).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder(values: &[u64]) -> LatencyRecorder {
        let mut r = LatencyRecorder::default();
        values.iter().for_each(|&v| r.record(v));
        r
    }

    #[test]
    fn percentiles_are_ordered_and_match_the_values() {
        let values: Vec<u64> = (1..=1000).map(|v| v * 1000).collect();
        let s = recorder(&values).stats();
        assert_eq!(s.count, 1000);
        assert_eq!(s.min_ns, 1000);
        // 3 significant figures: within 0.1 %.
        let close = |got: u64, want: u64| (got as f64 - want as f64).abs() <= want as f64 * 1e-3;
        assert!(close(s.p50_ns, 500_000), "{s:?}");
        assert!(close(s.p90_ns, 900_000), "{s:?}");
        assert!(close(s.p99_ns, 990_000), "{s:?}");
        assert!(close(s.max_ns, 1_000_000), "{s:?}");
        assert!((s.mean_ns - 500_500.0).abs() < 500.0, "{s:?}");
        assert!(s.min_ns <= s.p50_ns && s.p50_ns <= s.p90_ns && s.p90_ns <= s.p99_ns);
        assert!(s.p99_ns <= s.max_ns);
    }

    #[test]
    fn empty_recorder_gives_zeros_and_no_buckets() {
        let r = LatencyRecorder::default();
        assert_eq!(r.stats(), LatencyStats::default());
        assert!(r.buckets().is_empty());
        assert!(r.recent().is_empty());
    }

    #[test]
    fn recent_keeps_the_last_values_oldest_first_and_reset_clears() {
        let values: Vec<u64> = (0..RECENT_LEN as u64 + 5).collect();
        let mut r = recorder(&values);
        let recent = r.recent();
        assert_eq!(recent.len(), RECENT_LEN);
        assert_eq!(recent[0], 5);
        assert_eq!(*recent.last().unwrap(), RECENT_LEN as u64 + 4);
        r.reset();
        assert_eq!(r.count(), 0);
        assert!(r.recent().is_empty());
    }

    #[test]
    fn buckets_are_log_spaced_ascending_and_count_everything() {
        let values: Vec<u64> = (0..10_000).map(|k| 1_000 + k * 37).collect();
        let r = recorder(&values);
        let buckets = r.buckets();
        assert_eq!(buckets.len(), HISTOGRAM_BUCKETS);
        assert!(buckets.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), 10_000);
        assert_eq!(buckets.last().unwrap().0, r.stats().max_ns);
        // Geometric: each bound about the same factor above the previous one.
        let ratios: Vec<f64> = buckets
            .windows(2)
            .map(|w| w[1].0 as f64 / w[0].0 as f64)
            .collect();
        assert!(
            ratios.iter().all(|q| (q / ratios[0] - 1.0).abs() < 0.05),
            "{ratios:?}"
        );
    }

    #[test]
    fn equal_values_make_one_bucket() {
        let r = recorder(&[5000; 7]);
        assert_eq!(r.buckets(), vec![(r.stats().max_ns, 7)]);
    }
}
