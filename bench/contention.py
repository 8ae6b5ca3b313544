"""The Tag page while a job trains: paragraph latency with all threads or one, idle or beside training.

    python bench/contention.py          # about 2 minutes on 2 CPU cores

The app's default model (BiLSTM + CRF, int8) tags the same 100-word paragraph as bench/speed.py,
60 times, with ``share_cpu(False)`` (all threads) and ``share_cpu(True)`` (one thread), first on
an idle machine, then while ``python -m tagger train`` runs on the CoNLL-2003 training set in
another process with ``OMP_WAIT_POLICY=PASSIVE``, as the worker runs. Prints p50 / p95 and saves
JSON with the machine's description under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from bench.speed import DATA, _latency, _paragraph  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", default=str(DATA / "train.txt"))
    parser.add_argument("--dev", default=str(DATA / "dev.txt"))
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "contention.json"))
    args = parser.parse_args()

    from tagger import store
    from tagger.formats import read_column
    from tagger.model import HeadConfig
    from tagger.predict import Tagger, share_cpu
    from tagger.schemes import tag_names

    dev = read_column(args.dev, strict=False)
    model, tokenizer = store.build(None, HeadConfig(tuple(tag_names(["LOC", "MISC", "ORG", "PER"]))))
    tagger = Tagger(model, tokenizer, quantize=True)
    tagger.predict([e.text for e in dev[:100]])
    paragraph = _paragraph(dev)

    def measure(one_thread: bool) -> dict:
        """p50 / p95 ms of tagging the paragraph, at a person's pace (50 ms between calls)."""
        share_cpu(one_thread)
        return {k: round(v, 1) for k, v in _latency(tagger.predict, paragraph, args.calls, pause_s=0.05).items()}

    results = {"idle": {"all threads": measure(False), "one thread": measure(True)}}
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as out:
        trainer = subprocess.Popen([sys.executable, "-m", "tagger", "train", "--train", args.train, "--out", out + "/m",
                                    "--batch-size", "8"], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(20)  # past loading and tokenising: training steps from here on
            results["beside training"] = {"all threads": measure(False), "one thread": measure(True)}
        finally:
            trainer.kill()
            trainer.wait()
    share_cpu(False)
    out = {"benchmark": "contention", "machine": describe("cpu"), "args": vars(args), "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print("| 100-word paragraph, app's default model | all threads p50 / p95 | one thread p50 / p95 |")
    print("|---|---|---|")
    for name, row in results.items():
        a, o = row["all threads"], row["one thread"]
        print(f"| {name} | {a['p50_ms']} / {a['p95_ms']} ms | {o['p50_ms']} / {o['p95_ms']} ms |")
    print(f"\nsaved {args.out}")


if __name__ == "__main__":
    main()
