"""Where a training step's time goes, English against Chinese: forward, backward, optimizer.

    python bench/step_time.py                  # CoNLL-2003 and Weibo NER, batches of 8 and 32, ~5 minutes
    python bench/step_time.py --sets conll2003 --precisions fp32,bf16   # is bfloat16 autocast faster here?

For each data set it builds the model ``python -m tagger train`` builds (the embedded MiniLM-L6,
BiLSTM + CRF; Weibo with the dictionary feature, which turns itself on for Chinese), takes the
same shuffled length-sorted batches the training loop takes, and times each phase of a step on
``--steps`` batches after ``--warmup`` steps: the forward pass with the loss, the backward pass,
gradient clipping, and the AdamW step both fused (what training uses) and with the multi-tensor
kernels (the earlier default), on the same gradients. Reported per batch and per 1,000 real
subwords, so the two scripts (a subword per Chinese character, about one per English word) are
compared on what each step processes. Saves JSON with the machine's description to
bench/results/step_time.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
DATA = {"conll2003": SHARED / "conll2003" / "train.txt", "weibo": SHARED / "weibo_ner" / "train.txt"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="conll2003,weibo")
    parser.add_argument("--batch-sizes", default="8,32")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--precisions", default="fp32",
                        help="comma-separated of fp32, bf16 (the forward pass under bfloat16 autocast, as --bf16 trains)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "step_time.json"))
    args = parser.parse_args()
    if set(args.precisions.split(",")) - {"fp32", "bf16"}:
        parser.error("--precisions takes fp32 and bf16")
    rows = [measure(name, int(size), args.steps, args.warmup, precision)
            for name in args.sets.split(",") for size in args.batch_sizes.split(",")
            for precision in args.precisions.split(",")]
    print(table(rows))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "step_time", "machine": describe(), "rows": rows}, indent=2) + "\n")
    print(f"saved {out}")


def measure(name: str, batch_size: int, steps: int, warmup: int, precision: str = "fp32") -> dict:
    import torch

    from tagger.formats import read
    from tagger.lexicon import mostly_chinese
    from tagger.model import HeadConfig
    from tagger.schemes import tag_names
    from tagger.encoding import TextEncoder
    from tagger.train import TrainConfig, _aligned, _initial_model, _LossOf, _optimizer, shuffled_length_batches

    examples = list(read(DATA[name]).examples)
    config = TrainConfig(batch_size=batch_size, lexicon=mostly_chinese(e.text for e in examples))
    labels = sorted({s.label for e in examples for s in e.spans})
    head = HeadConfig(tuple(tag_names(labels, "IOB2")), config.decoder, config.encoder, lstm_hidden=config.lstm_hidden,
                      dropout=config.dropout, unseen_buckets=config.unseen_buckets, lexicon=config.lexicon)
    torch.manual_seed(13)
    model, tokenizer = _initial_model(config, head, None)
    model.train()
    encoder = TextEncoder(tokenizer, config.max_length, config.stride, lexicon=head.lexicon)
    encoded, tag_ids, _ = _aligned(encoder, examples, model.head)
    windows = [w for w in encoder.windows([len(e) for e in encoded]) if w.end > w.start]
    batches = shuffled_length_batches([w.end - w.start for w in windows], batch_size, random.Random(13),
                                      config.length_chunk)[: warmup + steps]
    loss_of = _LossOf(model)
    fused, foreach = _optimizer(model, config), _plain_twin(_optimizer(model, config))
    phases: dict[str, list[float]] = {k: [] for k in ("forward", "backward", "clip", "adamw_fused", "adamw_foreach")}
    tokens, widths = [], []
    for k, group in enumerate(batches):
        batch = encoder.batch(encoded, [windows[i] for i in group], tag_ids)
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss, real = loss_of(batch, len(encoder.prefix))
        t1 = time.perf_counter()
        fused.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        t3 = time.perf_counter()
        saved = {n: p.detach().clone() for n, p in model.named_parameters()}
        fused.step()
        t4 = time.perf_counter()
        with torch.no_grad():  # the same update again from the same point, with the other kernels
            for n, p in model.named_parameters():
                p.copy_(saved[n])
        t5 = time.perf_counter()
        foreach.step()
        t6 = time.perf_counter()
        if k < warmup:
            continue
        for key, seconds in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t6 - t5)):
            phases[key].append(seconds)
        tokens.append(int(real))
        widths.append(int(batch["input_ids"].shape[1]))
    per_batch = {k: round(statistics.median(v) * 1000, 1) for k, v in phases.items()}
    real = statistics.median(tokens)
    step = per_batch["forward"] + per_batch["backward"] + per_batch["clip"]
    row = {"data": name, "batch_size": batch_size, "precision": precision, "lexicon": bool(config.lexicon), "steps": steps,
           "real_subwords_per_batch": real, "padded_width": statistics.median(widths),
           "padding_share": round(1 - sum(tokens) / (batch_size * sum(widths)), 3),
           "ms_per_batch": per_batch,
           "ms_per_1000_subwords": {k: round(v / real * 1000, 1) for k, v in per_batch.items()},
           "step_ms_fused": round(step + per_batch["adamw_fused"], 1),
           "step_ms_foreach": round(step + per_batch["adamw_foreach"], 1)}
    print(json.dumps(row), flush=True)
    return row


def _plain_twin(optimizer):
    """An AdamW over the same parameter groups with the multi-tensor (foreach) kernels."""
    import torch

    groups = [{k: v for k, v in g.items() if k not in ("fused", "foreach")} for g in optimizer.param_groups]
    return torch.optim.AdamW(groups, foreach=True)


def table(rows: list[dict]) -> str:
    lines = ["| data | batch | precision | real subwords | forward | backward | clip | AdamW fused | AdamW foreach | step (fused) | "
             "per 1,000 subwords: forward / backward / AdamW fused |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        b, t = r["ms_per_batch"], r["ms_per_1000_subwords"]
        lines.append(f"| {r['data']} | {r['batch_size']} | {r.get('precision', 'fp32')} | {r['real_subwords_per_batch']:.0f} | {b['forward']} ms | "
                     f"{b['backward']} ms | {b['clip']} ms | {b['adamw_fused']} ms | {b['adamw_foreach']} ms | "
                     f"{r['step_ms_fused']} ms | {t['forward']} / {t['backward']} / {t['adamw_fused']} ms |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
