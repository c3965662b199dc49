#!/usr/bin/env python3
"""Times PyTorch's evaluate loop (the tutorial's, bptt 25) on the shipped model's validation
text per variant, to put beside `cargo bench --bench eval` on the same machine.

Usage:  python tools/time_eval.py [--threads N] [--eval-batch B] [--repeat R]
Prints the median wall time of R runs per variant (float model and quantize_dynamic models).
"""

import argparse
import statistics
import time

import torch
from safetensors.torch import load_file

import train_charlm as t


@torch.no_grad()
def tutorial_evaluate(model, source, bptt, ntokens):
    """word_language_model/main.py's evaluate(), as it is."""
    criterion = torch.nn.CrossEntropyLoss()
    total_loss = 0.0
    hidden = model.init_hidden(source.size(1))
    for i in range(0, source.size(0) - 1, bptt):
        seq_len = min(bptt, source.size(0) - 1 - i)
        data, targets = source[i : i + seq_len], source[i + 1 : i + 1 + seq_len].reshape(-1)
        output, hidden = model(data, hidden)
        total_loss += len(data) * criterion(output.view(-1, ntokens), targets).item()
    return total_loss / (len(source) - 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval-batch", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    val_text = t.VAL_PATH.read_text(encoding="utf-8")
    import json
    from safetensors import safe_open

    with safe_open(t.MODEL_PATH, "pt") as f:
        vocab = json.loads(f.metadata()["dynq.vocab"])
    model = t.RNNModel(len(vocab), t.EMBED, t.HIDDEN, t.LAYERS)
    model.load_state_dict(load_file(t.MODEL_PATH))
    index = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([index[c] for c in val_text], dtype=torch.long)
    source = t.batchify(ids, args.eval_batch)
    for name, m in t.variants(model).items():
        m = t.attach_init_hidden(m, model)
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            loss = tutorial_evaluate(m, source, 25, len(vocab))
            times.append(time.perf_counter() - start)
        print(f"{name:17s} threads {args.threads} eval_batch {args.eval_batch}: "
              f"median {statistics.median(times):.3f} s of {args.repeat} "
              f"(loss {loss:.6f})", flush=True)


if __name__ == "__main__":
    main()
