#!/usr/bin/env python3
"""Measure dynq's peers on this machine and print the README's comparison as Markdown tables.

Optional tool (PyTorch and ONNX Runtime in a virtualenv outside the repo); dynq never needs it to
build, run or test. For each cell (`lstm`, `gru`, `bilstm`, `bigru`: one layer, input size =
hidden size = dim, no head) and each dim it builds one random float model and times, as the median
of many single forward passes of a [seq, batch, dim] randn input with a zero initial state:

- PyTorch FP32   the float `nn.LSTM` / `nn.GRU` under `torch.no_grad()`;
- PyTorch INT8   `torch.ao.quantization.quantize_dynamic(model, {nn.LSTM, nn.GRU, nn.Linear},
                 dtype=torch.qint8)` on the x86 quantized engine;
- ORT FP32       the float model exported with `torch.onnx.export` (opset 17), in ONNX Runtime;
- ORT INT8       `onnxruntime.quantization.quantize_dynamic(..., weight_type=QuantType.QInt8)` of
                 that ONNX model. An LSTM becomes `com.microsoft.DynamicQuantizeLSTM`; where ORT
                 leaves the recurrent node in float (GRU) the cell is reported "n/a".

Once per (cell, dim) it checks what it times: ORT FP32 must match PyTorch FP32 within `--atol`
(max abs over every output), and |ORT INT8 - PyTorch INT8| is shown for information. With
`--dynq-criterion target/criterion` it adds dynq's own medians from `cargo bench --bench forward`
(`forward/{fp32,int8}/{dim}`; `forward_gru/`, `forward_bilstm/`, `forward_bigru/` for the other
cells; missing ones are "-"). With `--dynq target/release/dynq` it instead runs dynq's headless
report for each cell and dim right after timing the peers, with the same shape and threads:
every figure of a row then comes from the same minute, and a last column gives the
core-to-core handoff that report measured before and after its runs (how fast that minute was).

Usage:  ../venv/bin/pip install onnxruntime onnx
        ../venv/bin/python tools/compare_peers.py --cells lstm gru bilstm --dims 80 256 1024
        ../venv/bin/python tools/compare_peers.py --dynq-criterion target/criterion --json out.json
        ../venv/bin/python tools/compare_peers.py --dynq target/release/dynq --batch 64
Tables go to stdout, progress (and with --verbose the ONNX op types) to stderr.
"""

import argparse
import contextlib
import datetime
import importlib.util
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

CELLS = {  # name -> (torch class, bidirectional, dynq criterion group)
    "lstm": (nn.LSTM, False, "forward"),
    "gru": (nn.GRU, False, "forward_gru"),
    "bilstm": (nn.LSTM, True, "forward_bilstm"),
    "bigru": (nn.GRU, True, "forward_bigru"),
}
PEERS = ["pytorch_fp32", "pytorch_int8", "ort_fp32", "ort_int8"]
DYNQ = ["dynq_fp32", "dynq_int8"]
LABELS = {
    "pytorch_fp32": "PyTorch FP32", "pytorch_int8": "PyTorch INT8",
    "ort_fp32": "ORT FP32", "ort_int8": "ORT INT8",
    "dynq_fp32": "dynq FP32", "dynq_int8": "dynq INT8",
}
RECURRENT_OPS = {"LSTM", "GRU", "RNN"}
MIN_CALLS = 20


class Net(nn.Module):
    """The bare recurrent layer behind a container, so that quantize_dynamic can swap it."""

    def __init__(self, cls, dim, bidirectional):
        super().__init__()
        self.rnn = cls(dim, dim, num_layers=1, bidirectional=bidirectional)

    def forward(self, x):
        return self.rnn(x)  # initial state None: zeros


def flatten(outputs):
    """PyTorch's (y, h) or (y, (h, c)) as a flat list of numpy arrays."""
    if isinstance(outputs, (tuple, list)):
        return [a for o in outputs for a in flatten(o)]
    return [outputs.detach().numpy()]


def max_abs_diff(a, b):
    """The largest |a - b| over every output of two flat output lists of the same shapes."""
    assert len(a) == len(b), (len(a), len(b))
    return max(float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64))))
               for x, y in zip(a, b))


