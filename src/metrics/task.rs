//! Task accuracy of a language model on text: the sums an evaluation keeps ([`TaskTotals`])
//! and the figures users read from them ([`TaskAccuracy`]), the tutorial's loss first.

use super::ratio::ratio;

/// What an evaluation has summed so far for one variant.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TaskTotals {
    /// Sum over predicted tokens of `-log p(target)`, in nats.
    pub loss_sum: f64,
    /// Tokens predicted.
    pub tokens: u64,
    /// Tokens whose most likely prediction was the target.
    pub correct: u64,
    /// Tokens whose most likely prediction was the reference (FP32) model's.
    pub agree: u64,
    /// Time spent evaluating, in seconds.
    pub seconds: f64,
}

/// The task figures of one variant, against the reference's on the same tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TaskAccuracy {
    /// Mean cross-entropy, nats per token (the tutorial's "loss").
    pub loss: f64,
    /// `exp(loss)`.
    pub perplexity: f64,
    /// `loss / ln 2`.
    pub bits_per_token: f64,
    /// Share of tokens predicted right by the top-1 guess, 0..1.
    pub top1_accuracy: f64,
    /// Share of tokens whose top-1 guess equals the reference's, 0..1.
    pub top1_agreement: f64,
    /// `loss − reference loss`, nats per token.
    pub delta_loss: f64,
    /// Tokens evaluated per second.
    pub tokens_per_second: f64,
    /// Tokens evaluated so far.
    pub tokens: u64,
    /// Top-1 guesses that were the target.
    pub top1_correct: u64,
    /// Top-1 guesses equal to the reference's.
    pub top1_agree: u64,
}

impl TaskAccuracy {
    /// The figures of `totals` against `reference` (both over the same tokens); `None` before
    /// any token was evaluated.
    pub fn from_totals(totals: &TaskTotals, reference: &TaskTotals) -> Option<TaskAccuracy> {
        let tokens = totals.tokens as f64;
        let loss = ratio(totals.loss_sum, tokens)?;
        let reference_loss = ratio(reference.loss_sum, reference.tokens as f64)?;
        Some(TaskAccuracy {
            loss,
            perplexity: loss.exp(),
            bits_per_token: loss / std::f64::consts::LN_2,
            top1_accuracy: totals.correct as f64 / tokens,
            top1_agreement: totals.agree as f64 / tokens,
            delta_loss: loss - reference_loss,
            tokens_per_second: ratio(tokens, totals.seconds).unwrap_or(0.0),
            tokens: totals.tokens,
            top1_correct: totals.correct,
            top1_agree: totals.agree,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_follow_from_the_sums() {
        let reference = TaskTotals {
            loss_sum: 150.0,
            tokens: 100,
            correct: 60,
            agree: 100,
            seconds: 0.5,
        };
        let int8 = TaskTotals {
            loss_sum: 151.0,
            agree: 97,
            ..reference
        };
        let t = TaskAccuracy::from_totals(&int8, &reference).unwrap();
        assert_eq!(t.loss, 1.51);
        assert!((t.perplexity - 1.51f64.exp()).abs() < 1e-12);
        assert!((t.bits_per_token - 1.51 / 2f64.ln()).abs() < 1e-12);
        assert!((t.delta_loss - 0.01).abs() < 1e-12);
        assert_eq!((t.top1_accuracy, t.top1_agreement), (0.6, 0.97));
        assert_eq!(t.tokens_per_second, 200.0);
        assert!(TaskAccuracy::from_totals(&TaskTotals::default(), &reference).is_none());
    }
}
