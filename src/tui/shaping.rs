//! Snapshot data shaped for drawing: common histogram bins, ratio-curve points, bar strings.
//! Pure functions, no terminal.

use super::sliders::DIM_STEPS;
use crate::bench::VariantSnapshot;
use crate::metrics::times_smaller;
use crate::model::ModelDims;
use crate::quant::{Scheme, module_sizes};

/// Latency distributions of several variants on one set of log-spaced bins.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyBins {
    /// Bin edges in ns, ascending; one more than there are bins.
    pub edges_ns: Vec<u64>,
    /// Per variant, the share of its forwards in each bin, in per mille.
    pub shares: Vec<(Scheme, Vec<u64>)>,
}

/// Share of each variant's forwards the bins show in full; slower outliers (a page fault, a
/// preempted thread) are counted in the last bin instead of stretching the axis.
const SHOWN_QUANTILE: f64 = 0.99;

/// Re-bins the variants' log-spaced histograms onto `bins` common log-spaced bins, so variants
/// can be drawn on one axis. The bins span from the fastest non-empty bucket to the bucket
/// holding each variant's 99th percentile; forwards beyond that go to the last bin. A bucket
/// covers the range from the previous bucket's bound (for the first, one bucket width below)
/// to its own, and its count is spread over the bins in proportion to the (log) overlap.
/// `None` when there is nothing recorded yet.
pub fn latency_bins(variants: &[VariantSnapshot], bins: usize) -> Option<LatencyBins> {
    let bins = bins.max(1);
    let ranges: Vec<Vec<(f64, f64, u64)>> = variants
        .iter()
        .map(|v| bucket_ranges(&v.histogram))
        .collect();
    let filled = ranges.iter().flatten().filter(|&&(_, _, count)| count > 0);
    let lo = filled.map(|r| r.0).reduce(f64::min)?;
    let hi = ranges
        .iter()
        .filter_map(|r| quantile_bound(r))
        .reduce(f64::max)?;
    let span = hi - lo;
    let edges_ns = (0..=bins)
        .map(|k| (lo + span * k as f64 / bins as f64).exp2().round() as u64)
        .collect();
    let shares = variants
        .iter()
        .zip(&ranges)
        .map(|(variant, ranges)| {
            let mut mass = vec![0.0; bins];
            for &(from, to, count) in ranges.iter().filter(|r| r.2 > 0) {
                if to > hi {
                    mass[bins - 1] += count as f64 * (to - hi.max(from)) / (to - from);
                }
                let first = (((from - lo) / span) * bins as f64).floor().max(0.0) as usize;
                for (bin, m) in mass.iter_mut().enumerate().skip(first) {
                    let bin_from = lo + span * bin as f64 / bins as f64;
                    let bin_to = lo + span * (bin + 1) as f64 / bins as f64;
                    if bin_from >= to {
                        break;
                    }
                    let overlap = to.min(bin_to) - from.max(bin_from);
                    *m += count as f64 * overlap.max(0.0) / (to - from);
                }
            }
            let total: f64 = mass.iter().sum();
            let per_mille = mass
                .iter()
                .map(|m| {
                    if total > 0.0 {
                        (m / total * 1000.0).round() as u64
                    } else {
                        0
                    }
                })
                .collect();
            (variant.scheme, per_mille)
        })
        .collect();
    Some(LatencyBins { edges_ns, shares })
}

/// The upper bound (log2) of the bucket where the cumulative count reaches [`SHOWN_QUANTILE`].
fn quantile_bound(ranges: &[(f64, f64, u64)]) -> Option<f64> {
    let total: u64 = ranges.iter().map(|r| r.2).sum();
    let wanted = (total as f64 * SHOWN_QUANTILE).ceil() as u64;
    let mut seen = 0;
    ranges.iter().find_map(|&(_, upper, count)| {
        seen += count;
        (total > 0 && seen >= wanted).then_some(upper)
    })
}

/// `(log2 lower, log2 upper, count)` per bucket with a positive bound.
fn bucket_ranges(histogram: &[(u64, u64)]) -> Vec<(f64, f64, u64)> {
    let bounds: Vec<(f64, u64)> = histogram
        .iter()
        .filter(|&&(bound, _)| bound > 0)
        .map(|&(bound, count)| ((bound as f64).log2(), count))
        .collect();
    let first_width = match bounds.as_slice() {
        [(a, _), (b, _), ..] if b > a => b - a,
        _ => 1.0,
    };
    let mut lower = bounds.first().map_or(0.0, |&(b, _)| b - first_width);
    bounds
        .into_iter()
        .map(|(upper, count)| {
            let range = (lower, upper, count);
            lower = upper;
            range
        })
        .collect()
}

/// Points `(log2 hidden size, FP32/variant size ratio)` for `scheme` at every dimension the
/// slider offers, for models shaped like `dims` (the input size follows the hidden size when
/// they are joined) with an embedding of `embedding_rows` rows: sizes are a formula of the
/// dimensions ([`module_sizes`], the file's header left out), so no model is built.
pub fn size_ratio_curve(
    dims: &ModelDims,
    scheme: Scheme,
    embedding_rows: Option<usize>,
) -> Vec<(f64, f64)> {
    let joined = dims.input_size == dims.hidden_size;
    DIM_STEPS
        .iter()
        .map(|&dim| {
            let at = ModelDims {
                hidden_size: dim,
                input_size: if joined { dim } else { dims.input_size },
                ..*dims
            };
            ((dim as f64).log2(), size_ratio(&at, scheme, embedding_rows))
        })
        .collect()
}