def cpu_name():
    """The CPU's model name from /proc/cpuinfo, else from lscpu, else platform."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    import platform

    return platform.processor() or "unknown CPU"


def time_calls(fn, seconds):
    """Median µs of single calls of fn: warm up for a fifth of the budget (3 calls at least),
    then call it until `seconds` have passed and MIN_CALLS calls are made. Returns (µs, calls)."""
    clock = time.perf_counter_ns
    deadline = clock() + int(seconds * 0.2e9)
    n = 0
    while n < 3 or clock() < deadline:
        fn()
        n += 1
    times = []
    deadline = clock() + int(seconds * 1e9)
    while len(times) < MIN_CALLS or clock() < deadline:
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times) / 1e3, len(times)


@contextlib.contextmanager
def quiet():
    """Silence the exporters' and quantizers' deprecation warnings and logging, and send
    anything they print to stderr, so that stdout holds only the tables."""
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        disabled = logging.root.manager.disable
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(disabled)


def export_onnx(model, x, path, names, exporter, opset):
    """torch.onnx.export of the float model to path. exporter "auto" tries the new (dynamo)
    exporter when onnxscript is installed and falls back to the legacy TorchScript one if it
    fails, loses the recurrent node or computes its weights in the graph. Returns a note on
    which exporter wrote the file."""
    import onnx

    def legacy():
        with quiet():
            torch.onnx.export(model, (x,), path, input_names=["x"], output_names=names,
                              opset_version=opset, dynamo=False)

    def opset_of():
        imports = onnx.load(path).opset_import
        return next((o.version for o in imports if o.domain in ("", "ai.onnx")), "?")

    if exporter == "legacy":
        legacy()
        return f"legacy TorchScript exporter (dynamo=False), opset {opset_of()}"
    if exporter == "auto" and importlib.util.find_spec("onnxscript") is None:
        legacy()
        return (f"legacy TorchScript exporter (dynamo=False), opset {opset_of()}: the new "
                f"exporter needs onnxscript, which is not installed")
    try:
        with quiet():
            torch.onnx.export(model, (x,), path, input_names=["x"], output_names=names,
                              opset_version=opset, dynamo=True, verbose=False)
        graph = onnx.load(path).graph
        ops = {n.op_type for n in graph.node}
        if not ops & RECURRENT_OPS:
            raise RuntimeError(f"no LSTM/GRU node in the exported graph ({sorted(ops)})")
        # ORT's quantize_dynamic quantizes a recurrent node only when its W and R inputs are
        # initializers; the new exporter can compute them with Slice and Concat instead.
        constants = {t.name for t in graph.initializer}
        for node in graph.node:
            if node.op_type in RECURRENT_OPS and not set(node.input[1:3]) <= constants:
                raise RuntimeError(f"the {node.op_type} weights are computed in the graph, not "
                                   f"stored, so ORT cannot quantize them")
        return f"new exporter (dynamo=True), opset {opset_of()}"
    except Exception as err:  # noqa: BLE001 - any failure of the new exporter means: fall back
        if exporter == "dynamo":
            raise
        legacy()
        return (f"legacy TorchScript exporter (dynamo=False), opset {opset_of()}: the new one "
                f"failed ({type(err).__name__}: {str(err).splitlines()[0][:120]})")


def op_types(path):
    """The op types of an ONNX graph's nodes, in order, without Constant; with their domains."""
    import onnx

    return [f"{n.domain}.{n.op_type}" if n.domain else n.op_type
            for n in onnx.load(path).graph.node if n.op_type != "Constant"]


