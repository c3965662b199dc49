//! Inputs that do not fit the model: a clear error, never a panic.

use dynq::model::{random_inputs, random_model};
use dynq::{DynqError, ModelDims, RecurrentState, RunOptions, Scheme, quantize_dynamic};
use ndarray::Array3;

fn dims() -> ModelDims {
    ModelDims {
        input_size: 4,
        hidden_size: 3,
        num_layers: 2,
        head: 0,
        ..ModelDims::square(1)
    }
}

#[test]
fn shape_mismatches_name_the_tensor_and_the_expected_shape() {
    let fp32 = random_model(dims(), 1).unwrap();
    for scheme in Scheme::ALL {
        let model = quantize_dynamic(&fp32, scheme);
        let wrong_features = Array3::<f32>::zeros((5, 2, 7));
        let err = model
            .forward(wrong_features.view(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("input") && err.contains("[5, 2, 4]"), "{err}");

        let empty = Array3::<f32>::zeros((0, 2, 4));
        assert!(model.forward(empty.view(), None).is_err());

        let (input, _) = random_inputs(dims(), 5, 2, 1);
        let state = RecurrentState {
            h: Array3::zeros((2, 3, 3)),
            c: Array3::zeros((2, 2, 3)),
        };
        let err = model
            .forward(input.view(), Some(&state))
            .unwrap_err()
            .to_string();
        assert!(err.contains("h0") && err.contains("[2, 2, 3]"), "{err}");
    }
}

#[test]
fn non_finite_inputs_are_refused() {
    let model = quantize_dynamic(&random_model(dims(), 1).unwrap(), Scheme::Int8);
    let (mut input, mut state) = random_inputs(dims(), 3, 1, 1);
    input[[1, 0, 2]] = f32::NAN;
    let err = model.forward(input.view(), None).unwrap_err();
    assert!(
        matches!(err, DynqError::NonFinite { index: 6, .. }),
        "{err}"
    );
    input[[1, 0, 2]] = 0.0;
    state.c[[1, 0, 0]] = f32::INFINITY;
    let err = model
        .forward(input.view(), Some(&state))
        .unwrap_err()
        .to_string();
    assert!(err.contains("c0"), "{err}");
}

/// An input large enough for its values to be checked on two threads names the first bad
/// value, wherever the threads split it.
#[test]
fn non_finite_values_of_a_large_input_are_found_on_any_thread() {
    let dims = ModelDims {
        input_size: 64,
        ..dims()
    };
    let model = quantize_dynamic(&random_model(dims, 1).unwrap(), Scheme::Int8)
        .with_run_options(RunOptions {
            threads: 2,
            ..RunOptions::default()
        })
        .unwrap();
    // 20 × 64 rows of 64: 81920 values, two threads' worth.
    let (mut input, _) = random_inputs(dims, 20, 64, 1);
    let len = input.len();
    for (first, second) in [(len - 3, len - 1), (70, len / 2 + 5)] {
        let flat = input.as_slice_mut().unwrap();
        flat[second] = f32::NEG_INFINITY;
        flat[first] = f32::NAN;
        let err = model.forward(input.view(), None).unwrap_err();
        assert!(
            matches!(&err, DynqError::NonFinite { what, index } if what == "input" && *index == first),
            "{err}"
        );
        let flat = input.as_slice_mut().unwrap();
        (flat[first], flat[second]) = (0.5, 0.5);
    }
    assert!(model.forward(input.view(), None).is_ok());
}

#[test]
fn zero_and_absurd_sizes_are_refused() {
    for bad in [
        ModelDims {
            input_size: 0,
            ..dims()
        },
        ModelDims {
            hidden_size: 0,
            ..dims()
        },
        ModelDims {
            num_layers: 0,
            ..dims()
        },
        ModelDims {
            hidden_size: 1 << 40,
            ..dims()
        },
    ] {
        let err = random_model(bad, 1).unwrap_err();
        assert!(matches!(err, DynqError::InvalidDimension { .. }), "{err}");
    }
}

#[test]
fn extreme_but_finite_inputs_give_finite_quantized_outputs() {
    let fp32 = random_model(dims(), 1).unwrap();
    let (input, state) = random_inputs(dims(), 3, 2, 1);
    for scale in [1e-30f32, 1e20] {
        let scaled = input.mapv(|v| v * scale);
        for scheme in [Scheme::Int8, Scheme::Int8PerChannel, Scheme::Int8Qnnpack] {
            let out = quantize_dynamic(&fp32, scheme)
                .forward(scaled.view(), Some(&state))
                .unwrap();
            assert!(
                out.lstm_output.iter().all(|v| v.is_finite()),
                "{scheme} at {scale}"
            );
        }
    }
}

#[test]
fn non_contiguous_inputs_compute_the_same_as_contiguous_ones() {
    let model = quantize_dynamic(&random_model(dims(), 1).unwrap(), Scheme::Int8);
    let (input, state) = random_inputs(dims(), 3, 2, 1);
    // Every other column of a wider array: same values, strided layout.
    let mut wide = Array3::<f32>::zeros((3, 2, 8));
    wide.slice_mut(ndarray::s![.., .., ..;2]).assign(&input);
    let strided = wide.slice(ndarray::s![.., .., ..;2]);
    assert!(strided.as_slice().is_none());
    let a = model.forward(input.view(), Some(&state)).unwrap();
    let b = model.forward(strided, Some(&state)).unwrap();
    assert_eq!(a, b);
}
