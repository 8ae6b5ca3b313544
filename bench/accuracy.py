"""Accuracy benchmark: train on CoNLL-2003 train, evaluate on dev, for each decoder/encoder.

    python bench/accuracy.py                      # default config + the alternatives, 2 CPU cores
    python bench/accuracy.py --runs bilstm-crf --set epochs=2 --limit 2000

Each run is a fresh subprocess so its peak memory is its own. Prints a Markdown
table and saves JSON (with the machine's description) under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe, peak_rss_mib  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "conll2003"
RUNS = {
    "bilstm-crf": {"encoder": "bilstm", "decoder": "crf"},
    "none-crf": {"encoder": "none", "decoder": "crf"},
    "none-softmax": {"encoder": "none", "decoder": "softmax"},
    "bilstm-softmax": {"encoder": "bilstm", "decoder": "softmax"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", default=str(DATA / "train.txt"))
    parser.add_argument("--dev", default=str(DATA / "dev.txt"))
    parser.add_argument("--runs", default="bilstm-crf,none-crf,none-softmax", help="comma-separated: " + ", ".join(RUNS))
    parser.add_argument("--set", action="append", default=[], help="TrainConfig override key=value (all runs)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N training sentences")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "accuracy.json"))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(run_one(json.loads(args.one))), flush=True)
        return
    results = []
    for name in args.runs.split(","):
        job = {"name": name, "train": args.train, "dev": args.dev, "limit": args.limit, "device": args.device,
               "config": {**RUNS[name], **_overrides(args.set)}}
        results.append(_spawn(job))
        print(_row(results[-1]), flush=True)
    out = {"benchmark": "accuracy", "machine": describe(args.device), "train": args.train, "dev": args.dev,
           "limit": args.limit, "runs": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print("\n" + table(results) + f"\n\nsaved {args.out}")


def run_one(job: dict) -> dict:
    """Train and evaluate one configuration (in this process)."""
    from tagger.formats import read_column
    from tagger.train import TrainConfig, train

    train_data = read_column(job["train"], strict=False)
    if job["limit"]:
        train_data = train_data[: job["limit"]]
    dev_data = read_column(job["dev"], strict=False)
    config = TrainConfig(**job["config"])
    started = time.perf_counter()
    last = [0.0]

    def progress(p):
        if time.perf_counter() - last[0] > 30 or p.dev_f1 is not None:
            last[0] = time.perf_counter()
            print(f"  [{job['name']}] step {p.step}/{p.total} epoch {p.epoch} loss {p.loss:.4f} "
                  f"{p.tokens_per_s:.0f} tok/s eta {p.eta_s:.0f}s dev_f1 {p.dev_f1}", file=sys.stderr, flush=True)

    result = train(train_data, dev_data, config, progress=progress, device=job["device"])
    wall = time.perf_counter() - started
    report = result.report
    return {
        "name": job["name"], "config": asdict(config), "train_sentences": len(train_data),
        "dev_sentences": len(dev_data), "dev_f1": report.f1, "precision": report.overall.precision,
        "recall": report.overall.recall, "support": report.overall.support, "per_label": {k: v.f1 for k, v in report.per_label.items()},
        "errors": asdict(report.errors), "history": result.history, "wall_s": round(wall, 1),
        "train_tokens_per_s": round(result.tokens_per_s, 1), "peak_rss_mib": peak_rss_mib(),
    }


def _spawn(job: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--one", json.dumps(job)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise SystemExit(f"run {job['name']} failed (exit {proc.returncode})")
    return json.loads(lines[-1][len("RESULT "):])


def _overrides(pairs: list[str]) -> dict:
    from tagger.train import TrainConfig

    kinds = {f.name: type(getattr(TrainConfig(), f.name)) for f in fields(TrainConfig)}
    out = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        out[key] = value.lower() in ("1", "true", "yes") if kinds[key] is bool else kinds[key](value)
    return out


def _row(r: dict) -> str:
    labels = " ".join(f"{k} {v:.3f}" for k, v in sorted(r["per_label"].items()))
    return (f"{r['name']}: dev F1 {r['dev_f1']:.4f} ({labels}); {r['wall_s'] / 60:.1f} min; "
            f"{r['train_tokens_per_s']:.0f} train tok/s; peak {r['peak_rss_mib']:.0f} MiB")


def table(results: list[dict]) -> str:
    """Markdown table of the runs."""
    labels = sorted({k for r in results for k in r["per_label"]})
    head = "| run | epochs | dev F1 | " + " | ".join(labels) + " | wall | train tok/s | peak RSS |"
    rows = [head, "|" + "---|" * (len(labels) + 6)]
    for r in results:
        cells = " | ".join(f"{r['per_label'].get(k, 0):.3f}" for k in labels)
        rows.append(f"| {r['name']} | {r['config']['epochs']} | **{r['dev_f1']:.4f}** | {cells} | "
                    f"{r['wall_s'] / 60:.1f} min | {r['train_tokens_per_s']:.0f} | {r['peak_rss_mib']:.0f} MiB |")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
