#!/usr/bin/env python3
"""Write PyTorch reference cases for GRU and bidirectional LSTM / GRU models to tests/fixtures/.

Optional tool (PyTorch, in a virtualenv outside the repo); dynq never needs it to build, run or
test. Each case is one `{name}.safetensors` in the format of the LSTM cases (see
../shared/reference/README.md), generalised: the model is `nn.LSTM` (field `lstm`) or `nn.GRU`
(field `gru`), sequence-first, `num_layers` L, optionally bidirectional (D = 2), optionally
followed by `fc = nn.Linear(D*H, head)` on every output. A file holds

- `input` [T,B,I], `h0` [L*D,B,H], `c0` [L*D,B,H] (LSTM only), every state_dict tensor;
- for each variant V (fp32, int8, int8_per_channel, fp16, int8_qnnpack): `V.lstm_output` or
  `V.gru_output` [T,B,D*H], `V.h_n`, `V.c_n` (LSTM only), `V.output` [T,B,head] (with a head);
- for the int8 variants PyTorch's quantized weights, `V.{weight name}.int8` (i8) and
  `V.{weight name}.scale` (f64, [1] per tensor or [rows] per channel);

and the case's metadata, which `index.json` also lists. The script checks that the quantized
weights dequantize to the float ones and equal the README's weight rule computed in numpy, and
prints how far the variants' final outputs are apart. `--verify` also runs a numpy
re-implementation of every variant (torch only for sigmoid / tanh, on PyTorch's memory layout)
and prints its largest difference from PyTorch's outputs.

    ../venv/bin/python tools/gen_reference.py [--out tests/fixtures] [--only NAME ...] [--verify]
"""

import argparse
import io
import json
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import save as safetensors_save

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=".*qnnpack incorrectly ignores reduce_range.*")
warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*deprecated.*")
from torch.ao.quantization import (  # noqa: E402 (after the filters: it warns on import)
    float16_dynamic_qconfig,
    per_channel_dynamic_qconfig,
    quantize_dynamic,
)

ROOT = Path(__file__).resolve().parent.parent
ENGINE = "x86"
VARIANTS = ["fp32", "int8", "int8_per_channel", "fp16", "int8_qnnpack"]
INT8_VARIANTS = ["int8", "int8_per_channel", "int8_qnnpack"]
# index.json's key order: the LSTM cases' keys, then the two new ones.
METADATA_KEYS = [
    "name", "seed", "seq_len", "batch", "input_size", "hidden_size", "num_layers", "head",
    "initial_state", "input_scale", "torch", "engine", "torch_save_bytes_fp32",
    "torch_save_bytes_int8", "torch_save_bytes_int8_qnnpack", "torch_save_bytes_int8_per_channel",
    "torch_save_bytes_fp16", "engine_int8_qnnpack", "cell", "bidirectional",
]


@dataclass(frozen=True)
class Case:
    name: str
    cell: str  # "lstm" or "gru": also the model's field name
    bidirectional: bool
    seed: int
    seq_len: int
    batch: int
    input_size: int
    hidden_size: int
    num_layers: int
    head: int = 0
    initial_state: str = "randn"  # or "zeros"
    input_scale: float = 1.0

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1


CASES = [
    Case("gru_dim8", "gru", False, 29592, 20, 1, 8, 8, 1),
    Case("gru_odd_shapes", "gru", False, 1, 4, 3, 5, 7, 3, head=3),
    Case("gru_zero_state", "gru", False, 3, 6, 2, 16, 16, 2, initial_state="zeros"),
    Case("gru_large_input", "gru", False, 4, 5, 2, 12, 12, 1, input_scale=100.0),
    Case("gru_tiny_input", "gru", False, 5, 5, 2, 12, 12, 1, input_scale=1e-6),
    Case("gru_dim64_head", "gru", False, 2, 10, 2, 64, 64, 2, head=10),
    Case("bilstm_odd_shapes", "lstm", True, 6, 5, 2, 5, 7, 2, head=4),
    Case("bilstm_zero_state", "lstm", True, 7, 6, 1, 16, 16, 1, initial_state="zeros"),
    Case("bilstm_deep", "lstm", True, 8, 10, 2, 32, 32, 3),
    Case("bigru_odd_shapes", "gru", True, 9, 5, 3, 6, 9, 2, head=5),
    Case("bigru_large_input", "gru", True, 10, 4, 2, 8, 8, 2, input_scale=100.0),
]


