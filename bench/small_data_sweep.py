"""Small-data sweep: dev F1 of one training schedule on the first N CoNLL-2003 sentences.

    python bench/small_data_sweep.py n=200 epochs=6 batch_size=8 freeze_embeddings=1
    python bench/small_data_sweep.py n=1000 epochs=10 batch_size=16 seed=1

Trains with ``tagger.train`` directly (no database) on the first ``n`` training sentences, scores
every epoch on a stable sample of ``dev=`` (default 800) dev sentences, and the kept epoch on
the whole dev file; appends one JSON line to bench/results/small_data_sweep.jsonl. The runs
behind worker.auto_schedule's choices. Threads: ``T`` (default 1, so two runs can share two
cores); the timings of a run are only as good as the machine was quiet, its F1 does not depend
on it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

DATA = ROOT.parent / "shared" / "data" / "conll2003"
OUT = ROOT / "bench" / "results" / "small_data_sweep.jsonl"
KINDS = {"epochs": int, "batch_size": int, "length_chunk": int, "lr": float, "head_lr": float, "warmup_ratio": float, "decoder": str,
         "encoder": str, "seed": int, "dropout": float, "freeze_embeddings": lambda v: v.lower() in ("1", "true")}


def main(argv: list[str]) -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("T", "1")))
    from tagger.evaluate import evaluate
    from tagger.formats import read_column
    from tagger.train import TrainConfig, dev_sample, train

    logging.disable(logging.WARNING)
    args = dict(a.split("=", 1) for a in argv)
    n, dev_n = int(args.pop("n")), int(args.pop("dev", 800))
    config = TrainConfig(**{k: KINDS[k](v) for k, v in args.items()})
    train_data = read_column(DATA / "train.txt", strict=False)[:n]
    dev = read_column(DATA / "dev.txt", strict=False)
    started = time.perf_counter()
    result = train(train_data, dev_sample(dev, dev_n), config)
    full = evaluate(dev, result.tagger().predict([e.text for e in dev]))
    row = {"n": n, "config": args, "threads": torch.get_num_threads(),
           "epoch_f1": [h["dev_f1"] for h in result.history], "sample_best_f1": round(result.report.f1, 4),
           "dev_f1": round(full.f1, 4), "per_label": {k: round(v.f1, 3) for k, v in sorted(full.per_label.items())},
           "seconds": round(time.perf_counter() - started), "train_tokens_per_s": round(result.tokens_per_s)}
    print(json.dumps(row), flush=True)
    with open(OUT, "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
