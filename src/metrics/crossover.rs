//! Where INT8 starts to win: from measurements of the same model shape at several dimensions,
//! each INT8 variant's speed-up over FP32 per (threads, batch), and the smallest dimension
//! from which it is faster at that one and at every larger one measured.

use crate::quant::Scheme;

/// A model's shape apart from its dimension, as [`Sample::shape`] has it:
/// `LSTM, 1 layer, seq 20` (`bidirectional` and the head when they apply).
pub fn shape(
    cell: &str,
    bidirectional: bool,
    layers: usize,
    seq_len: usize,
    head: usize,
) -> String {
    let mut shape = format!(
        "{}{}, {layers} layer{}, seq {seq_len}",
        if bidirectional { "bidirectional " } else { "" },
        cell.to_uppercase(),
        if layers == 1 { "" } else { "s" },
    );
    if head > 0 {
        shape += &format!(", head {head}");
    }
    shape
}

/// One measured configuration of one INT8 variant, beside FP32's on the same configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The model's shape apart from its dimension (`LSTM, 1 layer, seq 20`): only samples of
    /// one shape are compared.
    pub shape: String,
    /// The INT8 variant.
    pub scheme: Scheme,
    /// Threads per forward.
    pub threads: usize,
    /// Sequences per forward.
    pub batch: usize,
    /// Input and hidden size.
    pub dim: usize,
    /// FP32's median forward, µs.
    pub fp32_p50_us: f64,
    /// The variant's median forward, µs.
    pub p50_us: f64,
}

/// One point of a crossover curve.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CrossoverPoint {
    /// Input and hidden size.
    pub dim: usize,
    /// FP32's median forward, µs.
    pub fp32_p50_us: f64,
    /// The INT8 variant's median forward, µs.
    pub p50_us: f64,
    /// FP32 median / INT8 median (above 1: INT8 is faster).
    pub speedup: f64,
}

/// One INT8 variant's speed-up against the dimension at one (threads, batch).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Crossover {
    /// The model's shape apart from its dimension.
    pub shape: String,
    /// The INT8 variant.
    pub scheme: Scheme,
    /// Threads per forward.
    pub threads: usize,
    /// Sequences per forward.
    pub batch: usize,
    /// The smallest dimension from which INT8 is faster than FP32 at it and at every larger
    /// dimension measured; `None` when it is not faster at the largest.
    pub from_dim: Option<usize>,
    /// By ascending dimension.
    pub points: Vec<CrossoverPoint>,
}

/// The crossovers in `samples`: one per (shape, scheme, threads, batch) measured at two
/// dimensions or more, in the order first seen; a later sample of the same point replaces an
/// earlier one.
pub fn crossovers(samples: impl IntoIterator<Item = Sample>) -> Vec<Crossover> {
    let mut curves: Vec<Crossover> = Vec::new();
    for s in samples {
        if !(s.fp32_p50_us > 0.0 && s.p50_us > 0.0) {
            continue;
        }
        let point = CrossoverPoint {
            dim: s.dim,
            fp32_p50_us: s.fp32_p50_us,
            p50_us: s.p50_us,
            speedup: s.fp32_p50_us / s.p50_us,
        };
        let same = |c: &Crossover| {
            (c.shape.as_str(), c.scheme, c.threads, c.batch)
                == (s.shape.as_str(), s.scheme, s.threads, s.batch)
        };
        match curves.iter_mut().find(|c| same(c)) {
            Some(curve) => {
                curve.points.retain(|p| p.dim != point.dim);
                curve.points.push(point);
            }
            None => curves.push(Crossover {
                shape: s.shape,
                scheme: s.scheme,
                threads: s.threads,
                batch: s.batch,
                from_dim: None,
                points: vec![point],
            }),
        }
    }
    curves.retain(|c| c.points.len() >= 2);
    for curve in &mut curves {
        curve.points.sort_by_key(|p| p.dim);
        curve.from_dim = from_dim(&curve.points);
    }
    curves
}