class Model(nn.Module):
    """`lstm` or `gru` (sequence-first, with biases), then `fc` on every output when head > 0."""

    def __init__(self, case: Case):
        super().__init__()
        self.cell = case.cell
        rnn = nn.LSTM if case.cell == "lstm" else nn.GRU
        setattr(self, case.cell, rnn(case.input_size, case.hidden_size, case.num_layers,
                                     bias=True, bidirectional=case.bidirectional))
        if case.head:
            self.fc = nn.Linear(case.directions * case.hidden_size, case.head)

    def forward(self, x, h0, c0=None):
        rnn = getattr(self, self.cell)
        if self.cell == "lstm":
            out, (h_n, c_n) = rnn(x, (h0, c0))
        else:
            (out, h_n), c_n = rnn(x, h0), None
        return out, h_n, c_n, (self.fc(out) if hasattr(self, "fc") else None)


def weight_names(case: Case) -> list:
    """The state_dict names of every linear map's weight, in `_all_weight_values` order."""
    names = []
    for layer in range(case.num_layers):
        for direction in range(case.directions):
            suffix = "_reverse" if direction else ""
            names += [f"{case.cell}.weight_ih_l{layer}{suffix}",
                      f"{case.cell}.weight_hh_l{layer}{suffix}"]
    return names + (["fc.weight"] if case.head else [])


def bias_name(weight: str) -> str:
    return weight.replace("weight", "bias")


