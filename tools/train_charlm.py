#!/usr/bin/env python3
"""Train the character-level Shakespeare LSTM that dynq ships, and write PyTorch's figures for it.

Optional tool (PyTorch, in a virtualenv outside the repo); dynq never needs it to build, run or
test. It writes, relative to the repository root:

- models/shakespeare-charlstm.safetensors  the weights by the word_language_model example's
  RNNModel names (encoder., rnn., decoder.), the vocabulary in the metadata key `dynq.vocab`
- models/shakespeare-val.txt                the validation text (the corpus's last 10%)
- models/train.json                         how the model was trained and what it reached
- tests/fixtures/shakespeare_eval.json      PyTorch's evaluation of every variant (the parity
  test's reference), computed with the tutorial's evaluate loop
- tests/fixtures/shakespeare_val_head.txt   the first characters of the validation text
- tests/fixtures/shakespeare_int8_embedding.json  the embedding's 8-bit rows as PyTorch
  quantizes them (`float_qparams_weight_only_qconfig`), and its lookup of every row

Variants: fp32, int8, int8_per_channel, fp16 (x86 engine), int8_qnnpack (quantized and run
under `torch.backends.quantized.engine = "qnnpack"`, ARM's engine) and int8_embedding (int8
with `nn.Embedding: float_qparams_weight_only_qconfig` too).

Usage:  python tools/train_charlm.py [--corpus ../shared/data/tinyshakespeare.txt] [--steps N]
        python tools/train_charlm.py --eval-only   # re-write the fixture from the saved model
"""

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parent.parent
MODEL_PATH = ROOT / "models" / "shakespeare-charlstm.safetensors"
VAL_PATH = ROOT / "models" / "shakespeare-val.txt"
TRAIN_JSON = ROOT / "models" / "train.json"
FIXTURE = ROOT / "tests" / "fixtures" / "shakespeare_eval.json"
VAL_HEAD = ROOT / "tests" / "fixtures" / "shakespeare_val_head.txt"
EMBEDDING_FIXTURE = ROOT / "tests" / "fixtures" / "shakespeare_int8_embedding.json"
VAL_HEAD_CHARS = 2000
EMBED, HIDDEN, LAYERS = 128, 256, 2
PROMPT, GENERATE = "ROMEO:", 200


class RNNModel(nn.Module):
    """The shape of PyTorch's word_language_model example: encoder -> rnn -> decoder."""

    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.0):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, tokens, hidden):
        emb = self.drop(self.encoder(tokens))
        output, hidden = self.rnn(emb, hidden)
        return self.decoder(self.drop(output)), hidden

    def init_hidden(self, bsz):
        shape = (self.rnn.num_layers, bsz, self.rnn.hidden_size)
        return (torch.zeros(shape), torch.zeros(shape))


def split(text):
    cut = int(len(text) * 0.9)
    return text[:cut], text[cut:]


def batchify(ids, bsz):
    """The tutorial's batchify: drop the tail, one column per batch element, shape [N, bsz]."""
    nbatch = ids.size(0) // bsz
    return ids[: nbatch * bsz].view(bsz, -1).t().contiguous()


