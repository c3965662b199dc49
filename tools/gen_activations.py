"""Write tests/fixtures/activations.safetensors: PyTorch's own sigmoid, tanh and exp of a
spread of f32 inputs, for the tests that hold dynq's activations to PyTorch's.

Optional tool (PyTorch in a virtualenv outside the repo); dynq never needs it to build, run or
test. In PyTorch's x86 wheels `torch.sigmoid` is ATen's vectorized `1 / (exp(0 - x) + 1)` on
Sleef's expf_u10, except for a tail shorter than two vectors, which falls back to the C
library: the input length is a multiple of 32 (two AVX-512 vectors) so every value goes through
Sleef. `torch.tanh` and `torch.exp` are MKL's vmsTanh / vmsExp (high accuracy): with
`--mkl PATH/libmkl_rt.so` (`pip install mkl`) the tool calls MKL itself and prints how many
values differ from PyTorch's (0 with torch 2.15).

    python tools/gen_activations.py [--out tests/fixtures/activations.safetensors] [--mkl LIB]
"""

import argparse

import numpy as np
import torch
from safetensors.torch import save_file


def inputs() -> torch.Tensor:
    rng = np.random.default_rng(20261204)
    parts = [np.linspace(-20.0, 20.0, 16384, dtype=np.float32)]
    for scale in [1e-6, 1e-3, 0.1, 1.0, 3.0, 10.0, 60.0]:
        parts.append((rng.standard_normal(2048) * scale).astype(np.float32))
    edges = [0.0, 1e-30, 1e-7, 0.5, 0.625, 8.664339742, 9.0, 87.0, 88.0, 88.7, 100.0,
             103.9, 104.0, 104.1, 150.0, 1e30]
    edge = np.array(edges, dtype=np.float32)
    near = np.concatenate([edge, np.nextafter(edge, np.float32(np.inf)),
                           np.nextafter(edge, np.float32(-np.inf))])
    parts.append(np.concatenate([near, -near]).astype(np.float32))
    x = np.concatenate(parts)
    pad = (-len(x)) % 32
    x = np.concatenate([x, np.linspace(-1.0, 1.0, pad, dtype=np.float32)])
    return torch.from_numpy(x.astype(np.float32))


def compare_with_mkl(library: str, tensors: dict) -> None:
    """Prints how many of PyTorch's tanh and exp values differ from MKL's vmsTanh / vmsExp."""
    import ctypes

    mkl = ctypes.CDLL(library)
    mode = ctypes.c_longlong(0x2 | 0x140000 | 0x100)  # VML_HA | VML_FTZDAZ_OFF | VML_ERRMODE_IGNORE
    x = tensors["x"].numpy()
    for name, function in [("tanh", mkl.vmsTanh), ("exp", mkl.vmsExp)]:
        out = np.empty_like(x)
        function.argtypes = [ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_longlong]
        function(len(x), x.ctypes.data, out.ctypes.data, mode)
        differ = int((out.view(np.uint32) != tensors[name].numpy().view(np.uint32)).sum())
        print(f"torch.{name} vs MKL vms{name.capitalize()}: {differ} of {len(x)} differ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/fixtures/activations.safetensors")
    parser.add_argument("--mkl", help="libmkl_rt.so to compare torch.tanh and torch.exp with")
    args = parser.parse_args()
    torch.set_num_threads(1)
    x = inputs()
    assert len(x) % 32 == 0
    tensors = {
        "x": x.contiguous(),
        "sigmoid": torch.sigmoid(x).contiguous(),
        "tanh": torch.tanh(x).contiguous(),
        "exp": torch.exp(x).contiguous(),
    }
    metadata = {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    save_file(tensors, args.out, metadata=metadata)
    if args.mkl:
        compare_with_mkl(args.mkl, tensors)
    print(f"wrote {args.out}: {len(x)} inputs, torch {metadata['torch']}, "
          f"{metadata['cpu_capability']}")


if __name__ == "__main__":
    main()
