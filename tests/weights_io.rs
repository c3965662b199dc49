//! Weight files: PyTorch state_dicts in, every variant out and back, clear errors for bad files.

mod common;

use std::collections::HashMap;

use common::fixture;
use dynq::check::ReferenceCase;
use dynq::model::{LinearOp, load_fp32, parse_fp32, random_inputs, random_model};
use dynq::{Model, ModelDims, Scheme, quantize_dynamic};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

/// Serializes `(name, dtype, shape, bytes)` tensors.
fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn f32_bytes(n: usize, value: f32) -> Vec<u8> {
    (0..n).flat_map(|_| value.to_le_bytes()).collect()
}

/// A valid nn.LSTM(3, 2) state_dict without the `lstm.` prefix, with one tensor changed by `edit`.
fn lstm_3_2(edit: impl FnOnce(&mut Vec<(&'static str, Dtype, Vec<usize>, Vec<u8>)>)) -> Vec<u8> {
    let mut tensors = vec![
        ("weight_ih_l0", Dtype::F32, vec![8, 3], f32_bytes(24, 0.1)),
        ("weight_hh_l0", Dtype::F32, vec![8, 2], f32_bytes(16, 0.1)),
        ("bias_ih_l0", Dtype::F32, vec![8], f32_bytes(8, 0.1)),
        ("bias_hh_l0", Dtype::F32, vec![8], f32_bytes(8, 0.1)),
    ];
    edit(&mut tensors);
    file(&tensors)
}

#[test]
fn every_variant_round_trips_through_safetensors_unchanged() {
    let dims = ModelDims {
        input_size: 6,
        hidden_size: 5,
        num_layers: 2,
        head: 3,
        ..ModelDims::square(1)
    };
    let fp32 = random_model(dims, 11).unwrap();
    let (input, state) = random_inputs(dims, 4, 2, 11);
    let dir = tempfile::tempdir().unwrap();
    for scheme in Scheme::ALL {
        let model = quantize_dynamic(&fp32, scheme);
        let path = dir.path().join(format!("{scheme}.safetensors"));
        let size = model.save(&path).unwrap();
        assert_eq!(size, std::fs::metadata(&path).unwrap().len());
        let loaded = Model::load(&path).unwrap();
        assert_eq!(loaded.scheme(), scheme);
        assert_eq!(loaded, model, "{scheme}");
        let a = model.forward(input.view(), Some(&state)).unwrap();
        let b = loaded.forward(input.view(), Some(&state)).unwrap();
        assert_eq!(a, b, "{scheme}");
    }
}

#[test]
fn int8_files_hold_int8_weights_f32_scales_and_biases_and_fp16_files_f16_weights() {
    let fp32 = random_model(ModelDims::square(4), 1).unwrap();
    let bytes = quantize_dynamic(&fp32, Scheme::Int8PerChannel).to_safetensors();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor("lstm.weight_ih_l0.int8").unwrap();
    assert_eq!((t.dtype(), t.shape()), (Dtype::I8, &[16, 4][..]));
    let t = st.tensor("lstm.weight_hh_l0.scale").unwrap();
    assert_eq!((t.dtype(), t.shape()), (Dtype::F32, &[16][..]));
    assert_eq!(st.tensor("lstm.bias_ih_l0").unwrap().dtype(), Dtype::F32);

    let bytes = quantize_dynamic(&fp32, Scheme::Fp16).to_safetensors();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("lstm.weight_ih_l0").unwrap().dtype(), Dtype::F16);
    assert_eq!(st.tensor("lstm.bias_hh_l0").unwrap().dtype(), Dtype::F32);
}

#[test]
fn the_size_ratio_grows_with_the_dimension_and_passes_3_9_at_1024() {
    let mut previous = 0.0;
    for dim in [8, 32, 128, 512, 1024] {
        let fp32 = random_model(ModelDims::square(dim), 0).unwrap();
        let a = quantize_dynamic(&fp32, Scheme::Fp32).to_safetensors().len() as f64;
        let b = quantize_dynamic(&fp32, Scheme::Int8).to_safetensors().len() as f64;
        let ratio = a / b;
        assert!(ratio > previous, "dim {dim}: {ratio} after {previous}");
        assert!(ratio < 4.0);
        previous = ratio;
    }
    assert!(previous > 3.9, "{previous}");
}

#[test]
fn a_pytorch_state_dict_loads_with_or_without_the_lstm_prefix() {
    let case = load_fp32(&fixture("head_dim64")).unwrap();
    assert_eq!(
        case.dims(),
        ModelDims {
            input_size: 64,
            hidden_size: 64,
            num_layers: 2,
            head: 10,
            ..ModelDims::square(1)
        }
    );
    let bare = parse_fp32(&lstm_3_2(|_| {}), "bare").unwrap();
    assert_eq!(
        bare.dims(),
        ModelDims {
            input_size: 3,
            hidden_size: 2,
            num_layers: 1,
            head: 0,
            ..ModelDims::square(1)
        }
    );
    // nn.LSTM(bias=False) has no bias tensors at all.
    let no_bias = parse_fp32(
        &lstm_3_2(|t| t.retain(|t| !t.0.starts_with("bias"))),
        "nobias",
    );
    assert!(no_bias.is_ok());
}

fn error_of(bytes: &[u8]) -> String {
    parse_fp32(bytes, "model.safetensors")
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_weight_files_name_the_tensor_and_what_was_expected() {
    let missing = error_of(&lstm_3_2(|t| t.retain(|t| t.0 != "weight_hh_l0")));
    assert!(
        missing.contains("model.safetensors") && missing.contains("'weight_hh_l0'"),
        "{missing}"
    );

    let shape = error_of(&lstm_3_2(|t| t[1].2 = vec![2, 8]));
    assert!(
        shape.contains("'weight_hh_l0'") && shape.contains("[8, 2]"),
        "{shape}"
    );

    let dtype = error_of(&lstm_3_2(|t| {
        t[2] = (
            "bias_ih_l0",
            Dtype::F64,
            vec![8],
            (0..8).flat_map(|_| 0.5f64.to_le_bytes()).collect(),
        )
    }));
    assert!(
        dtype.contains("'bias_ih_l0'") && dtype.contains("F64") && dtype.contains("F32"),
        "{dtype}"
    );

    let nan = error_of(&lstm_3_2(|t| {
        t[0].3[..4].copy_from_slice(&f32::NAN.to_le_bytes())
    }));
    assert!(
        nan.contains("weight_ih_l0") && nan.contains("non-finite"),
        "{nan}"
    );

    let not_lstm = error_of(&file(&[(
        "encoder.weight",
        Dtype::F32,
        vec![2],
        f32_bytes(2, 1.0),
    )]));
    assert!(not_lstm.contains("'lstm.weight_ih_l0'"), "{not_lstm}");

    let bidirectional = error_of(&lstm_3_2(|t| {
        t.push((
            "weight_ih_l0_reverse",
            Dtype::F32,
            vec![8, 3],
            f32_bytes(24, 0.1),
        ))
    }));
    // A reverse direction must be whole: the first of its tensors that is missing is named.
    assert!(
        bidirectional.contains("missing tensor 'bias_ih_l0_reverse'"),
        "{bidirectional}"
    );

    let bytes = std::fs::read(fixture("odd_shapes")).unwrap();
    for cut in [0, 7, 100, bytes.len() - 1] {
        let message = error_of(&bytes[..cut]);
        assert!(
            message.contains("not a readable safetensors file"),
            "{cut}: {message}"
        );
    }
    assert!(error_of(b"this is a text file, not safetensors").contains("safetensors"));
}

#[test]
fn quantized_files_with_a_missing_scale_are_refused() {
    let fp32 = random_model(ModelDims::square(4), 1).unwrap();
    let bytes = quantize_dynamic(&fp32, Scheme::Int8).to_safetensors();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<(String, TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| n != "lstm.weight_hh_l0.scale")
        .collect();
    let metadata = HashMap::from([("dynq_scheme".to_string(), "int8".to_string())]);
    let broken = safetensors::serialize(kept, Some(metadata)).unwrap();
    let err = Model::from_safetensors(&broken, "q.safetensors")
        .unwrap_err()
        .to_string();
    assert!(err.contains("'lstm.weight_hh_l0.scale'"), "{err}");
}

#[test]
fn saving_never_leaves_a_partial_file_behind() {
    let model = quantize_dynamic(
        &random_model(ModelDims::square(4), 1).unwrap(),
        Scheme::Int8,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("m.safetensors");
    assert!(model.save(&path).is_err());
    let target = dir.path().join("m.safetensors");
    std::fs::write(&target, b"user data").unwrap();
    model.save(&target).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary files left: {names:?}");
}

/// The little-endian bytes of f32 values.
fn f32_le(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Serializes owned `(name, dtype, shape, bytes)` tensors with metadata.
fn file_with_metadata(
    tensors: &[(String, Dtype, Vec<usize>, Vec<u8>)],
    metadata: Option<HashMap<String, String>>,
) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, metadata).unwrap()
}

/// `bytes` without the tensors `drop` picks, metadata kept.
fn without(bytes: &[u8], drop: impl Fn(&str) -> bool) -> Vec<u8> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let kept: Vec<(String, TensorView<'_>)> =
        st.tensors().into_iter().filter(|(n, _)| !drop(n)).collect();
    safetensors::serialize(kept, header.metadata().clone()).unwrap()
}

/// A bare nn.LSTM(3, 2, num_layers=2, bias=False) state_dict with distinct weights.
fn lstm_without_bias() -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    let weight = |rows: usize, cols: usize, seed: f32| {
        let values: Vec<f32> = (0..rows * cols)
            .map(|i| ((i as f32 + seed) * 0.37).sin() * 0.5)
            .collect();
        f32_le(&values)
    };
    [("ih", 0, 3), ("hh", 0, 2), ("ih", 1, 2), ("hh", 1, 2)]
        .into_iter()
        .enumerate()
        .map(|(seed, (kind, k, cols))| {
            let name = format!("weight_{kind}_l{k}");
            (
                name,
                Dtype::F32,
                vec![8, cols],
                weight(8, cols, seed as f32),
            )
        })
        .collect()
}

#[test]
fn a_bias_free_lstm_reads_as_zero_biases_in_every_variant_and_round_trips() {
    let fp32 = parse_fp32(&file_with_metadata(&lstm_without_bias(), None), "nobias").unwrap();
    assert_eq!(fp32.layers().len(), 2);
    for layer in fp32.layers() {
        assert!(
            layer
                .ih
                .bias
                .iter()
                .chain(&layer.hh.bias)
                .all(|&b| b == 0.0)
        );
    }
    let (input, state) = random_inputs(fp32.dims(), 3, 2, 5);
    for scheme in Scheme::ALL {
        let model = quantize_dynamic(&fp32, scheme);
        let bytes = model.to_safetensors();
        assert_eq!(Model::from_safetensors(&bytes, "written").unwrap(), model);
        // A file that, like PyTorch's state_dict of a bias=False model, holds no bias tensors.
        let no_bias = without(&bytes, |n| n.starts_with("lstm.bias"));
        assert_ne!(no_bias.len(), bytes.len(), "{scheme}: biases were dropped");
        let loaded = Model::from_safetensors(&no_bias, "nobias").unwrap();
        assert_eq!(loaded, model, "{scheme}");
        assert_eq!(
            loaded.forward(input.view(), Some(&state)).unwrap(),
            model.forward(input.view(), Some(&state)).unwrap(),
            "{scheme}"
        );
    }
}

#[test]
fn a_reference_case_of_a_bare_bias_free_lstm_loads_with_its_quantized_weights() {
    let mut tensors = lstm_without_bias();
    let fp32 = parse_fp32(&file_with_metadata(&tensors, None), "nobias").unwrap();
    let (input, state) = random_inputs(fp32.dims(), 4, 1, 9);
    let array = |name: &str, a: &ndarray::Array3<f32>| {
        let values: Vec<f32> = a.iter().copied().collect();
        (
            name.to_string(),
            Dtype::F32,
            a.shape().to_vec(),
            f32_le(&values),
        )
    };
    tensors.push(array("input", &input));
    tensors.push(array("h0", &state.h));
    tensors.push(array("c0", &state.c));
    for scheme in [Scheme::Fp32, Scheme::Int8] {
        let model = quantize_dynamic(&fp32, scheme);
        let out = model.forward(input.view(), Some(&state)).unwrap();
        tensors.push(array(&format!("{scheme}.lstm_output"), &out.lstm_output));
        tensors.push(array(&format!("{scheme}.h_n"), &out.h_n));
        tensors.push(array(&format!("{scheme}.c_n"), &out.c_n));
        if let Model::Int8(q) = &model {
            for (k, layer) in q.layers().iter().enumerate() {
                for (kind, map) in [("ih", &layer.ih), ("hh", &layer.hh)] {
                    let name = format!("{scheme}.weight_{kind}_l{k}");
                    let weights: Vec<u8> = map.weights().iter().map(|&w| w as u8).collect();
                    let shape = vec![map.out_features(), map.in_features()];
                    tensors.push((format!("{name}.int8"), Dtype::I8, shape, weights));
                    let scales: Vec<u8> = map
                        .scales()
                        .iter()
                        .flat_map(|&s| f64::from(s).to_le_bytes())
                        .collect();
                    tensors.push((format!("{name}.scale"), Dtype::F64, vec![1], scales));
                }
            }
        }
    }
    let case = ReferenceCase::parse(&file_with_metadata(&tensors, None), "case").unwrap();
    assert_eq!(case.model, fp32);
    let int8 = &case.expectations[1];
    assert_eq!(int8.scheme, Scheme::Int8);
    let names: Vec<&str> = int8
        .quantized_weights
        .iter()
        .map(|(n, _, _)| n.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "weight_ih_l0",
            "weight_hh_l0",
            "weight_ih_l1",
            "weight_hh_l1"
        ]
    );
    let report = case.check().unwrap();
    assert!(report.pass(), "{}", report.to_text());
    assert_eq!(report.variants[1].weights_equal, Some(true));
}

