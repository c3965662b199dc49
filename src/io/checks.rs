//! Checks on flat f32 buffers and shapes, shared by the model code and the file readers.

use crate::error::{DynqError, Result};

/// Fails with [`DynqError::NonFinite`] naming `what` if `values` holds a NaN or an infinity.
pub(crate) fn ensure_finite(what: &str, values: &[f32]) -> Result<()> {
    // A branch-free pass first (it vectorizes); the position only when something is wrong.
    if values.iter().fold(true, |ok, v| ok & v.is_finite()) {
        return Ok(());
    }
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(DynqError::NonFinite {
            what: what.to_string(),
            index,
        }),
    }
}

/// Fails with [`DynqError::ShapeMismatch`] unless `got == expected`.
pub(crate) fn ensure_shape(what: &str, got: &[usize], expected: &[usize]) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(DynqError::ShapeMismatch {
            what: what.to_string(),
            got: got.to_vec(),
            expected: expected.to_vec(),
        })
    }
}
