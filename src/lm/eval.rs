//! Evaluating a language model on text with the protocol of PyTorch's tutorial
//! (`word_language_model/main.py`'s `evaluate`): the tokens `batchify`'d into columns, read
//! in chunks of `bptt` steps with the hidden state carried from chunk to chunk, the loss the
//! mean cross-entropy over every predicted token. Every variant reads the same chunk in turn, so
//! the figures fill in step and top-1 agreement with FP32 is counted position by position.

use std::time::Instant;

use ndarray::Array3;

use crate::error::{DynqError, Result};
use crate::metrics::TaskTotals;
use crate::model::{Embedding, ModelDims, RecurrentOutput, RecurrentState, Workspace};
use crate::quant::Model;

/// Tokens in the tutorial's `batchify` layout: `batch` columns of `steps` consecutive tokens
/// (the tail that does not fill a column dropped), stored step by step.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenGrid {
    ids: Vec<u32>,
    steps: usize,
    batch: usize,
}

impl TokenGrid {
    /// `batchify(data, batch)`: column `b` holds tokens `b*steps .. (b+1)*steps`. Fails when a
    /// column would hold fewer than two tokens (nothing to predict).
    pub fn batchify(tokens: &[u32], batch: usize) -> Result<TokenGrid> {
        let steps = tokens.len().checked_div(batch).unwrap_or(0);
        if batch == 0 || steps < 2 {
            return Err(DynqError::Unsupported(format!(
                "data: {} tokens cannot fill {batch} columns of at least two tokens: give more \
                 text or a smaller --eval-batch",
                tokens.len()
            )));
        }
        let mut ids = vec![0; steps * batch];
        for (b, column) in tokens.chunks_exact(steps).take(batch).enumerate() {
            for (step, &id) in column.iter().enumerate() {
                ids[step * batch + b] = id;
            }
        }
        Ok(TokenGrid { ids, steps, batch })
    }

    /// Steps per column.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Columns.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The tokens of steps `rows`, step by step (`rows.len() × batch`).
    pub fn rows(&self, rows: std::ops::Range<usize>) -> &[u32] {
        &self.ids[rows.start * self.batch..rows.end * self.batch]
    }

    /// Tokens the evaluation predicts: every step but the first, in every column.
    pub fn predicted_tokens(&self) -> u64 {
        ((self.steps - 1) * self.batch) as u64
    }
}

/// One variant's running evaluation: its state, carried across chunks, and its totals.
#[derive(Debug, Clone)]
struct VariantRun {
    state: RecurrentState,
    output: RecurrentOutput,
    totals: TaskTotals,
}

/// An evaluation of several variants of one language model over one text, chunk by chunk.
#[derive(Debug, Clone)]
pub struct Evaluation {
    grid: TokenGrid,
    bptt: usize,
    /// The first step of the next chunk.
    next_step: usize,
    input: Array3<f32>,
    reference_top1: Vec<u32>,
    runs: Vec<VariantRun>,
}

impl Evaluation {
    /// An evaluation of `variants` models of `dims` over `grid` in chunks of `bptt` steps,
    /// from zero states (`model.init_hidden`).
    pub fn new(
        grid: TokenGrid,
        bptt: usize,
        variants: usize,
        dims: ModelDims,
    ) -> Result<Evaluation> {
        if bptt == 0 {
            return Err(DynqError::InvalidDimension {
                what: "bptt",
                value: 0,
                expected: "expected at least 1 step per chunk".into(),
            });
        }
        let run = VariantRun {
            state: RecurrentState::zeros(dims, grid.batch),
            output: RecurrentOutput::default(),
            totals: TaskTotals::default(),
        };
        Ok(Evaluation {
            grid,
            bptt,
            next_step: 0,
            input: Array3::zeros([0, 0, 0]),
            reference_top1: Vec::new(),
            runs: vec![run; variants],
        })
    }

    /// Whether every chunk has been evaluated.
    pub fn is_done(&self) -> bool {
        self.next_step + 1 >= self.grid.steps
    }

    /// Tokens predicted so far by each variant, and in all.
    pub fn progress(&self) -> (u64, u64) {
        let done = (self.next_step.min(self.grid.steps - 1) * self.grid.batch) as u64;
        (done, self.grid.predicted_tokens())
    }

    /// The totals of variant `index` so far.
    pub fn totals(&self, index: usize) -> TaskTotals {
        self.runs[index].totals
    }

