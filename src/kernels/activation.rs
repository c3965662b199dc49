//! Activation quantization parameters, chosen exactly as PyTorch (fbgemm, engine `x86`) chooses
//! them for a dynamic linear map's input: the kernels pick them from each input's range.

/// Smallest activation scale fbgemm allows; smaller ranges are widened to it.
const SMALL_SCALE_THRESHOLD: f32 = 6.1e-5;

/// Largest quantized activation value with `reduce_range` (PyTorch always sets it for
/// dynamic Linear and LSTM): activations use 7 of the 8 bits.
pub const ACTIVATION_QMAX: i32 = 127;

/// Affine parameters of a quantized activation tensor: `real = scale · (q − zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ActivationParams {
    /// Step between consecutive quantized values.
    pub scale: f32,
    /// The quantized value that represents 0.0.
    pub zero_point: i32,
}

/// Chooses uint8 parameters for a tensor whose values lie in `[min, max]`, with `reduce_range`
/// (`qmin = 0`, `qmax = 127`), following fbgemm's `ChooseQuantizationParams`.
#[inline]
pub fn choose_activation_params(min: f32, max: f32) -> ActivationParams {
    let qmin = 0i32;
    let qmax = ACTIVATION_QMAX;
    let mut min = min.min(0.0);
    let mut max = max.max(0.0);

    let mut scale = ((f64::from(max) - f64::from(min)) / f64::from(qmax - qmin)) as f32;
    if scale == 0.0 || (1.0 / scale).is_infinite() {
        scale = 0.1;
    }
    if scale < SMALL_SCALE_THRESHOLD {
        let original = scale;
        scale = SMALL_SCALE_THRESHOLD;
        if min == 0.0 {
            max = SMALL_SCALE_THRESHOLD * (qmax - qmin) as f32;
        } else if max == 0.0 {
            min = -SMALL_SCALE_THRESHOLD * (qmax - qmin) as f32;
        } else {
            let amplifier = SMALL_SCALE_THRESHOLD / original;
            min *= amplifier;
            max *= amplifier;
        }
    }

    let scale64 = f64::from(scale);
    let zp_from_min = f64::from(qmin) - f64::from(min) / scale64;
    let zp_from_max = f64::from(qmax) - f64::from(max) / scale64;
    let zp_from_min_error = f64::from(qmin).abs() - (f64::from(min) / scale64).abs();
    let zp_from_max_error = f64::from(qmax).abs() - (f64::from(max) / scale64).abs();
    let initial = if zp_from_min_error < zp_from_max_error {
        zp_from_min
    } else {
        zp_from_max
    };
    let zero_point = if initial < f64::from(qmin) {
        qmin
    } else if initial > f64::from(qmax) {
        qmax
    } else {
        initial.round_ties_even() as i32
    };
    ActivationParams { scale, zero_point }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_range_uses_the_fallback_scale() {
        let p = choose_activation_params(0.0, 0.0);
        assert_eq!(p.scale, 0.1);
        assert_eq!(p.zero_point, 0);
    }

    #[test]
    fn positive_range_has_zero_point_zero() {
        let p = choose_activation_params(0.5, 12.7);
        assert_eq!(p.scale, 0.1);
        assert_eq!(p.zero_point, 0);
    }

    #[test]
    fn negative_range_has_zero_point_at_qmax() {
        let p = choose_activation_params(-12.7, -1.0);
        assert_eq!(p.zero_point, 127);
    }

    #[test]
    fn symmetric_range_rounds_zero_point_half_even() {
        // scale = 2/127, zero point = 63.5 -> 64 (half to even).
        let p = choose_activation_params(-1.0, 1.0);
        assert_eq!(p.zero_point, 64);
        assert_eq!(p.scale, (2.0f64 / 127.0) as f32);
    }

    #[test]
    fn tiny_ranges_are_widened_to_the_small_scale_threshold() {
        let p = choose_activation_params(0.0, 1e-6);
        assert_eq!(p.scale, SMALL_SCALE_THRESHOLD);
        assert_eq!(p.zero_point, 0);
        // Both ends widened by the same factor: the zero point stays at 1/4 of the range.
        let p = choose_activation_params(-1e-6, 3e-6);
        assert_eq!(p.scale, SMALL_SCALE_THRESHOLD);
        assert_eq!(p.zero_point, 32);
    }
}
