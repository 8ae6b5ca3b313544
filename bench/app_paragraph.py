"""The app's paragraph latency, this checkout against an earlier commit, side by side.

    python bench/app_paragraph.py --against 33aadf4        # ~3 minutes: 4 rounds of each side

Absolute times on a shared machine drift by a fifth within an hour (other tenants), so a change
to the paragraph's time is measured against the code before it in the same run: each round runs
``bench/speed.py``'s ``app_memory`` worker (the app's default architecture, BiLSTM + CRF on the
embedded model, loaded as the app loads it, 30 calls of a 100-word CoNLL dev paragraph, p50 and
p95) once from this checkout and once from a ``git worktree`` of ``--against``, alternating, on
the same model folder and ONNX cache. Prints both sides' medians and their ratio and saves JSON
with the machine's description to bench/results/app_paragraph.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "conll2003"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", required=True, help="the commit to compare with (e.g. the one before a change)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "app_paragraph.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="seqlab-paragraph-"))
    env = {**os.environ, "SEQLAB_CACHE": str(work / "cache"), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    other = work / "against"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(other), args.against], check=True)
    try:
        common = {"train": str(DATA / "train.txt"), "dev": str(DATA / "dev.txt"), "n_train": 0, "epochs": 1,
                  "n_dev": 0, "device": "cpu"}
        model = str(work / "app-model")
        # the model saved (and its ONNX export cached) by this checkout's code; both sides read it
        # (a side whose export differs makes its own in its first worker, before the timed calls)
        _worker(ROOT, {**common, "kind": "app_prepare", "save": model}, env)
        rounds: dict[str, list[dict]] = {"this": [], "against": []}
        for r in range(args.rounds):
            for side in ("this", "against") if r % 2 == 0 else ("against", "this"):
                tree = ROOT if side == "this" else other
                rounds[side].append(_worker(tree, {**common, "kind": "app_memory", "model": model}, env))
                print(f"{side} #{r}: p50 {rounds[side][-1]['p50_ms']:.2f} ms", flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)], check=False)
    summary = {side: {k: statistics.median(row[k] for row in rows) for k in ("p50_ms", "p95_ms")}
               for side, rows in rounds.items()}
    summary["p50_ratio"] = summary["this"]["p50_ms"] / summary["against"]["p50_ms"]
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout
    out = {"benchmark": "app_paragraph", "machine": describe("cpu"), "this": head.strip(), "against": args.against,
           "summary": summary, "rounds": rounds}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nparagraph p50: this {summary['this']['p50_ms']:.2f} ms, {args.against} "
          f"{summary['against']['p50_ms']:.2f} ms (x{summary['p50_ratio']:.2f}); saved {args.out}")


def _worker(tree: Path, job: dict, env: dict) -> dict:
    done = subprocess.run([sys.executable, str(tree / "bench" / "speed.py"), "--worker", json.dumps(job)],
                          capture_output=True, text=True, env=env, cwd=tree, check=True)
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT "))


if __name__ == "__main__":
    main()
