//! Reading safetensors files: typed, shape-checked accessors whose errors name the file and the
//! tensor.

use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors};

use super::checks::ensure_finite;
use crate::error::{DynqError, Result};

/// A parsed safetensors file with typed, shape-checked accessors whose errors name the tensor.
pub(crate) struct TensorFile<'a> {
    tensors: SafeTensors<'a>,
    origin: &'a str,
    /// The file's `__metadata__`.
    pub metadata: HashMap<String, String>,
}

impl<'a> TensorFile<'a> {
    /// Parses the header, failing with a one-line error on anything that is not safetensors.
    pub fn parse(bytes: &'a [u8], origin: &'a str) -> Result<Self> {
        let unreadable =
            |e| DynqError::weights(origin, format!("not a readable safetensors file ({e})"));
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(unreadable)?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let tensors = SafeTensors::deserialize(bytes).map_err(unreadable)?;
        Ok(TensorFile {
            tensors,
            origin,
            metadata,
        })
    }

    /// A weight-file error naming this file.
    pub fn error(&self, message: impl Into<String>) -> DynqError {
        DynqError::weights(self.origin, message)
    }

    /// The names of every tensor in the file.
    pub fn names(&self) -> Vec<&str> {
        self.tensors.names()
    }

    /// Whether a tensor of that name exists.
    pub fn has(&self, name: &str) -> bool {
        self.tensors.tensor(name).is_ok()
    }

    /// The shape of a tensor, if present.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.tensors.tensor(name).ok().map(|v| v.shape().to_vec())
    }

    /// The shape and bytes of a tensor of `dtype` (and of exactly `shape`, when given).
    fn raw(
        &self,
        name: &str,
        dtype: Dtype,
        shape: Option<&[usize]>,
    ) -> Result<(Vec<usize>, &'a [u8])> {
        let view = self
            .tensors
            .tensor(name)
            .map_err(|_| self.error(format!("missing tensor '{name}'")))?;
        if view.dtype() != dtype {
            return Err(self.error(format!(
                "tensor '{name}' has dtype {:?}, expected {dtype:?}",
                view.dtype()
            )));
        }
        if let Some(expected) = shape
            && view.shape() != expected
        {
            return Err(self.error(format!(
                "tensor '{name}' has shape {:?}, expected {expected:?}",
                view.shape()
            )));
        }
        Ok((view.shape().to_vec(), view.data()))
    }

    /// Fails naming `name` when `values` holds a NaN or an infinity.
    fn ensure_finite(&self, name: &str, values: &[f32]) -> Result<()> {
        ensure_finite(name, values).map_err(|e| self.error(e.to_string()))
    }

    /// An f32 tensor of exactly `shape`, all finite.
    pub fn f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (actual, values) = self.f32_any(name)?;
        if actual != shape {
            return Err(self.error(format!(
                "tensor '{name}' has shape {actual:?}, expected {shape:?}"
            )));
        }
        self.ensure_finite(name, &values)?;
        Ok(values)
    }

    /// An f32 tensor of any shape (values not checked).
    pub fn f32_any(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let (shape, data) = self.raw(name, Dtype::F32, None)?;
        let values = data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok((shape, values))
    }

    /// An f64 tensor of any shape.
    pub fn f64_any(&self, name: &str) -> Result<(Vec<usize>, Vec<f64>)> {
        let (shape, data) = self.raw(name, Dtype::F64, None)?;
        let values = data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        Ok((shape, values))
    }

    /// An int8 tensor of exactly `shape`.
    pub fn i8(&self, name: &str, shape: &[usize]) -> Result<Vec<i8>> {
        let (_, data) = self.raw(name, Dtype::I8, Some(shape))?;
        Ok(data.iter().map(|&b| b as i8).collect())
    }

    /// An f16 tensor of exactly `shape`, converted to f32, all finite.
    pub fn f16_as_f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (_, data) = self.raw(name, Dtype::F16, Some(shape))?;
        let values: Vec<f32> = data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect();
        self.ensure_finite(name, &values)?;
        Ok(values)
    }
}
