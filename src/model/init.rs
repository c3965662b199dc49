//! Seeded, reproducible weights and inputs.

use ndarray::Array3;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal, Uniform};

use super::dims::ModelDims;
use super::linear::Linear;
use super::recurrent::{Recurrent, RecurrentLayer, RecurrentState};
use crate::error::Result;

/// Stream offsets so that weights and inputs of the same seed are independent.
const WEIGHT_STREAM: u64 = 0;
const INPUT_STREAM: u64 = 1;

fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

fn uniform_vec(rng: &mut ChaCha8Rng, len: usize, bound: f32) -> Vec<f32> {
    let dist = Uniform::new_inclusive(-bound, bound).expect("bound is finite and positive");
    (0..len).map(|_| dist.sample(rng)).collect()
}

/// A model with PyTorch's initialisation: every weight and bias uniform in ±1/√hidden_size
/// (the head's too), drawn from a seeded RNG layer by layer, direction by direction.
pub fn random_model(dims: ModelDims, seed: u64) -> Result<Recurrent<Linear>> {
    dims.validate()?;
    let h = dims.hidden_size;
    let rows = dims.cell.gates() * h;
    let bound = 1.0 / (h as f32).sqrt();
    let mut rng = rng(seed, WEIGHT_STREAM);
    let mut layers = Vec::with_capacity(dims.num_layers * dims.directions());
    for k in 0..dims.num_layers * dims.directions() {
        let input = dims.layer_input_size(k / dims.directions());
        let w_ih = uniform_vec(&mut rng, rows * input, bound);
        let w_hh = uniform_vec(&mut rng, rows * h, bound);
        let b_ih = uniform_vec(&mut rng, rows, bound);
        let b_hh = uniform_vec(&mut rng, rows, bound);
        layers.push(RecurrentLayer {
            ih: Linear::new(w_ih, b_ih, input, rows),
            hh: Linear::new(w_hh, b_hh, h, rows),
        });
    }
    let head = (dims.head > 0).then(|| {
        let features = dims.output_size();
        let w = uniform_vec(&mut rng, dims.head * features, bound);
        let b = uniform_vec(&mut rng, dims.head, bound);
        Linear::new(w, b, features, dims.head)
    });
    Ok(Recurrent::from_parts(layers, head, dims))
}

/// Standard-normal input `[seq_len, batch, input_size]` and initial state `(h0, c0)`, each
/// `[num_layers × directions, batch, hidden_size]` (a GRU's `c0` empty), as the recipe draws
/// them with `torch.randn`.
pub fn random_inputs(
    dims: ModelDims,
    seq_len: usize,
    batch: usize,
    seed: u64,
) -> (Array3<f32>, RecurrentState) {
    let mut rng = rng(seed, INPUT_STREAM);
    let mut normal =
        |shape: [usize; 3]| Array3::from_shape_simple_fn(shape, || StandardNormal.sample(&mut rng));
    let input = normal([seq_len, batch, dims.input_size]);
    let [h_shape, c_shape] = RecurrentState::shapes(dims, batch);
    let h = normal(h_shape);
    let c = normal(c_shape);
    (input, RecurrentState { h, c })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_model_other_seed_other_model() {
        let dims = ModelDims::square(8);
        let a = random_model(dims, 1).unwrap();
        assert_eq!(a, random_model(dims, 1).unwrap());
        assert_ne!(a, random_model(dims, 2).unwrap());
    }

    #[test]
    fn weights_lie_within_the_pytorch_bound() {
        let dims = ModelDims {
            head: 3,
            ..ModelDims::square(16)
        };
        let m = random_model(dims, 7).unwrap();
        let bound = 0.25;
        for layer in m.layers() {
            for v in layer.ih.weight().iter().chain(&layer.hh.bias) {
                assert!(v.abs() <= bound);
            }
        }
        let head = m.head().unwrap();
        assert!(head.weight().iter().all(|v| v.abs() <= bound));
        // Not all zero or constant: a real uniform spread.
        let w = m.layers()[0].ih.weight();
        let max = w.iter().cloned().fold(f32::MIN, f32::max);
        let min = w.iter().cloned().fold(f32::MAX, f32::min);
        assert!(max > 0.2 && min < -0.2, "{min} {max}");
    }

    #[test]
    fn inputs_are_standard_normal_and_seeded() {
        let dims = ModelDims::square(64);
        let (x, s) = random_inputs(dims, 50, 4, 3);
        assert_eq!(x.shape(), &[50, 4, 64]);
        assert_eq!(s.h.shape(), &[1, 4, 64]);
        let n = x.len() as f32;
        let mean = x.sum() / n;
        let var = x.mapv(|v| (v - mean) * (v - mean)).sum() / n;
        assert!(mean.abs() < 0.05, "{mean}");
        assert!((var - 1.0).abs() < 0.05, "{var}");
        assert_eq!(x, random_inputs(dims, 50, 4, 3).0);
        assert_ne!(x, random_inputs(dims, 50, 4, 4).0);
    }
}
