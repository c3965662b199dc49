//! Safetensors reading and writing with PyTorch's state_dict names (`lstm.weight_ih_l0`, ...,
//! `fc.weight`, `fc.bias`; the `lstm.` prefix is optional).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors, View};

use super::dims::ModelDims;
use super::linear::Linear;
use super::lstm::{Lstm, LstmLayer};
use crate::error::{DynqError, Result};
use crate::tensor::ensure_finite;

/// Reads a whole file, mapping failures to [`DynqError::Io`].
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| DynqError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so that
/// a failure never leaves a half-written file nor damages an existing one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let io_error = |source| DynqError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io_error)?;
    file.write_all(bytes).map_err(io_error)?;
    file.as_file().sync_all().map_err(io_error)?;
    file.persist(path).map_err(|e| io_error(e.error))?;
    Ok(())
}

/// Loads an FP32 `nn.LSTM` (and optional `fc` head) from a safetensors file.
pub fn load_fp32(path: &Path) -> Result<Lstm<Linear>> {
    let bytes = read_file(path)?;
    parse_fp32(&bytes, &path.display().to_string())
}

/// Parses an FP32 model from safetensors bytes; `origin` names the source in errors.
/// Tensors that are not model weights are ignored.
pub fn parse_fp32(bytes: &[u8], origin: &str) -> Result<Lstm<Linear>> {
    let file = TensorFile::parse(bytes, origin)?;
    let structure = file.lstm_structure()?;
    let mut layers = Vec::with_capacity(structure.dims.num_layers);
    for k in 0..structure.dims.num_layers {
        let (input, h) = (structure.layer_input(k), structure.dims.hidden_size);
        let w_ih = file.f32(&structure.name(&format!("weight_ih_l{k}")), &[4 * h, input])?;
        let w_hh = file.f32(&structure.name(&format!("weight_hh_l{k}")), &[4 * h, h])?;
        let (b_ih, b_hh) = if structure.has_bias {
            (
                file.f32(&structure.name(&format!("bias_ih_l{k}")), &[4 * h])?,
                file.f32(&structure.name(&format!("bias_hh_l{k}")), &[4 * h])?,
            )
        } else {
            (vec![0.0; 4 * h], vec![0.0; 4 * h])
        };
        layers.push(LstmLayer {
            ih: Linear::new(w_ih, b_ih, input, 4 * h),
            hh: Linear::new(w_hh, b_hh, h, 4 * h),
        });
    }
    let head = if structure.dims.head > 0 {
        let (o, h) = (structure.dims.head, structure.dims.hidden_size);
        let w = file.f32("fc.weight", &[o, h])?;
        let b = file.f32("fc.bias", &[o])?;
        Some(Linear::new(w, b, h, o))
    } else {
        None
    };
    Ok(Lstm::from_parts(layers, head, structure.dims))
}

/// The tensors of an FP32 model under PyTorch's names, ready for `serialize`.
pub fn fp32_tensors(model: &Lstm<Linear>) -> Vec<(String, OwnedTensor)> {
    let mut out = Vec::new();
    for (k, layer) in model.layers().iter().enumerate() {
        for (kind, linear) in [("ih", &layer.ih), ("hh", &layer.hh)] {
            out.push((
                format!("lstm.weight_{kind}_l{k}"),
                OwnedTensor::f32(
                    &linear.weight(),
                    &[linear_rows(linear), linear_cols(linear)],
                ),
            ));
            out.push((
                format!("lstm.bias_{kind}_l{k}"),
                OwnedTensor::f32(&linear.bias, &[linear.bias.len()]),
            ));
        }
    }
    if let Some(head) = model.head() {
        out.push((
            "fc.weight".into(),
            OwnedTensor::f32(&head.weight(), &[linear_rows(head), linear_cols(head)]),
        ));
        out.push((
            "fc.bias".into(),
            OwnedTensor::f32(&head.bias, &[head.bias.len()]),
        ));
    }
    out
}

fn linear_rows(l: &Linear) -> usize {
    use super::linear::LinearOp;
    l.out_features()
}

fn linear_cols(l: &Linear) -> usize {
    use super::linear::LinearOp;
    l.in_features()
}

/// A tensor that owns its little-endian bytes, for writing safetensors files.
#[derive(Debug, Clone)]
pub struct OwnedTensor {
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
pub fn serialize(tensors: &[(String, OwnedTensor)], metadata: HashMap<String, String>) -> Vec<u8> {
    let views = tensors.iter().map(|(name, t)| (name.as_str(), t));
    safetensors::serialize(views, Some(metadata)).expect("tensors are consistent by construction")
}

/// How an LSTM is laid out in a file: the name prefix, the sizes and whether it has biases.
pub(crate) struct LstmStructure {
    /// `"lstm."` or `""`.
    pub prefix: &'static str,
    /// Sizes inferred from the tensors.
    pub dims: ModelDims,
    /// False for `nn.LSTM(bias=False)`, whose state_dict has no bias tensors.
    pub has_bias: bool,
}

impl LstmStructure {
    /// The full name of an LSTM tensor such as `weight_ih_l0`.
    pub fn name(&self, short: &str) -> String {
        format!("{}{short}", self.prefix)
    }

