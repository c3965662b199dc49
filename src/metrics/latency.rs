//! Latency percentiles of one variant's recorded forwards.

/// Latency percentiles from one variant's HDR histogram, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatencyStats {
    /// Fastest forward.
    pub min_ns: u64,
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// Slowest forward.
    pub max_ns: u64,
    /// Arithmetic mean.
    pub mean_ns: f64,
    /// Number of recorded forwards (warm-up excluded).
    pub count: u64,
}