/// FP32 bytes / `scheme`'s bytes of a model of `dims`, from its modules' sizes.
pub fn size_ratio(dims: &ModelDims, scheme: Scheme, embedding_rows: Option<usize>) -> f64 {
    let modules = module_sizes(dims, scheme, embedding_rows);
    let fp32: u64 = modules.iter().map(|m| m.fp32_bytes).sum();
    let stored: u64 = modules.iter().map(|m| m.bytes).sum();
    times_smaller(fp32, stored).unwrap_or(1.0)
}

/// A horizontal bar `width` cells wide filled to `fraction` (clamped to 0..=1), with
/// eighth-cell resolution: `fraction = 0.5, width = 4` gives `"██  "`.
pub fn bar(fraction: f64, width: usize) -> String {
    const PARTIAL: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (fraction.clamp(0.0, 1.0) * width as f64 * 8.0).round() as usize;
    let mut bar = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        bar.push(PARTIAL[eighths % 8]);
    }
    let used = bar.chars().count();
    bar.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(scheme: Scheme, size_bytes: u64, histogram: Vec<(u64, u64)>) -> VariantSnapshot {
        VariantSnapshot {
            scheme,
            size_bytes,
            histogram,
            ..VariantSnapshot::default()
        }
    }

    #[test]
    fn bins_span_every_filled_bucket_log_spaced() {
        let variants = [
            variant(Scheme::Fp32, 0, vec![(1000, 0), (4000, 3), (16000, 1)]),
            variant(Scheme::Int8, 0, vec![(2000, 2), (4000, 2)]),
        ];
        // Buckets cover (1000, 4000] and (4000, 16000] for fp32, (1000, 2000] and
        // (2000, 4000] for int8 (the first one as wide as the second).
        let bins = latency_bins(&variants, 4).unwrap();
        assert_eq!(bins.edges_ns, vec![1000, 2000, 4000, 8000, 16000]);
        assert_eq!(bins.shares[0], (Scheme::Fp32, vec![375, 375, 125, 125]));
        assert_eq!(bins.shares[1], (Scheme::Int8, vec![500, 500, 0, 0]));
    }

    #[test]
    fn rare_outliers_go_to_the_last_bin_instead_of_stretching_the_axis() {
        // 999 forwards around 2 µs, one at 4 ms.
        let variants = [variant(
            Scheme::Fp32,
            0,
            vec![(1000, 0), (2000, 500), (4000, 499), (4_096_000, 1)],
        )];
        let bins = latency_bins(&variants, 2).unwrap();
        assert_eq!(bins.edges_ns, vec![1000, 2000, 4000]);
        assert_eq!(bins.shares[0].1, vec![500, 500]);
        assert_eq!(*bins.edges_ns.last().unwrap(), 4000);
    }

    #[test]
    fn a_bucket_narrower_than_a_bin_lands_in_it() {
        let variants = [variant(
            Scheme::Fp32,
            0,
            vec![(1000, 1), (1100, 1), (8000, 2)],
        )];
        let bins = latency_bins(&variants, 2).unwrap();
        assert_eq!(bins.edges_ns.len(), 3);
        assert_eq!(bins.shares[0].1.iter().sum::<u64>(), 1000);
        assert!(bins.shares[0].1[0] > 500, "{:?}", bins.shares[0]);
    }

    #[test]
    fn a_single_bucket_still_gets_a_range() {
        let variants = [variant(Scheme::Fp32, 0, vec![(5000, 7)])];
        let bins = latency_bins(&variants, 2).unwrap();
        assert_eq!(bins.edges_ns, vec![2500, 3536, 5000]);
        assert_eq!(bins.shares[0].1, vec![500, 500]);
    }

    #[test]
    fn no_recorded_forwards_no_bins() {
        assert_eq!(latency_bins(&[], 10), None);
        let empty = [variant(Scheme::Fp32, 0, vec![(1000, 0)])];
        assert_eq!(latency_bins(&empty, 10), None);
    }

    #[test]
    fn the_size_curve_climbs_toward_4x_and_an_fp32_embedding_holds_it_back() {
        let dims = ModelDims::square(8);
        let curve = size_ratio_curve(&dims, Scheme::Int8, None);
        assert_eq!(curve.len(), DIM_STEPS.len());
        assert_eq!((curve[0].0, curve.last().unwrap().0), (3.0, 12.0));
        assert!(curve.windows(2).all(|w| w[0].1 < w[1].1), "{curve:?}");
        assert!(curve[0].1 < 3.0 && (3.99..4.0).contains(&curve.last().unwrap().1));
        // A language model: 10,000 rows of 128 values, a 2-layer LSTM(128, dim), its decoder.
        let lm = ModelDims {
            input_size: 128,
            num_layers: 2,
            head: 10_000,
            ..ModelDims::square(256)
        };
        let fp32_embedding = size_ratio(&lm, Scheme::Int8, Some(10_000));
        let quantized = size_ratio(&lm, Scheme::Int8Embedding, Some(10_000));
        assert!(
            fp32_embedding < 2.5 && quantized > 3.8,
            "{fp32_embedding} {quantized}"
        );
        let curve = size_ratio_curve(&lm, Scheme::Int8, Some(10_000));
        assert_eq!(
            curve[10],
            (8.0, fp32_embedding),
            "dimension 256, the model's own"
        );
    }

    #[test]
    fn bars_have_eighth_cell_resolution() {
        assert_eq!(bar(0.5, 4), "██  ");
        assert_eq!(bar(1.0, 3), "███");
        assert_eq!(bar(0.0, 2), "  ");
        assert_eq!(bar(1.0 / 16.0, 2), "▏ ");
        assert_eq!(bar(7.0, 2), "██");
    }
}