    /// Input features of layer `k`.
    pub fn layer_input(&self, k: usize) -> usize {
        if k == 0 {
            self.dims.input_size
        } else {
            self.dims.hidden_size
        }
    }
}

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
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| {
            DynqError::weights(origin, format!("not a readable safetensors file ({e})"))
        })?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| {
            DynqError::weights(origin, format!("not a readable safetensors file ({e})"))
        })?;
        Ok(TensorFile {
            tensors,
            origin,
            metadata,
        })
    }

    /// Whether a tensor of that name exists.
    pub fn has(&self, name: &str) -> bool {
        self.tensors.tensor(name).is_ok()
    }

    fn error(&self, message: String) -> DynqError {
        DynqError::weights(self.origin, message)
    }

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

    /// The shape of a tensor, if present.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.tensors.tensor(name).ok().map(|v| v.shape().to_vec())
    }

    /// An f32 tensor of exactly `shape`, all finite.
    pub fn f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let values = self.f32_any(name)?.1;
        if let Some(actual) = self.shape(name)
            && actual != shape
        {
            return Err(self.error(format!(
                "tensor '{name}' has shape {actual:?}, expected {shape:?}"
            )));
        }
        ensure_finite(name, &values).map_err(|e| self.error(e.to_string()))?;
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

    /// An f16 tensor of exactly `shape`, converted to f32.
    pub fn f16_as_f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (_, data) = self.raw(name, Dtype::F16, Some(shape))?;
        let values: Vec<f32> = data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect();
        ensure_finite(name, &values).map_err(|e| self.error(e.to_string()))?;
        Ok(values)
    }

    /// Finds the LSTM's tensors, infers its sizes and checks what PyTorch would also refuse.
    pub fn lstm_structure(&self) -> Result<LstmStructure> {
        let prefix = if self.has("lstm.weight_ih_l0") {
            "lstm."
        } else if self.has("weight_ih_l0") {
            ""
        } else if self.has("lstm.weight_ih_l0.int8") {
            "lstm."
        } else {
            return Err(self.error(
                "missing tensor 'lstm.weight_ih_l0' (or 'weight_ih_l0'): not an nn.LSTM state_dict"
                    .into(),
            ));
        };
        let names: Vec<String> = self.tensors.names().into_iter().map(String::from).collect();
        if names
            .iter()
            .any(|n| n.starts_with(prefix) && n.contains("_reverse"))
        {
            return Err(self
                .error("bidirectional LSTMs are not supported (found '_reverse' tensors)".into()));
        }
        if names
            .iter()
            .any(|n| n.starts_with(&format!("{prefix}weight_hr_l")))
        {
            return Err(self.error(
                "LSTMs with proj_size are not supported (found 'weight_hr' tensors)".into(),
            ));
        }
        let weight_shape = |k: usize| {
            let base = format!("{prefix}weight_ih_l{k}");
            self.shape(&base)
                .or_else(|| self.shape(&format!("{base}.int8")))
        };
        let first = weight_shape(0).expect("checked above");
        if first.len() != 2 || first[0] == 0 || first[0] % 4 != 0 {
            return Err(self.error(format!(
                "tensor '{prefix}weight_ih_l0' has shape {first:?}, expected [4*hidden_size, input_size]"
            )));
        }
        let hidden_size = first[0] / 4;
        let input_size = first[1];
        let mut num_layers = 1;
        while weight_shape(num_layers).is_some() {
            num_layers += 1;
        }
        let has_bias = self.has(&format!("{prefix}bias_ih_l0"));
        let head = match self
            .shape("fc.weight")
            .or_else(|| self.shape("fc.weight.int8"))
        {
            Some(shape) if shape.len() == 2 && shape[1] == hidden_size && shape[0] > 0 => shape[0],
            Some(shape) => {
                return Err(self.error(format!(
                    "tensor 'fc.weight' has shape {shape:?}, expected [head, {hidden_size}]"
                )));
            }
            None => 0,
        };
        let dims = ModelDims {
            input_size,
            hidden_size,
            num_layers,
            head,
        };
        dims.validate().map_err(|e| self.error(e.to_string()))?;
        Ok(LstmStructure {
            prefix,
            dims,
            has_bias,
        })
    }
}