def train(args, vocab, train_text):
    torch.manual_seed(args.seed)
    index = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([index[c] for c in train_text], dtype=torch.long)
    model = RNNModel(len(vocab), EMBED, HIDDEN, LAYERS, dropout=0.1)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps)
    loss_fn = nn.CrossEntropyLoss()
    start = time.time()
    model.train()
    for step in range(args.steps):
        starts = torch.randint(0, ids.size(0) - args.seq - 1, (args.batch,))
        window = torch.stack([ids[s : s + args.seq + 1] for s in starts]).t()
        out, _ = model(window[:-1], model.init_hidden(args.batch))
        loss = loss_fn(out.reshape(-1, len(vocab)), window[1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 200 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.4f}  {time.time() - start:6.0f} s", flush=True)
    return model, time.time() - start


class OnEngine(nn.Module):
    """A quantized model whose every forward runs on PyTorch's quantized `engine`."""

    def __init__(self, model, engine):
        super().__init__()
        self.model, self.engine = model, engine

    def forward(self, *args):
        previous = torch.backends.quantized.engine
        torch.backends.quantized.engine = self.engine
        try:
            return self.model(*args)
        finally:
            torch.backends.quantized.engine = previous


def variants(model):
    """The variants dynq computes, made exactly as a user would make them."""
    from torch.ao.quantization import (
        default_dynamic_qconfig,
        float16_dynamic_qconfig,
        float_qparams_weight_only_qconfig,
        per_channel_dynamic_qconfig,
        quantize_dynamic,
    )

    torch.backends.quantized.engine = "x86"
    model.eval()

    def quantized(qconfig, embedding_qconfig=None):
        spec = {nn.LSTM: qconfig, nn.Linear: qconfig}
        if embedding_qconfig is not None:
            spec[nn.Embedding] = embedding_qconfig
        return quantize_dynamic(model, spec).eval()

    torch.backends.quantized.engine = "qnnpack"
    arm = OnEngine(quantized(default_dynamic_qconfig), "qnnpack")
    torch.backends.quantized.engine = "x86"
    return {
        "fp32": model,
        "int8": quantized(default_dynamic_qconfig),
        "int8_per_channel": quantized(per_channel_dynamic_qconfig),
        "fp16": quantized(float16_dynamic_qconfig),
        "int8_qnnpack": arm,
        "int8_embedding": quantized(default_dynamic_qconfig, float_qparams_weight_only_qconfig),
    }


@torch.no_grad()
def embedding_rows(quantized):
    """PyTorch's 8-bit embedding rows (`float_qparams_weight_only_qconfig`) and its lookup."""
    weight = quantized.encoder.weight()
    rows = weight.shape[0]
    return {
        "shape": list(weight.shape),
        "values": weight.int_repr().flatten().tolist(),
        "scales": weight.q_per_channel_scales().float().tolist(),
        "zero_points": weight.q_per_channel_zero_points().float().tolist(),
        "lookup": quantized.encoder(torch.arange(rows)).flatten().tolist(),
    }


@torch.no_grad()
def evaluate(model, source, bptt, fp32_argmax=None):
    """The tutorial's evaluate loop, with the loss summed in f64 and top-1 counts kept."""
    hidden = model.init_hidden(source.size(1)) if hasattr(model, "init_hidden") else None
    loss_sum, tokens, top1, agree, near_ties = 0.0, 0, 0, 0, 0
    argmaxes, first_chunk = [], None
    start = time.time()
    for i in range(0, source.size(0) - 1, bptt):
        seq_len = min(bptt, source.size(0) - 1 - i)
        data, targets = source[i : i + seq_len], source[i + 1 : i + 1 + seq_len].reshape(-1)
        output, hidden = model(data, hidden)
        logits = output.reshape(-1, output.size(-1))
        if first_chunk is None:
            first_chunk = logits.tolist()
        logp = torch.log_softmax(logits.double(), dim=-1)
        loss_sum -= logp.gather(1, targets[:, None]).sum().item()
        tokens += targets.numel()
        best = logits.argmax(dim=-1)
        top2 = logits.topk(2, dim=-1).values
        near_ties += int(((top2[:, 0] - top2[:, 1]) < 1e-5).sum())
        top1 += int((best == targets).sum())
        if fp32_argmax is not None:
            agree += int((best == fp32_argmax[len(argmaxes)]).sum())
        argmaxes.append(best)
    seconds = time.time() - start
    figures = {
        "loss_sum": loss_sum,
        "tokens": tokens,
        "loss": loss_sum / tokens,
        "top1_correct": top1,
        "top1_agree_with_fp32": agree if fp32_argmax is not None else top1 * 0 + tokens,
        "near_ties_below_1e-5": near_ties,
        "first_chunk_logits": first_chunk,
        "pytorch_eval_seconds": seconds,
    }
    return figures, argmaxes


@torch.no_grad()
def generate(model, vocab, prompt, count):
    """Greedy continuation of the prompt, one character per step, the state carried."""
    index = {c: i for i, c in enumerate(vocab)}
    hidden = model.init_hidden(1)
    output, hidden = model(torch.tensor([[index[c]] for c in prompt]), hidden)
    text = ""
    for _ in range(count):
        nxt = int(output[-1, 0].argmax())
        text += vocab[nxt]
        output, hidden = model(torch.tensor([[nxt]]), hidden)
    return text


def attach_init_hidden(quantized, model):
    quantized.init_hidden = model.init_hidden
    return quantized


def write_fixture(model, vocab, val_text):
    index = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([index[c] for c in val_text], dtype=torch.long)
    torch.set_num_threads(1)
    fixture = {
        "torch": torch.__version__,
        "engine": "x86",
        "model": MODEL_PATH.name,
        "data": VAL_PATH.name,
        "bptt": 25,
        "note": "loss_sum is -sum(log_softmax(logits.double())[target]) over every predicted "
        "token of the tutorial's evaluate loop; near_ties counts positions whose two best "
        "logits differ by less than 1e-5 (where top-1 counts may legitimately flip); "
        "pytorch_eval_seconds is the loop's wall time with one thread",
        "head": {"chars": VAL_HEAD_CHARS},
        "full": {},
        "generate": {"prompt": PROMPT, "chars": GENERATE},
    }
    models = {n: attach_init_hidden(m, model) for n, m in variants(model).items()}
    EMBEDDING_FIXTURE.write_text(json.dumps(embedding_rows(models["int8_embedding"])) + "\n")
    for name, source_ids, key in [("full", ids, "full"), ("head", ids[:VAL_HEAD_CHARS], "head")]:
        for eval_batch in (1, 10):
            source = batchify(source_ids, eval_batch)
            fp32_fig, fp32_argmax = evaluate(models["fp32"], source, 25)
            per_variant = {"fp32": fp32_fig}
            for vname, m in models.items():
                if vname != "fp32":
                    per_variant[vname], _ = evaluate(m, source, 25, fp32_argmax)
            for v, f in per_variant.items():
                print(f"{name} eb{eval_batch} {v:17s} loss {f['loss']:.6f} top1 {f['top1_correct']} "
                      f"agree {f['top1_agree_with_fp32']} ties {f['near_ties_below_1e-5']} "
                      f"{f['pytorch_eval_seconds']:.2f} s", flush=True)
                if key == "full" or eval_batch != 1:
                    del f["first_chunk_logits"]  # the head's eval_batch 1 chunk is enough
            fixture[key][f"eval_batch_{eval_batch}"] = per_variant
    fixture["generate"]["text"] = {v: generate(m, vocab, PROMPT, GENERATE) for v, m in models.items()}
    FIXTURE.write_text(json.dumps(fixture, indent=1) + "\n")
    VAL_HEAD.write_text(val_text[:VAL_HEAD_CHARS])
    return fixture


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq", type=int, default=100)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--eval-only", action="store_true", help="reuse the saved model")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    text = Path(args.corpus).read_text(encoding="utf-8")
    train_text, val_text = split(text)
    vocab = sorted(set(text))
    model = RNNModel(len(vocab), EMBED, HIDDEN, LAYERS)
    if args.eval_only:
        tensors = load_file(MODEL_PATH)
        model.load_state_dict(tensors)
    else:
        trained, seconds = train(args, vocab, train_text)
        model.load_state_dict(trained.state_dict())
        tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
        # The vocabulary travels in the file: a JSON list of tokens, index = embedding row.
        save_file(tensors, MODEL_PATH, metadata={"dynq.vocab": json.dumps(vocab)})
        VAL_PATH.write_text(val_text, encoding="utf-8")
    fixture = write_fixture(model, vocab, val_text)
    if not args.eval_only:
        fp32 = fixture["full"]["eval_batch_1"]["fp32"]
        TRAIN_JSON.write_text(json.dumps({
            "corpus": "tinyshakespeare.txt (first 90% train, last 10% validation)",
            "model": f"Embedding({len(vocab)},{EMBED}) -> LSTM({EMBED},{HIDDEN},{LAYERS}) -> Linear({HIDDEN},{len(vocab)})",
            "parameters": sum(p.numel() for p in model.parameters()),
            "steps": args.steps, "batch": args.batch, "seq": args.seq, "lr": args.lr,
            "seed": args.seed, "threads": args.threads, "dropout": 0.1,
            "optimizer": "Adam, one-cycle schedule, grad-norm clip 1.0",
            "train_seconds": round(seconds, 1),
            "val_loss_fp32_eval_batch_1_bptt_25": round(fp32["loss"], 4),
            "torch": torch.__version__,
        }, indent=1) + "\n")


if __name__ == "__main__":
    main()
