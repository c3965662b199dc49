//! Greedy text generation: what a variant writes after a prompt, one token at a time.

use ndarray::Array3;

use crate::error::{DynqError, Result};
use crate::model::{Embedding, RecurrentOutput, Workspace};
use crate::quant::Model;

/// Continues `prompt` with `count` tokens, each the most likely next one (as `torch.argmax`),
/// the prompt read as one sequence and every new token fed back as the next step.
pub fn generate_greedy(
    model: &Model,
    embedding: &Embedding,
    prompt: &[u32],
    count: usize,
    workspace: &mut Workspace,
) -> Result<Vec<u32>> {
    if prompt.is_empty() {
        return Err(DynqError::Unsupported(
            "the prompt needs at least one token".into(),
        ));
    }
    let features = embedding.features();
    let mut input = Array3::zeros([prompt.len(), 1, features]);
    embedding.lookup_into(prompt, input.as_slice_mut().expect("contiguous"));
    let mut output = RecurrentOutput::default();
    model.forward_into(input.view(), None, workspace, &mut output)?;
    let mut state = crate::model::RecurrentState {
        h: output.h_n.clone(),
        c: output.c_n.clone(),
    };
    let mut step = Array3::zeros([1, 1, features]);
    let mut generated = Vec::with_capacity(count);
    for _ in 0..count {
        let logits = output.output();
        let last = logits.index_axis(ndarray::Axis(0), logits.dim().0 - 1);
        let next = argmax(last.as_slice().expect("contiguous"));
        generated.push(next);
        if generated.len() == count {
            break;
        }
        embedding.lookup_into(&[next], step.as_slice_mut().expect("contiguous"));
        model.forward_into(step.view(), Some(&state), workspace, &mut output)?;
        state.h.assign(&output.h_n);
        state.c.assign(&output.c_n);
    }
    Ok(generated)
}

/// The first index of the largest value.
fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u32
}

/// The index of the first token where `a` and `b` differ, `None` when one starts the other.
pub fn first_difference(a: &[u32], b: &[u32]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y)
}