def ort_session(path, threads):
    """An ONNX Runtime CPU session: intra-op threads N, inter-op 1, sequential, all graph
    optimisations."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def dynq_index(root):
    """Criterion's results under root: {full_id: median ns}, from every */new/benchmark.json
    (its full_id, e.g. "forward/fp32/256") and the estimates.json beside it."""
    found = {}
    for bench in Path(root).rglob("new/benchmark.json"):
        try:
            full_id = json.loads(bench.read_text())["full_id"]
            est = json.loads((bench.parent / "estimates.json").read_text())
            found[full_id] = float(est["median"]["point_estimate"])
        except (OSError, KeyError, ValueError):
            continue
    return found


def dynq_median_us(index, root, cell, scheme, dim):
    """dynq's criterion median in µs for a cell, scheme ("fp32"/"int8") and dim, or None. Looks
    the id up in the index, then at the directory criterion would use for it."""
    bench_id = f"{CELLS[cell][2]}/{scheme}/{dim}"
    if bench_id in index:
        return index[bench_id] / 1e3
    path = Path(root) / bench_id / "new" / "estimates.json"
    try:
        return float(json.loads(path.read_text())["median"]["point_estimate"]) / 1e3
    except (OSError, KeyError, ValueError):
        return None


def dynq_report_us(binary, cell, dim, args):
    """dynq's own p50s in µs ({"dynq_fp32": ..., "dynq_int8": ...}) for one cell and dim, from
    its headless report run right now with the shape and threads the peers were timed with, and
    the core-to-core handoff in ns it measured before and after its runs (how fast a minute it
    was: on a virtual machine it can change severalfold from one minute to the next)."""
    bidirectional = CELLS[cell][1]
    cmd = [str(binary), "--report", "-", "--format", "json", "--dim", str(dim),
           "--seq", str(args.seq), "--batch", str(args.batch),
           "--cell", "gru" if CELLS[cell][0] is nn.GRU else "lstm",
           "--threads", str(args.threads), "--schemes", "int8",
           "--duration", str(2 * args.seconds)] + (["--bidirectional"] if bidirectional else [])
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({run.returncode}): {run.stderr.strip()}")
    report = json.loads(run.stdout)
    medians = {f"dynq_{v['name']}": v["latency_us"]["p50"] for v in report["runs"][0]["variants"]}
    handoff = (report["roofline"]["handoff_ns"], report["handoff_after_ns"])
    return medians, handoff


def measure(cell, dim, args, tmp, notes):
    """Times the four peers for one cell and dim; returns ({peer: µs or None}, check line)."""
    import onnxruntime as ort  # noqa: F401 - fail early with a clear ImportError
    from onnxruntime.quantization import QuantType, quantize_dynamic as ort_quantize_dynamic

    cls, bidirectional, _ = CELLS[cell]
    torch.manual_seed(args.seed + dim)
    model = Net(cls, dim, bidirectional).eval()
    x = torch.randn(args.seq, args.batch, dim)
    feed = {"x": x.numpy()}
    names = ["y", "h", "c"] if cls is nn.LSTM else ["y", "h"]
    out, calls = {}, {}

    with torch.no_grad():
        ref_fp32 = flatten(model(x))
        out["pytorch_fp32"], calls["pytorch_fp32"] = time_calls(lambda: model(x), args.seconds)

        with quiet():
            qmodel = torch.ao.quantization.quantize_dynamic(
                model, {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8)
        qtypes = (torch.ao.nn.quantized.dynamic.LSTM, torch.ao.nn.quantized.dynamic.GRU)
        ref_int8 = None
        if isinstance(qmodel.rnn, qtypes):
            ref_int8 = flatten(qmodel(x))
            out["pytorch_int8"], calls["pytorch_int8"] = time_calls(
                lambda: qmodel(x), args.seconds)
        else:
            out["pytorch_int8"] = None
            notes.add(f"PyTorch INT8 n/a: quantize_dynamic left {type(qmodel.rnn).__name__}")

    fp32_path = str(Path(tmp) / f"{cell}_{dim}.onnx")
    int8_path = str(Path(tmp) / f"{cell}_{dim}.int8.onnx")
    notes.add("ONNX export: " + export_onnx(model, x, fp32_path, names, args.exporter,
                                            args.opset))
    sess = ort_session(fp32_path, args.threads)
    ort_fp32 = sess.run(None, feed)
    fp32_diff = max_abs_diff(ort_fp32, ref_fp32)
    out["ort_fp32"], calls["ort_fp32"] = time_calls(lambda: sess.run(None, feed), args.seconds)
    del sess

    with quiet():
        ort_quantize_dynamic(fp32_path, int8_path, weight_type=QuantType.QInt8)
    float_ops, int8_ops = op_types(fp32_path), op_types(int8_path)
    if args.verbose:
        print(f"  {cell} {dim} ONNX float graph: {' '.join(float_ops)}", file=sys.stderr)
        print(f"  {cell} {dim} ONNX int8 graph:  {' '.join(int8_ops)}", file=sys.stderr)
    left_float = sorted(set(int8_ops) & RECURRENT_OPS)
    quant_ops = sorted({t for t in int8_ops if "Quant" in t or "Integer" in t})
    int8_diff = None
    if left_float or not quant_ops:
        out["ort_int8"] = None
        notes.add(f"ORT INT8 n/a: onnxruntime.quantization.quantize_dynamic left the "
                  f"{'/'.join(left_float) or 'graph'} node in float (quantized graph: "
                  f"{', '.join(int8_ops)}), so there is no int8 model to time")
    else:
        notes.add(f"ORT INT8 graph: {', '.join(int8_ops)}")
        sess = ort_session(int8_path, args.threads)
        ort_int8 = sess.run(None, feed)
        if ref_int8 is not None:
            int8_diff = max_abs_diff(ort_int8, ref_int8)
        out["ort_int8"], calls["ort_int8"] = time_calls(lambda: sess.run(None, feed),
                                                        args.seconds)
        del sess

    ok = fp32_diff <= args.atol
    check = (f"dim {dim}: max |ORT FP32 − PyTorch FP32| {fp32_diff:.2e}"
             f"{'' if ok else f' > {args.atol:g}: MISMATCH'}"
             + (f", max |ORT INT8 − PyTorch INT8| {int8_diff:.2e}" if int8_diff is not None
                else ""))
    shown = ", ".join(f"{p} {out[p]:.1f} µs ({calls[p]} calls)" for p in PEERS
                      if out.get(p) is not None)
    print(f"{cell} {check}; {shown}", file=sys.stderr, flush=True)
    return out, check, ok


def fmt(us):
    """A median in µs for the table: one decimal below 1,000, none above; "n/a" for None."""
    if us is None:
        return "n/a"
    return f"{us:.1f}" if us < 1000 else f"{us:.0f}"


def table(cell, results, dynq, checks, notes, handoffs=None):
    """One cell's Markdown table (with dynq's columns if dynq is not None, and a column of the
    handoff dynq measured around its report if `handoffs` maps each dim to it) and its notes."""
    cols = PEERS + (DYNQ if dynq is not None else [])
    labels = [LABELS[c] for c in cols] + (["handoff ns"] if handoffs else [])
    lines = [f"### {cell.upper() if not cell.startswith('bi') else 'Bi' + cell[2:].upper()}",
             "",
             "| dim | " + " | ".join(labels) + " |",
             "|---:|" + "---:|" * len(labels)]
    for dim, row in results.items():
        cells = [fmt(row[p]) for p in PEERS]
        if dynq is not None:
            cells += ["-" if dynq[dim][p] is None else fmt(dynq[dim][p]) for p in DYNQ]
        if handoffs:
            before, after = handoffs[dim]
            cells.append(f"{before:.0f} → {after:.0f}")
        lines.append(f"| {dim} | " + " | ".join(cells) + " |")
    lines.append("")
    for note in sorted(notes) + ["check, " + c for c in checks]:
        lines.append(f"- {note}")
    return "\n".join(lines)


def parse_args(argv=None):
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", nargs="+", choices=list(CELLS), default=["lstm"])
    p.add_argument("--dims", nargs="+", type=int, default=[8, 80, 256, 512, 1024])
    p.add_argument("--seq", type=int, default=20)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="torch.set_num_threads and ORT intra-op threads (default: all CPUs)")
    p.add_argument("--seconds", type=float, default=2.0,
                   help="timing budget per (peer, cell, dim), after a warm-up of a fifth of it; "
                        f"at least {MIN_CALLS} calls")
    p.add_argument("--atol", type=float, default=1e-4,
                   help="largest |ORT FP32 - PyTorch FP32| accepted")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--exporter", choices=["auto", "dynamo", "legacy"], default="auto",
                   help="torch.onnx exporter; auto: the new one if onnxscript is installed, "
                        "the legacy TorchScript one if not or if the new one fails")
    p.add_argument("--seed", type=int, default=29592)
    p.add_argument("--json", type=Path, help="also write {cell: {dim: {peer: median_us}}}")
    p.add_argument("--dynq-criterion", type=Path, metavar="DIR",
                   help="add dynq's medians from criterion's results in DIR "
                        "(e.g. target/criterion after `cargo bench --bench forward`)")
    p.add_argument("--dynq", type=Path, metavar="BINARY",
                   help="add dynq's p50s from its headless report (e.g. target/release/dynq), "
                        "run for each cell and dim right after the peers, with the same shape "
                        "and threads: the side-by-side figures of one run")
    p.add_argument("--verbose", action="store_true",
                   help="print the ONNX graphs' op types (float and quantized) per cell and dim")
    return p.parse_args(argv)


def main(argv=None):
    """Measures every cell and dim, prints the tables, writes the JSON; exit 1 on a mismatch."""
    args = parse_args(argv)
    import onnxruntime as ort

    torch.set_num_threads(args.threads)
    engine = "x86" if "x86" in torch.backends.quantized.supported_engines else "fbgemm"
    torch.backends.quantized.engine = engine
    ort.set_default_logger_severity(3)

    threads = f"{args.threads} thread" + ("s" if args.threads != 1 else "")
    header = (f"Median µs per forward pass (sequence {args.seq}, batch {args.batch}, one layer, "
              f"input = hidden = dim, zero initial state) on {cpu_name()}, "
              f"{os.cpu_count()} logical CPUs, {threads}; torch {torch.__version__} "
              f"(quantized engine {engine}), onnxruntime {ort.__version__}; "
              f"{datetime.date.today().isoformat()}.")
    print(header, file=sys.stderr, flush=True)

    index = dynq_index(args.dynq_criterion) if args.dynq_criterion else None
    raw, blocks, all_ok = {}, [], True
    with tempfile.TemporaryDirectory(prefix="dynq-peers-") as tmp:
        for cell in args.cells:
            results, checks, notes, handoffs = {}, [], set(), {}
            dynq = {} if index is not None or args.dynq else None
            for dim in args.dims:
                results[dim], check, ok = measure(cell, dim, args, tmp, notes)
                checks.append(check)
                all_ok &= ok
                if args.dynq:
                    dynq[dim], handoffs[dim] = dynq_report_us(args.dynq, cell, dim, args)
                    print(f"{cell} dim {dim}: dynq FP32 {dynq[dim]['dynq_fp32']:.1f} µs, "
                          f"INT8 {dynq[dim]['dynq_int8']:.1f} µs", file=sys.stderr, flush=True)
                elif dynq is not None:
                    dynq[dim] = {f"dynq_{s}": dynq_median_us(index, args.dynq_criterion,
                                                             cell, s, dim)
                                 for s in ("fp32", "int8")}
            if args.dynq:
                notes.add(f"dynq: the p50 of `{args.dynq} --report` run right after the peers "
                          f"at each dim (same sequence, batch and threads, {2 * args.seconds:g} "
                          f"s for its two variants; a random initial state); handoff ns: the "
                          f"core-to-core handoff that report measured before and after its runs")
            elif dynq is not None:
                group = CELLS[cell][2]
                notes.add(f"dynq: criterion's median of `{group}/{{fp32,int8}}/{{dim}}` in "
                          f"{args.dynq_criterion} (`cargo bench --bench forward`: sequence 20, "
                          f"batch 1, a random initial state, default run options i.e. one "
                          f"thread per core; criterion's median is of per-sample means)"
                          + ("" if (args.seq, args.batch) == (20, 1) else
                             f"; NOT the shape timed here (seq {args.seq}, batch {args.batch})"))
            raw[cell] = {str(d): {**r, **(dynq[d] if dynq is not None else {})}
                         for d, r in results.items()}
            blocks.append(table(cell, results, dynq, checks, notes, handoffs))

    print(header + "\n\n" + "\n\n".join(blocks))
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2) + "\n")
    if not all_ok:
        print(f"ORT FP32 and PyTorch FP32 differ by more than {args.atol:g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