def quantize(model: Model, variant: str) -> nn.Module:
    types = [nn.LSTM, nn.GRU, nn.Linear]
    if variant in ("int8", "int8_qnnpack"):
        return quantize_dynamic(model, {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8)
    if variant == "int8_per_channel":
        return quantize_dynamic(model, {t: per_channel_dynamic_qconfig for t in types},
                                dtype=torch.qint8)
    if variant == "fp16":
        return quantize_dynamic(model, {t: float16_dynamic_qconfig for t in types},
                                dtype=torch.float16)
    raise ValueError(variant)


def quantized_weights(qmodel: nn.Module, case: Case, float_state: dict) -> dict:
    """PyTorch's quantized weight of every linear map, by the float weight's name, unpacked from
    the dynamic RNN's cell params (`_all_weight_values`: layer-major, forward then reverse) and
    from the dynamic Linear's packed params."""
    packed = []
    for cell_params in getattr(qmodel, case.cell)._all_weight_values:
        kind, biases, _, ints, linear_params = cell_params.param.__getstate__()[0]
        assert kind == "quantized_dynamic" and ints == [1], (kind, ints)  # reduce_range is on
        packed += list(zip(linear_params, biases))
    if case.head:
        packed.append((qmodel.fc._packed_params._packed_params, None))
    names = weight_names(case)
    assert len(packed) == len(names)
    weights = {}
    for name, (params, bias) in zip(names, packed):
        qweight, packed_bias = torch.ops.quantized.linear_unpack(params)
        float_bias = float_state[bias_name(name)]
        assert torch.equal(packed_bias.detach(), float_bias)
        if bias is not None:
            assert torch.equal(bias.detach(), float_bias)
        weights[name] = qweight
    return weights


def weight_tensors(qweight: torch.Tensor):
    """(int8 values, f64 scales) of a qint8 weight, checking its zero points are 0."""
    assert qweight.dtype == torch.qint8
    if qweight.qscheme() == torch.per_tensor_affine:
        assert qweight.q_zero_point() == 0
        scale = torch.tensor([qweight.q_scale()], dtype=torch.float64)
    else:
        assert qweight.qscheme() == torch.per_channel_affine and qweight.q_per_channel_axis() == 0
        assert not qweight.q_per_channel_zero_points().any()
        scale = qweight.q_per_channel_scales().to(torch.float64)
    return qweight.int_repr().contiguous(), scale.contiguous()


def numpy_weight_rule(w: np.ndarray, per_channel: bool):
    """The README's weight rule in f32: symmetric, scale = max(amax / 127.5, eps), multiply by
    the reciprocal, round half to even, clamp to [-128, 127]."""
    w = w.astype(np.float32)
    axis = 1 if per_channel else None
    lo = np.minimum(w.min(axis=axis, keepdims=True), np.float32(0))
    hi = np.maximum(w.max(axis=axis, keepdims=True), np.float32(0))
    amax = np.maximum(-lo, hi)
    scale = np.maximum(amax / np.float32(127.5), np.finfo(np.float32).eps).astype(np.float32)
    q = np.clip(np.rint(w * (np.float32(1.0) / scale)), -128, 127).astype(np.int8)
    return q, scale.reshape(-1).astype(np.float64)


def check_weights(variant: str, name: str, q: torch.Tensor, scale: torch.Tensor, w: torch.Tensor):
    per_channel = variant == "int8_per_channel"
    rows = scale.numpy()[:, None] if per_channel else scale.numpy()[0]
    error = np.abs(q.numpy().astype(np.float64) * rows - w.numpy().astype(np.float64))
    # half a step, plus the f32 rounding of w * (1 / scale) (|w / scale| <= 127.5)
    bound = (0.5 + 2e-5) * (rows if per_channel else np.array([[rows]]))
    assert (error <= bound).all(), f"{variant} {name}: dequantized weight too far from the float"
    nq, nscale = numpy_weight_rule(w.numpy(), per_channel)
    assert np.array_equal(nq, q.numpy()), f"{variant} {name}: int8 differs from the weight rule"
    assert np.array_equal(nscale, scale.numpy()), f"{variant} {name}: scale differs from the rule"


def torch_save_bytes(model: nn.Module) -> int:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return len(buffer.getvalue())


def set_engine(name: str) -> None:
    torch.backends.quantized.engine = name


@torch.no_grad()
def generate(case: Case):
    """(tensors, metadata) of a case."""
    torch.manual_seed(case.seed)
    model = Model(case).eval()
    x = torch.randn(case.seq_len, case.batch, case.input_size) * case.input_scale
    state_shape = (case.num_layers * case.directions, case.batch, case.hidden_size)

    def initial():
        return torch.randn(state_shape) if case.initial_state == "randn" else torch.zeros(state_shape)

    assert case.initial_state in ("randn", "zeros")
    h0 = initial()
    c0 = initial() if case.cell == "lstm" else None
    float_state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    tensors = {"input": x.contiguous(), "h0": h0.contiguous(), **float_state}
    if c0 is not None:
        tensors["c0"] = c0.contiguous()
    metadata = {
        "name": case.name, "seed": str(case.seed), "seq_len": str(case.seq_len),
        "batch": str(case.batch), "input_size": str(case.input_size),
        "hidden_size": str(case.hidden_size), "num_layers": str(case.num_layers),
        "head": str(case.head), "initial_state": case.initial_state,
        "input_scale": repr(float(case.input_scale)), "torch": torch.__version__,
        "engine": ENGINE,
    }
    for variant in VARIANTS:
        set_engine("qnnpack" if variant == "int8_qnnpack" else ENGINE)
        try:
            qmodel = model if variant == "fp32" else quantize(model, variant)
            out, h_n, c_n, y = qmodel(x, h0, c0)
            tensors[f"{variant}.{case.cell}_output"] = out.contiguous()
            tensors[f"{variant}.h_n"] = h_n.contiguous()
            if c_n is not None:
                tensors[f"{variant}.c_n"] = c_n.contiguous()
            if y is not None:
                tensors[f"{variant}.output"] = y.contiguous()
            if variant in INT8_VARIANTS:
                for name, qweight in quantized_weights(qmodel, case, float_state).items():
                    q, scale = weight_tensors(qweight)
                    check_weights(variant, name, q, scale, float_state[name])
                    tensors[f"{variant}.{name}.int8"] = q
                    tensors[f"{variant}.{name}.scale"] = scale
            metadata[f"torch_save_bytes_{variant}"] = str(torch_save_bytes(qmodel))
        finally:
            set_engine(ENGINE)
    for name in weight_names(case):  # qnnpack quantizes the weights exactly as x86 does
        for part in ("int8", "scale"):
            assert torch.equal(tensors[f"int8_qnnpack.{name}.{part}"], tensors[f"int8.{name}.{part}"])
    metadata["engine_int8_qnnpack"] = "qnnpack"
    metadata["cell"] = case.cell
    metadata["bidirectional"] = "true" if case.bidirectional else "false"
    assert set(metadata) == set(METADATA_KEYS)
    return tensors, {k: metadata[k] for k in METADATA_KEYS}


SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int8: "I8"}


def safetensors_bytes(tensors: dict, metadata=None) -> bytes:
    """A safetensors file laid out as the safetensors library lays it out (tensors by alignment,
    then name), but with the metadata in a fixed order: the library writes it from a hash map,
    in a different order each run."""
    names = sorted(tensors, key=lambda n: (-tensors[n].element_size(), n))
    header = {} if metadata is None else {"__metadata__": metadata}
    blobs, offset = [], 0
    for name in names:
        t = tensors[name]
        blob = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def write_case(path: Path, tensors: dict, metadata: dict) -> int:
    assert safetensors_bytes(tensors) == safetensors_save(tensors), "layout differs from the library's"
    data = safetensors_bytes(tensors, metadata)
    path.write_bytes(data)
    with safe_open(str(path), "pt") as f:  # read it back with the library
        assert f.metadata() == metadata and set(f.keys()) == set(tensors)
        for name in f.keys():
            assert torch.equal(f.get_tensor(name), tensors[name])
    return len(data)


