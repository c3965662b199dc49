//! Weight quantization parameters, chosen exactly as PyTorch (fbgemm, engine `x86`) chooses
//! them (the activations' are in [`crate::kernels::choose_activation_params`]).

/// Symmetric int8 scale of a weight tensor (or of one output row of it):
/// `max(amax / 127.5, f32::EPSILON)` with `amax` the largest magnitude, 0 included.
pub fn weight_scale(weights: &[f32]) -> f32 {
    let (min, max) = weights
        .iter()
        .fold((0.0f32, 0.0f32), |(lo, hi), &w| (lo.min(w), hi.max(w)));
    let amax = min.abs().max(max.abs());
    (amax / 127.5).max(f32::EPSILON)
}

/// `clamp(round_half_even(w · (1 / scale)), −128, 127)`: PyTorch multiplies by the reciprocal.
pub fn quantize_weight(w: f32, inv_scale: f32) -> i8 {
    (w * inv_scale).round_ties_even().clamp(-128.0, 127.0) as i8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_scale_includes_zero_and_floors_at_epsilon() {
        assert_eq!(weight_scale(&[0.0, 0.0]), f32::EPSILON);
        assert_eq!(weight_scale(&[1.0, 2.0]), 2.0 / 127.5);
        assert_eq!(weight_scale(&[-2.55, 1.0]), 2.55 / 127.5);
    }

    #[test]
    fn weight_quantization_saturates_and_rounds_half_even() {
        assert_eq!(quantize_weight(2.5, 1.0), 2);
        assert_eq!(quantize_weight(3.5, 1.0), 4);
        assert_eq!(quantize_weight(-1000.0, 1.0), -128);
        assert_eq!(quantize_weight(1000.0, 1.0), 127);
    }
}
