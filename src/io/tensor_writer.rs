//! Writing safetensors files from tensors that own their bytes.

use std::borrow::Cow;
use std::collections::HashMap;

use safetensors::{Dtype, View};

/// A tensor that owns its little-endian bytes, for writing safetensors files.
#[derive(Debug, Clone)]
pub(crate) struct OwnedTensor {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl OwnedTensor {
    /// An f32 tensor.
    pub fn f32(values: &[f32], shape: &[usize]) -> Self {
        Self::new(
            Dtype::F32,
            shape,
            little_endian_bytes(values, |v| v.to_le_bytes()),
        )
    }

    /// An int8 tensor.
    pub fn i8(values: &[i8], shape: &[usize]) -> Self {
        Self::new(Dtype::I8, shape, values.iter().map(|&v| v as u8).collect())
    }

    /// A uint8 tensor.
    pub fn u8(values: &[u8], shape: &[usize]) -> Self {
        Self::new(Dtype::U8, shape, values.to_vec())
    }

    /// An f16 tensor.
    pub fn f16(values: &[half::f16], shape: &[usize]) -> Self {
        Self::new(
            Dtype::F16,
            shape,
            little_endian_bytes(values, |v| v.to_le_bytes()),
        )
    }

    fn new(dtype: Dtype, shape: &[usize], data: Vec<u8>) -> Self {
        OwnedTensor {
            dtype,
            shape: shape.to_vec(),
            data,
        }
    }
}

impl View for &OwnedTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// The little-endian bytes of `values`, `N` bytes each (a plain loop: `flat_map` over 500 MB
/// of weights is several times slower).
fn little_endian_bytes<T: Copy, const N: usize>(
    values: &[T],
    to_bytes: impl Fn(T) -> [u8; N],
) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(values.len() * N);
    for &v in values {
        bytes.extend_from_slice(&to_bytes(v));
    }
    bytes
}

/// Serializes named tensors (and string metadata) to safetensors bytes.
pub(crate) fn serialize(
    tensors: &[(String, OwnedTensor)],
    metadata: HashMap<String, String>,
) -> Vec<u8> {
    let views = tensors.iter().map(|(name, t)| (name.as_str(), t));
    safetensors::serialize(views, Some(metadata)).expect("tensors are consistent by construction")
}