def update_index(path: Path, entries: list) -> None:
    """Replaces the entries of the same name, appends the others; every other entry stays."""
    existing = json.loads(path.read_text()) if path.exists() else []
    new = {e["name"]: e for e in entries}
    merged = [new.pop(e["name"], e) for e in existing]
    merged += [e for e in entries if e["name"] in new]
    path.write_text(json.dumps(merged, indent=1))


def final_output(tensors: dict, case: Case, variant: str) -> torch.Tensor:
    key = f"{variant}.output" if case.head else f"{variant}.{case.cell}_output"
    return tensors[key]


# ---- --verify: an independent numpy re-implementation of every variant -------------------------

F32 = np.float32


def choose_activation_qparams(x: np.ndarray, qmax: int):
    """ATen's ChooseQuantizationParams (uint8, qmin 0, min/max with 0 included), as
    `torch._choose_qparams_per_tensor` gives it: the scale stays an f64, and the zero point is
    computed from that f64 (the kernels then use the scale rounded to f32)."""
    lo, hi = F32(min(F32(x.min()), F32(0))), F32(max(F32(x.max()), F32(0)))
    scale = (np.float64(hi) - np.float64(lo)) / qmax
    if F32(scale) == 0 or np.isinf(F32(1) / F32(scale)):
        scale = 0.1
    if scale < np.float64(F32(6.1e-5)):
        old, scale = F32(scale), np.float64(F32(6.1e-5))
        if lo == 0:
            hi = F32(F32(6.1e-5) * F32(qmax))
        elif hi == 0:
            lo = F32(-F32(6.1e-5) * F32(qmax))
        else:
            amplifier = F32(F32(6.1e-5) / old)
            lo, hi = F32(lo * amplifier), F32(hi * amplifier)
    from_min, from_max = 0 - np.float64(lo) / scale, qmax - np.float64(hi) / scale
    error_min, error_max = 0 - abs(np.float64(lo) / scale), qmax - abs(np.float64(hi) / scale)
    zp = from_min if error_min < error_max else from_max
    zp = 0 if zp < 0 else qmax if zp > qmax else int(np.rint(zp))
    return scale, zp


def int8_linear(x: np.ndarray, q: np.ndarray, w_scale: np.ndarray, bias: np.ndarray, engine: str):
    """One dynamic quantized linear over all rows of x: x_q = clamp(zp + rint(x * (1 / s)), 0, 255)
    with s the f32 scale (the zero point added after rounding), an exact integer accumulation,
    then x86 (fbgemm) ends with a fused multiply-add, acc * (s * w_scale) + bias rounded once, and
    qnnpack multiplies, rounds, then adds."""
    scale, zp = choose_activation_qparams(x, 127 if engine == "x86" else 255)
    scale = F32(scale)
    xq = np.clip(np.rint(x * (F32(1) / scale)) + zp, 0, 255).astype(np.int64)
    acc = ((xq - zp) @ q.astype(np.int64).T).astype(F32)
    multiplier = (scale * w_scale.astype(F32)).astype(F32)
    if engine == "x86":
        return (acc.astype(np.float64) * multiplier + bias.astype(np.float64)).astype(F32)
    return (acc * multiplier).astype(F32) + bias


def make_linear(tensors: dict, variant: str):
    def linear(x: np.ndarray, name: str) -> np.ndarray:
        w, b = tensors[name].numpy(), tensors[bias_name(name)].numpy()
        if variant in INT8_VARIANTS:
            q, scale = numpy_weight_rule(w, variant == "int8_per_channel")
            return int8_linear(x, q, scale, b, "qnnpack" if variant == "int8_qnnpack" else "x86")
        if variant == "fp16":
            w = np.clip(w, -65504, 65504).astype(np.float16).astype(F32)
            return (x.astype(np.float64) @ w.T.astype(np.float64)).astype(F32) + b
        return (x.astype(np.float64) @ w.T.astype(np.float64) + b).astype(F32)
    return linear


def torch_sigmoid_rows(a: np.ndarray) -> np.ndarray:
    """torch.sigmoid_ on a [B, H] chunk of the [B, G*H] gates: PyTorch runs it row by row (its
    vectorized loop restarts, with a scalar tail, on every row), so do the same."""
    return np.stack([torch.sigmoid(torch.from_numpy(row.copy())).numpy() for row in a])


def torch_tanh(a: np.ndarray) -> np.ndarray:
    return torch.tanh(torch.from_numpy(np.ascontiguousarray(a))).numpy()


