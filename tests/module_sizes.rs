//! The size per module (computed from the dimensions alone) against the files dynq writes:
//! for every scheme and shape, the modules' bytes add up to the file's tensor bytes exactly
//! (the file adds only its header), and each module's share is the tensors under its names.

use std::path::Path;

use dynq::io::Cell;
use dynq::lm::{ModelFile, language_model_bytes};
use dynq::model::random_model;
use dynq::quant::{ModuleSize, file_modules, heaviest_unshrunk, module_sizes};
use dynq::{ModelDims, Scheme, quantize_dynamic};
use safetensors::SafeTensors;

/// Bytes of the tensors of a safetensors file whose names pass `keep`.
fn tensor_bytes(file: &[u8], keep: impl Fn(&str) -> bool) -> u64 {
    let tensors = SafeTensors::deserialize(file).unwrap();
    tensors
        .tensors()
        .iter()
        .filter(|(name, _)| keep(name))
        .map(|(_, view)| view.data().len() as u64)
        .sum()
}

fn total(modules: &[ModuleSize]) -> u64 {
    modules.iter().map(|m| m.bytes).sum()
}

#[test]
fn every_schemes_modules_add_up_to_its_files_tensors() {
    let shapes = [
        ModelDims::square(8),
        ModelDims {
            input_size: 5,
            hidden_size: 7,
            num_layers: 2,
            head: 3,
            cell: Cell::Gru,
            bidirectional: true,
        },
        ModelDims {
            num_layers: 3,
            head: 11,
            ..ModelDims::square(16)
        },
    ];
    for dims in shapes {
        let fp32 = random_model(dims, 7).unwrap();
        let fp32_bytes = total(&module_sizes(&dims, Scheme::Fp32, None));
        for scheme in Scheme::ALL {
            let file = quantize_dynamic(&fp32, scheme).to_safetensors();
            let modules = module_sizes(&dims, scheme, None);
            assert_eq!(
                total(&modules),
                tensor_bytes(&file, |_| true),
                "{scheme} {dims:?}"
            );
            let fp32_total: u64 = modules.iter().map(|m| m.fp32_bytes).sum();
            assert_eq!(fp32_total, fp32_bytes, "{scheme} {dims:?}");
            // With the header, the modules are the whole file.
            let fp32_file = quantize_dynamic(&fp32, Scheme::Fp32).to_safetensors().len() as u64;
            let whole = file_modules(&dims, scheme, None, file.len() as u64, fp32_file);
            assert_eq!(total(&whole), file.len() as u64);
            assert_eq!(whole.iter().map(|m| m.fp32_bytes).sum::<u64>(), fp32_file);
            assert_eq!(whole.last().unwrap().name, "file header");
        }
        // Each direction of each layer: the tensors named after it.
        let file = quantize_dynamic(&fp32, Scheme::Int8PerChannel).to_safetensors();
        let modules = module_sizes(&dims, Scheme::Int8PerChannel, None);
        // `lstm.weight_ih_l0.int8`, `gru.bias_hh_l1_reverse`, ...: the map's name, less its
        // int8 file's suffixes.
        let module_of = |name: &str| {
            let name = name.strip_suffix(".int8").unwrap_or(name);
            name.strip_suffix(".scale").unwrap_or(name).to_string()
        };
        for layer in 0..dims.num_layers {
            let forward = format!("_l{layer}");
            let reverse = format!("_l{layer}_reverse");
            let forward_bytes = tensor_bytes(&file, |n| module_of(n).ends_with(&forward));
            let name = format!("{} layer {layer}", dims.cell.name());
            let module = modules.iter().find(|m| m.name == name).unwrap();
            assert_eq!(module.bytes, forward_bytes, "{name}");
            if dims.bidirectional {
                let reverse_bytes = tensor_bytes(&file, |n| module_of(n).ends_with(&reverse));
                let module = modules.iter().find(|m| m.name == format!("{name} reverse"));
                assert_eq!(module.unwrap().bytes, reverse_bytes);
            }
        }
    }
}

#[test]
fn the_shipped_language_model_is_held_back_by_its_embedding_until_it_is_quantized() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/shakespeare-charlstm.safetensors");
    let lm = ModelFile::load(&path)
        .unwrap()
        .into_language_model("shipped")
        .unwrap();
    let dims = lm.lstm.dims();
    let rows = Some(lm.embedding.rows());
    for scheme in Scheme::ALL {
        let file = language_model_bytes(&lm.variant(scheme), &lm.stored_embedding(scheme));
        let modules = module_sizes(&dims, scheme, rows);
        assert_eq!(total(&modules), tensor_bytes(&file, |_| true), "{scheme}");
        let embedding = tensor_bytes(&file, |n| n.starts_with("encoder."));
        assert_eq!(modules[0].name, "embedding");
        assert_eq!(modules[0].bytes, embedding, "{scheme}");
        // dynq writes the head under `fc.` whatever the file read called it.
        let decoder = tensor_bytes(&file, |n| n.starts_with("fc."));
        assert_eq!(modules.last().unwrap().name, "decoder");
        assert_eq!(modules.last().unwrap().bytes, decoder, "{scheme}");
    }
    let int8 = module_sizes(&dims, Scheme::Int8, rows);
    assert_eq!(heaviest_unshrunk(&int8).unwrap().name, "embedding");
    let quantized = module_sizes(&dims, Scheme::Int8Embedding, rows);
    assert_eq!(quantized[0].dtype, "quint8");
    assert_ne!(heaviest_unshrunk(&quantized).unwrap().name, "embedding");
    assert!(total(&quantized) < total(&int8));
}