#[test]
fn saved_files_hold_exactly_pytorchs_names_and_dynqs_tensors() {
    // Built by hand from the model's parameters: the layout the size figures measure.
    let dims = ModelDims {
        input_size: 3,
        hidden_size: 2,
        num_layers: 2,
        head: 2,
        ..ModelDims::square(1)
    };
    let fp32 = random_model(dims, 4).unwrap();
    let metadata =
        |scheme: Scheme| Some(HashMap::from([("dynq_scheme".into(), scheme.to_string())]));
    let maps = |k: usize| [("ih", &fp32.layers()[k].ih), ("hh", &fp32.layers()[k].hh)];
    let mut expected = Vec::new();
    for k in 0..2 {
        for (kind, l) in maps(k) {
            let shape = vec![l.out_features(), l.in_features()];
            expected.push((
                format!("lstm.weight_{kind}_l{k}"),
                Dtype::F32,
                shape,
                f32_le(&l.weight()),
            ));
            expected.push((
                format!("lstm.bias_{kind}_l{k}"),
                Dtype::F32,
                vec![8],
                f32_le(&l.bias),
            ));
        }
    }
    let head = fp32.head().unwrap();
    expected.push((
        "fc.weight".into(),
        Dtype::F32,
        vec![2, 2],
        f32_le(&head.weight()),
    ));
    expected.push(("fc.bias".into(), Dtype::F32, vec![2], f32_le(&head.bias)));
    assert_eq!(
        quantize_dynamic(&fp32, Scheme::Fp32).to_safetensors(),
        file_with_metadata(&expected, metadata(Scheme::Fp32))
    );

    let Model::Int8(q) = quantize_dynamic(&fp32, Scheme::Int8) else {
        unreachable!()
    };
    let mut expected = Vec::new();
    let named = q.layers().iter().enumerate().flat_map(|(k, layer)| {
        [("ih", &layer.ih), ("hh", &layer.hh)].map(|(kind, map)| {
            (
                format!("lstm.weight_{kind}_l{k}"),
                format!("lstm.bias_{kind}_l{k}"),
                map,
            )
        })
    });
    let head = (
        "fc.weight".to_string(),
        "fc.bias".to_string(),
        q.head().unwrap(),
    );
    for (weight, bias, map) in named.chain([head]) {
        let shape = vec![map.out_features(), map.in_features()];
        let int8: Vec<u8> = map.weights().iter().map(|&w| w as u8).collect();
        expected.push((format!("{weight}.int8"), Dtype::I8, shape, int8));
        expected.push((
            format!("{weight}.scale"),
            Dtype::F32,
            vec![1],
            f32_le(map.scales()),
        ));
        expected.push((
            bias,
            Dtype::F32,
            vec![map.out_features()],
            f32_le(map.bias()),
        ));
    }
    assert_eq!(
        Model::Int8(q).to_safetensors(),
        file_with_metadata(&expected, metadata(Scheme::Int8))
    );
}