def torch_tanh_rows(a: np.ndarray) -> np.ndarray:
    return np.stack([torch_tanh(row.copy()) for row in a])


def gru_cell(ig, hg, h, H):
    """ATen's GRUCell: gate rows r, z, n."""
    r = torch_sigmoid_rows(hg[:, :H] + ig[:, :H])
    z = torch_sigmoid_rows(hg[:, H:2 * H] + ig[:, H:2 * H])
    n = torch_tanh(ig[:, 2 * H:] + hg[:, 2 * H:] * r)
    return (h - n) * z + n, None


def lstm_cell(ig, hg, h, c, H):
    """ATen's LSTMCell: gate rows i, f, g, o."""
    gates = hg + ig
    i = torch_sigmoid_rows(gates[:, :H])
    f = torch_sigmoid_rows(gates[:, H:2 * H])
    g = torch_tanh_rows(gates[:, 2 * H:3 * H])
    o = torch_sigmoid_rows(gates[:, 3 * H:])
    c = f * c + i * g
    return o * torch_tanh(c), c


def numpy_forward(case: Case, tensors: dict, variant: str) -> dict:
    linear = make_linear(tensors, variant)
    T, B, H, D = case.seq_len, case.batch, case.hidden_size, case.directions
    layer_input = tensors["input"].numpy()
    h0 = tensors["h0"].numpy()
    c0 = tensors["c0"].numpy() if case.cell == "lstm" else None
    h_n, c_n = [], []
    for layer in range(case.num_layers):
        outputs = []
        for direction in range(D):
            suffix = "_reverse" if direction else ""
            # the input projection: one call over all T*B rows of the layer's (whole) input
            ih = linear(layer_input.reshape(T * B, -1), f"{case.cell}.weight_ih_l{layer}{suffix}")
            ih = ih.reshape(T, B, -1)
            k = layer * D + direction
            h, c = h0[k], (c0[k] if c0 is not None else None)
            out = np.zeros((T, B, H), F32)
            for t in (range(T) if direction == 0 else range(T - 1, -1, -1)):
                hh = linear(h, f"{case.cell}.weight_hh_l{layer}{suffix}")
                h, c = gru_cell(ih[t], hh, h, H) if case.cell == "gru" else lstm_cell(ih[t], hh, h, c, H)
                out[t] = h
            outputs.append(out)
            h_n.append(h)
            c_n.append(c)
        layer_input = np.concatenate(outputs, axis=-1)
    result = {f"{variant}.{case.cell}_output": layer_input, f"{variant}.h_n": np.stack(h_n)}
    if case.cell == "lstm":
        result[f"{variant}.c_n"] = np.stack(c_n)
    if case.head:
        y = linear(layer_input.reshape(T * B, -1), "fc.weight")
        result[f"{variant}.output"] = y.reshape(T, B, -1)
    return result


def verify(case: Case, tensors: dict) -> str:
    parts = []
    for variant in VARIANTS:
        ours = numpy_forward(case, tensors, variant)
        worst = max(float(np.abs(v - tensors[k].numpy()).max()) for k, v in ours.items())
        parts.append(f"{variant} {worst:.1e}")
    return "numpy vs PyTorch, max |diff|: " + ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "tests" / "fixtures"),
                        help="directory of the cases and index.json (default tests/fixtures)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="write only these cases")
    parser.add_argument("--verify", action="store_true",
                        help="also compare a numpy re-implementation with PyTorch's outputs")
    args = parser.parse_args()
    cases = CASES
    if args.only:
        unknown = set(args.only) - {c.name for c in CASES}
        if unknown:
            parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
        cases = [c for c in CASES if c.name in args.only]
    torch.set_num_threads(1)
    set_engine(ENGINE)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    entries, total = [], 0
    for case in cases:
        tensors, metadata = generate(case)
        size = write_case(out / f"{case.name}.safetensors", tensors, metadata)
        total += size
        entries.append(metadata)
        final = {v: final_output(tensors, case, v) for v in VARIANTS}
        int8_fp32 = float((final["int8"] - final["fp32"]).abs().max())
        qnnpack_int8 = float((final["int8_qnnpack"] - final["int8"]).abs().max())
        print(f"{case.name}: {size} bytes; final output max |int8 - fp32| {int8_fp32:.3e}, "
              f"max |int8_qnnpack - int8| {qnnpack_int8:.3e}")
        if args.verify:
            print(f"  {verify(case, tensors)}")
    update_index(out / "index.json", entries)
    print(f"wrote {len(cases)} cases ({total} bytes) and {out / 'index.json'}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
