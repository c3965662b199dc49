//! Activation quantization parameters, chosen exactly as PyTorch chooses them for a dynamic
//! linear map's input under each of its quantized engines: the kernels pick them from each
//! input's range.

/// Smallest activation scale PyTorch allows; smaller ranges are widened to it.
const SMALL_SCALE_THRESHOLD: f32 = 6.1e-5;

/// Largest quantized activation value with `reduce_range` (PyTorch's x86 engine always sets it
/// for dynamic Linear and LSTM): activations use 7 of the 8 bits.
pub const ACTIVATION_QMAX: i32 = 127;

/// Which of PyTorch's quantized engines an int8 map computes like: they quantize the weights
/// alike but differ in the activations' range and in how products are rescaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Engine {
    /// `x86` (fbgemm), PyTorch's engine on x86 servers: activations to 0..=127
    /// (`reduce_range`), products rescaled with one fused multiply-add.
    #[default]
    X86,
    /// `qnnpack`, PyTorch's engine on ARM: activations over all of 0..=255, products
    /// rescaled with a multiply, rounded, then the bias added.
    Qnnpack,
}

impl Engine {
    /// The largest quantized activation value this engine chooses parameters for.
    pub fn qmax(self) -> i32 {
        match self {
            Engine::X86 => ACTIVATION_QMAX,
            Engine::Qnnpack => 255,
        }
    }

    /// The largest value a quantized activation can hold: `x / scale` and the zero point are
    /// rounded separately, so with `reduce_range` the top value can reach 128.
    pub fn activation_max(self) -> u8 {
        match self {
            Engine::X86 => 128,
            Engine::Qnnpack => 255,
        }
    }

    /// Whether `acc · scale + bias` is one fused multiply-add (x86) or a multiply, rounded,
    /// then an add (qnnpack).
    pub fn fused_rescale(self) -> bool {
        self == Engine::X86
    }

    /// PyTorch's name for the engine (`torch.backends.quantized.engine`).
    pub fn name(self) -> &'static str {
        match self {
            Engine::X86 => "x86",
            Engine::Qnnpack => "qnnpack",
        }
    }
}

/// Affine parameters of a quantized activation tensor: `real = scale · (q − zero_point)`, and
/// the engine whose rules chose them (it also decides how products with it are rescaled).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ActivationParams {
    /// Step between consecutive quantized values.
    pub scale: f32,
    /// The quantized value that represents 0.0.
    pub zero_point: i32,
    /// The engine that chose them.
    pub engine: Engine,
}

/// Chooses uint8 parameters for a tensor whose values lie in `[min, max]` as `engine` does
/// (`qmin = 0`, `qmax` 127 with `reduce_range` on x86, 255 on qnnpack), following
/// `ChooseQuantizationParams` (fbgemm's, which ATen's qnnpack path shares).
#[inline]
pub fn choose_activation_params(engine: Engine, min: f32, max: f32) -> ActivationParams {
    let qmin = 0i32;
    let qmax = engine.qmax();
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
    ActivationParams {
        scale,
        zero_point,
        engine,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_range_uses_the_fallback_scale() {
        let p = choose_activation_params(Engine::X86, 0.0, 0.0);
        assert_eq!(p.scale, 0.1);
        assert_eq!(p.zero_point, 0);
    }

    #[test]
    fn positive_range_has_zero_point_zero() {
        let p = choose_activation_params(Engine::X86, 0.5, 12.7);
        assert_eq!(p.scale, 0.1);
        assert_eq!(p.zero_point, 0);
    }

    #[test]
    fn negative_range_has_zero_point_at_qmax() {
        let p = choose_activation_params(Engine::X86, -12.7, -1.0);
        assert_eq!(p.zero_point, 127);
    }

    #[test]
    fn symmetric_range_rounds_zero_point_half_even() {
        // scale = 2/127, zero point = 63.5 -> 64 (half to even).
        let p = choose_activation_params(Engine::X86, -1.0, 1.0);
        assert_eq!(p.zero_point, 64);
        assert_eq!(p.scale, (2.0f64 / 127.0) as f32);
    }

    #[test]
    fn tiny_ranges_are_widened_to_the_small_scale_threshold() {
        let p = choose_activation_params(Engine::X86, 0.0, 1e-6);
        assert_eq!(p.scale, SMALL_SCALE_THRESHOLD);
        assert_eq!(p.zero_point, 0);
        // Both ends widened by the same factor: the zero point stays at 1/4 of the range.
        let p = choose_activation_params(Engine::X86, -1e-6, 3e-6);
        assert_eq!(p.scale, SMALL_SCALE_THRESHOLD);
        assert_eq!(p.zero_point, 32);
    }

    #[test]
    fn qnnpack_uses_the_whole_byte() {
        // scale = 2.5/255, zero point = 0.5 / scale = 51 (x86 would give 25.4 -> 25).
        let p = choose_activation_params(Engine::Qnnpack, -0.5, 2.0);
        assert_eq!(p.scale, (2.5f64 / 255.0) as f32);
        assert_eq!(p.zero_point, 51);
        assert_eq!(
            choose_activation_params(Engine::X86, -0.5, 2.0).zero_point,
            25
        );
        assert_eq!(p.engine, Engine::Qnnpack);
        let p = choose_activation_params(Engine::Qnnpack, -25.5, -1.0);
        assert_eq!((p.scale, p.zero_point), (0.1, 255));
        let p = choose_activation_params(Engine::Qnnpack, 0.0, 1e-6);
        assert_eq!((p.scale, p.zero_point), (SMALL_SCALE_THRESHOLD, 0));
    }
}