/// The smallest dimension from which every point (it and all larger ones) has INT8 faster;
/// `None` when the largest point does not. `points` ascend by dimension.
pub fn from_dim(points: &[CrossoverPoint]) -> Option<usize> {
    let slower_after = points.iter().rposition(|p| p.speedup <= 1.0);
    match slower_after {
        None => points.first().map(|p| p.dim),
        Some(last_slower) => points.get(last_slower + 1).map(|p| p.dim),
    }
}

impl Crossover {
    /// `INT8 (int8) is faster than FP32 from dim 32 at 1 thread, batch 1`, or `... is not
    /// faster than FP32 up to dim 1024 at ...` when it never is.
    pub fn sentence(&self) -> String {
        let at = format!(
            "at {} thread{}, batch {}",
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            self.batch
        );
        let largest = self.points.last().map_or(0, |p| p.dim);
        match self.from_dim {
            Some(dim) if dim == self.points[0].dim => format!(
                "INT8 ({}) is faster than FP32 at every dim measured ({dim} to {largest}) {at}",
                self.scheme
            ),
            Some(dim) => format!(
                "INT8 ({}) is faster than FP32 from dim {dim} {at}",
                self.scheme
            ),
            None => format!(
                "INT8 ({}) is not faster than FP32 up to dim {largest} {at}",
                self.scheme
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(threads: usize, dim: usize, fp32: f64, int8: f64) -> Sample {
        Sample {
            shape: "LSTM, 1 layer, seq 20".into(),
            scheme: Scheme::Int8,
            threads,
            batch: 1,
            dim,
            fp32_p50_us: fp32,
            p50_us: int8,
        }
    }

    fn points(speedups: &[(usize, f64)]) -> Vec<CrossoverPoint> {
        speedups
            .iter()
            .map(|&(dim, speedup)| CrossoverPoint {
                dim,
                fp32_p50_us: speedup,
                p50_us: 1.0,
                speedup,
            })
            .collect()
    }

    #[test]
    fn int8_wins_from_the_first_dim_after_its_last_loss() {
        assert_eq!(
            from_dim(&points(&[(8, 0.8), (16, 1.2), (32, 1.5)])),
            Some(16)
        );
        // Faster at 16, slower again at 32: it wins from 64 on.
        let bumpy = points(&[(8, 0.8), (16, 1.1), (32, 0.95), (64, 1.4), (128, 2.0)]);
        assert_eq!(from_dim(&bumpy), Some(64));
        assert_eq!(from_dim(&points(&[(8, 1.3), (16, 1.2)])), Some(8));
        // Slower (or merely equal) at the largest: never.
        assert_eq!(from_dim(&points(&[(8, 1.5), (16, 1.0)])), None);
        assert_eq!(from_dim(&points(&[(8, 0.5), (16, 0.9)])), None);
    }

    #[test]
    fn curves_are_grouped_sorted_and_the_latest_point_wins() {
        let curves = crossovers([
            sample(1, 64, 30.0, 12.0),
            sample(1, 8, 2.0, 3.0),
            sample(2, 8, 2.0, 1.0),
            sample(1, 64, 30.0, 10.0),
            sample(1, 16, 5.0, 4.0),
            sample(2, 8, 0.0, 1.0),
        ]);
        assert_eq!(curves.len(), 1, "threads 2 has one point only");
        let c = &curves[0];
        let dims: Vec<usize> = c.points.iter().map(|p| p.dim).collect();
        assert_eq!(dims, [8, 16, 64]);
        assert_eq!(c.points[2].speedup, 3.0);
        assert_eq!(c.from_dim, Some(16));
        assert_eq!(
            c.sentence(),
            "INT8 (int8) is faster than FP32 from dim 16 at 1 thread, batch 1"
        );
    }

    #[test]
    fn the_sentence_says_never_and_always_plainly() {
        let mut c = crossovers([sample(2, 8, 1.0, 2.0), sample(2, 1024, 10.0, 11.0)]).remove(0);
        assert_eq!(
            c.sentence(),
            "INT8 (int8) is not faster than FP32 up to dim 1024 at 2 threads, batch 1"
        );
        c.batch = 64;
        c.from_dim = Some(8);
        assert_eq!(
            c.sentence(),
            "INT8 (int8) is faster than FP32 at every dim measured (8 to 1024) at 2 threads, \
             batch 64"
        );
    }
}