    /// Evaluates the next chunk with every model, each reading its tokens through its own
    /// table in `embeddings` (`models[reference]` is the one top-1 agreement is counted
    /// against; `models` in the order given to [`Evaluation::new`]). Returns false, doing
    /// nothing, once [`Evaluation::is_done`].
    pub fn step(
        &mut self,
        embeddings: &[&Embedding],
        models: &[&Model],
        reference: usize,
        workspace: &mut Workspace,
    ) -> Result<bool> {
        if self.is_done() {
            return Ok(false);
        }
        debug_assert_eq!(models.len(), self.runs.len());
        debug_assert_eq!(embeddings.len(), models.len());
        let start = self.next_step;
        let seq_len = self.bptt.min(self.grid.steps - 1 - start);
        let batch = self.grid.batch;
        let features = embeddings[reference].features();
        let shape = [seq_len, batch, features];
        if self.input.dim() != (seq_len, batch, features) {
            self.input = Array3::zeros(shape);
        }
        let tokens = self.grid.rows(start..start + seq_len);
        let targets = self.grid.rows(start + 1..start + 1 + seq_len);
        // The table the input was last looked up in: models sharing a table share the lookup.
        let mut looked_up: Option<&Embedding> = None;
        let order = std::iter::once(reference).chain((0..models.len()).filter(|&i| i != reference));
        for index in order {
            let table = embeddings[index];
            if !looked_up.is_some_and(|last| std::ptr::eq(last, table)) {
                table.lookup_into(
                    tokens,
                    self.input
                        .as_slice_mut()
                        .expect("owned arrays are contiguous"),
                );
                looked_up = Some(table);
            }
            let clock = Instant::now();
            let run = &mut self.runs[index];
            models[index].forward_into(
                self.input.view(),
                Some(&run.state),
                workspace,
                &mut run.output,
            )?;
            run.state.h.assign(&run.output.h_n);
            run.state.c.assign(&run.output.c_n);
            let logits = run.output.output().as_slice().expect("contiguous");
            let vocabulary = logits.len() / targets.len();
            if index == reference {
                self.reference_top1.clear();
            }
            for (position, (row, &target)) in
                logits.chunks_exact(vocabulary).zip(targets).enumerate()
            {
                let scored = score(row, target);
                run.totals.loss_sum += scored.loss;
                run.totals.correct += u64::from(scored.top1 == target);
                if index == reference {
                    self.reference_top1.push(scored.top1);
                }
                run.totals.agree += u64::from(scored.top1 == self.reference_top1[position]);
            }
            run.totals.tokens += targets.len() as u64;
            run.totals.seconds += clock.elapsed().as_secs_f64();
        }
        self.next_step += seq_len;
        Ok(true)
    }

    /// Evaluates every remaining chunk (see [`Evaluation::step`]).
    pub fn run_to_end(
        &mut self,
        embeddings: &[&Embedding],
        models: &[&Model],
        reference: usize,
        workspace: &mut Workspace,
    ) -> Result<()> {
        while self.step(embeddings, models, reference, workspace)? {}
        Ok(())
    }
}

/// What one row of logits says about its target.
struct Scored {
    /// `-log_softmax(logits)[target]`, in f64.
    loss: f64,
    /// The first index of the largest logit (as `torch.argmax`).
    top1: u32,
}

fn score(logits: &[f32], target: u32) -> Scored {
    let mut top1 = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[top1] {
            top1 = i;
        }
    }
    let max = f64::from(logits[top1]);
    let sum: f64 = logits.iter().map(|&l| (f64::from(l) - max).exp()).sum();
    let log_sum_exp = max + sum.ln();
    Scored {
        loss: log_sum_exp - f64::from(logits[target as usize]),
        top1: top1 as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batchify_lays_columns_of_consecutive_tokens_side_by_side() {
        // torch: data[:6].view(2, -1).t() == [[0, 3], [1, 4], [2, 5]]; the 7th token dropped.
        let grid = TokenGrid::batchify(&[0, 1, 2, 3, 4, 5, 6], 2).unwrap();
        assert_eq!((grid.steps(), grid.batch()), (3, 2));
        assert_eq!(grid.rows(0..3), [0, 3, 1, 4, 2, 5]);
        assert_eq!(grid.rows(1..2), [1, 4]);
        assert_eq!(grid.predicted_tokens(), 4);
    }

    #[test]
    fn too_little_data_is_refused() {
        assert!(TokenGrid::batchify(&[1], 1).is_err());
        assert!(TokenGrid::batchify(&[1, 2, 3], 2).is_err());
        assert!(TokenGrid::batchify(&[1, 2], 0).is_err());
        assert!(TokenGrid::batchify(&[1, 2], 1).is_ok());
    }

    #[test]
    fn the_score_is_log_softmax_and_ties_go_to_the_first_index() {
        let s = score(&[1.0, 3.0, 3.0, -2.0], 0);
        assert_eq!(s.top1, 1);
        let lse = (1f64.exp() + 2.0 * 3f64.exp() + (-2f64).exp()).ln();
        assert!((s.loss - (lse - 1.0)).abs() < 1e-12);
    }
}
