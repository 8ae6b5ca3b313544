"""What the correction ledger costs a training job, and what it finds, on CoNLL-2003.

Two versions of the embedded MiniLM tagger as the worker would make them: v1 on the first 200
training sentences, v2 continuing from v1 on the first 400 (the worker's small-data schedule,
``worker.auto_schedule``). The ledger of v2 against v1 is then scored on the first ``--docs``
dev sentences, with both versions in int8 (as the worker does), on one thread (as beside a busy
app). Prints and saves bench/results/ledger.json: the four counts and the seconds per 1,000
corrections.

    OMP_WAIT_POLICY=PASSIVE python bench/ledger.py [--docs 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "conll2003"
OUT = ROOT / "bench" / "results" / "ledger.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=1000, help="dev sentences to score")
    parser.add_argument("--train", default=str(DATA / "train.txt"))
    parser.add_argument("--dev", default=str(DATA / "dev.txt"))
    args = parser.parse_args()

    import torch

    import worker
    from bench.machine import describe, peak_rss_mib
    from tagger.formats import read_column
    from tagger.ledger import compare
    from tagger.predict import Tagger
    from tagger.train import TrainConfig, train

    torch.set_num_threads(1)
    dev = read_column(args.dev, strict=False)[: args.docs]
    seen = {e.text for e in dev}
    pool = [e for e in read_column(args.train, strict=False) if e.text not in seen]
    train_pool = list({e.text: e for e in pool[:1000]}.values())[:400]
    labels = sorted({s.label for e in train_pool for s in e.spans})
    with tempfile.TemporaryDirectory() as tmp:
        folders, made = [], {}
        for name, n, warm in (("v1", 200, None), ("v2", 400, "v1")):
            config = replace(TrainConfig(), **worker.auto_schedule(n))
            start = time.perf_counter()
            result = train(train_pool[:n], [], config, labels=labels, warm_start=made.get(warm))
            made[name] = str(result.save(Path(tmp) / name))
            folders.append(made[name])
            print(f"{name}: trained on {n} sentences in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        old, new = (Tagger.load(f, quantize=True) for f in folders)
        start = time.perf_counter()
        ledger = compare(dev, old, new)
        seconds = time.perf_counter() - start
    row = {"docs": len(dev), "counts": ledger.counts(), "seconds": round(seconds, 1),
           "seconds_per_1000": round(1000 * seconds / len(dev), 1), "peak_rss_mib": peak_rss_mib(),
           "versions": {"v1": "200 CoNLL train sentences", "v2": "400, from v1"}, "machine": describe()}
    print(json.dumps(row, indent=2))
    OUT.write_text(json.dumps(row, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
