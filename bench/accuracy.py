"""Accuracy benchmark: train on CoNLL-2003 train, evaluate on dev, for each decoder/encoder.

    python bench/accuracy.py                      # default config + the alternatives, 2 CPU cores
    python bench/accuracy.py --runs bilstm-crf --set epochs=2 --limit 2000
    python bench/accuracy.py --task tags          # POS: UD English EWT sample, token accuracy
    python bench/accuracy.py --task frames        # SRL: UP English EWT sample, argument F1

For ``tags`` the dev figure is token accuracy on the file's own words, with per-tag F1. For
``frames`` it is argument F1 with gold predicates (CoNLL-2005 style, ``V`` not counted), per role,
plus the predicate finder's F1 and the end-to-end argument F1 on the predicates it finds.

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

SHARED = ROOT.parent / "shared" / "data"
DATA = SHARED / "conll2003"
TASK_DATA = {"spans": DATA, "tags": SHARED / "ud_ewt_pos", "frames": SHARED / "up_ewt_srl"}
RUNS = {
    "bilstm-crf": {"encoder": "bilstm", "decoder": "crf"},
    "none-crf": {"encoder": "none", "decoder": "crf"},
    "none-softmax": {"encoder": "none", "decoder": "softmax"},
    "bilstm-softmax": {"encoder": "bilstm", "decoder": "softmax"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=tuple(TASK_DATA), default="spans")
    parser.add_argument("--train", help="training file (default: the task's shared sample)")
    parser.add_argument("--dev", help="dev file (default: the task's shared sample)")
    parser.add_argument("--runs", default="bilstm-crf,none-crf,none-softmax", help="comma-separated: " + ", ".join(RUNS))
    parser.add_argument("--set", action="append", default=[], help="TrainConfig override key=value (all runs)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N training sentences")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", help="JSON file (default: bench/results/accuracy[-TASK].json)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.train = args.train or str(TASK_DATA[args.task] / "train.txt")
    args.dev = args.dev or str(TASK_DATA[args.task] / "dev.txt")
    suffix = "" if args.task == "spans" else f"-{args.task}"
    args.out = args.out or str(ROOT / "bench" / "results" / f"accuracy{suffix}.json")
    if args.one:
        print("RESULT " + json.dumps(run_one(json.loads(args.one))), flush=True)
        return
    results = []
    for name in args.runs.split(","):
        job = {"name": name, "train": args.train, "dev": args.dev, "limit": args.limit, "device": args.device,
               "task": args.task, "config": {**RUNS[name], **_overrides(args.set)}}
        results.append(_spawn(job))
        print(_row(results[-1]), flush=True)
    out = {"benchmark": "accuracy", "task": args.task, "machine": describe(args.device), "train": args.train,
           "dev": args.dev,
           "limit": args.limit, "runs": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print("\n" + table(results) + f"\n\nsaved {args.out}")


def run_one(job: dict) -> dict:
    """Train and evaluate one configuration (in this process)."""
    from tagger.formats import read
    from tagger.train import TrainConfig, train

    task = job.get("task", "spans")
    train_data = list(read(Path(job["train"]), task=task).examples)
    if job["limit"]:
        train_data = train_data[: job["limit"]]
    dev_data = list(read(Path(job["dev"]), task=task).examples)
    config = TrainConfig(**{**job["config"], "task": task})
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
    if task != "spans":
        return _task_result(job, task, result, train_data, dev_data, wall)
    return {
        "name": job["name"], "config": asdict(result.config), "train_sentences": len(train_data),
        "dev_sentences": len(dev_data), "dev_f1": report.f1, "precision": report.overall.precision,
        "recall": report.overall.recall, "support": report.overall.support, "per_label": {k: v.f1 for k, v in report.per_label.items()},
        "errors": asdict(report.errors), "history": result.history, "wall_s": round(wall, 1),
        "train_tokens_per_s": round(result.tokens_per_s, 1), "peak_rss_mib": peak_rss_mib(),
        "precisions": _precisions(result, dev_data),
    }


def _precisions(result, dev_data) -> dict:
    """Dev F1 and words/s of the trained model at each inference precision (the F1 gate of the
    fast paths: within 0.3 points of fp32)."""
    from tagger.config import PRECISIONS
    from tagger.predict import Tagger
    from tagger.train import score

    words = sum(len(e.text.split()) for e in dev_data)
    out = {}
    for precision in PRECISIONS:
        tagger = Tagger(result.model, result.tokenizer, result.meta(), max_length=result.config.max_length,
                        precision=precision)
        score(tagger, dev_data[:64])  # warm-up: first-call allocations, thread pools
        t0 = time.perf_counter()
        f1 = score(tagger, dev_data).f1
        seconds = time.perf_counter() - t0
        out[precision] = {"dev_f1": f1, "words_per_s": round(words / seconds, 1),
                          "texts_per_s": round(len(dev_data) / seconds, 1)}
    return out


def _task_result(job, task, result, train_data, dev_data, wall) -> dict:
    """The figures of a tags or frames run (the model as the app uses it: int8 scored too)."""
    from tagger.evaluate import evaluate_frames, evaluate_predicates
    from tagger.predict import Tagger
    from tagger.train import score

    report = result.report
    fp32 = result.tagger()
    out = {"name": job["name"], "task": task, "config": asdict(result.config), "train_sentences": len(train_data),
           "dev_sentences": len(dev_data), "history": result.history, "wall_s": round(wall, 1),
           "train_tokens_per_s": round(result.tokens_per_s, 1), "peak_rss_mib": peak_rss_mib()}
    int8 = Tagger(result.model, result.tokenizer, result.meta(), max_length=result.config.max_length, quantize=True)
    if task == "tags":
        out.update(dev_f1=report.accuracy, accuracy=report.accuracy, support=report.support,
                   per_label={k: v.f1 for k, v in report.per_label.items()}, confusion=report.confusion)
    else:
        out.update(dev_f1=report.f1, precision=report.overall.precision, recall=report.overall.recall,
                   support=report.overall.support, per_label={k: v.f1 for k, v in report.per_label.items()},
                   per_label_support={k: v.support for k, v in report.per_label.items()},
                   predicate_f1=None, end_to_end_f1=None)
        if result.finder is not None:
            t0 = time.perf_counter()
            found = fp32.find_predicates([e.text for e in dev_data])
            end_to_end = evaluate_frames(dev_data, fp32.predict_frames([e.text for e in dev_data], found))
            out.update(predicate_f1=evaluate_predicates(dev_data, found).f1, end_to_end_f1=end_to_end.f1,
                       predicate_train_s=round(result.finder.seconds, 1),
                       end_to_end_predict_s=round(time.perf_counter() - t0, 1))
        if result.finder is not None:
            int8.finder = Tagger(result.finder.model, result.finder.tokenizer, result.finder.meta(),
                                 max_length=result.config.max_length, quantize=True)
    t0 = time.perf_counter()
    out["dev_int8"] = score(int8, dev_data).f1
    words = sum(len(e.text.split()) for e in dev_data)
    out["dev_int8_words_per_s"] = round(words / (time.perf_counter() - t0), 1)
    return out


def _spawn(job: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--one", json.dumps(job)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise SystemExit(f"run {job['name']} failed (exit {proc.returncode})")
    return json.loads(lines[-1][len("RESULT "):])


def _overrides(pairs: list[str]) -> dict:
    from tagger.train import TrainConfig

    kinds = {f.name: bool if "bool" in str(f.type) else type(getattr(TrainConfig(), f.name)) for f in fields(TrainConfig)}
    out = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        out[key] = value.lower() in ("1", "true", "yes") if kinds[key] is bool else kinds[key](value)
    return out


def _row(r: dict) -> str:
    if r.get("task") == "tags":
        return (f"{r['name']}: dev accuracy {r['accuracy']:.4f} (int8 {r['dev_int8']:.4f}); {r['wall_s'] / 60:.1f} min; "
                f"{r['train_tokens_per_s']:.0f} train tok/s; peak {r['peak_rss_mib']:.0f} MiB")
    if r.get("task") == "frames":
        found = (f"predicate F1 {r['predicate_f1']:.4f}, end-to-end {r['end_to_end_f1']:.4f}"
                 if r.get("predicate_f1") is not None else "no predicate finder")
        return (f"{r['name']}: dev argument F1 {r['dev_f1']:.4f} (int8 {r['dev_int8']:.4f}), {found}; "
                f"{r['wall_s'] / 60:.1f} min; "
                f"{r['train_tokens_per_s']:.0f} train tok/s; peak {r['peak_rss_mib']:.0f} MiB")
    labels = " ".join(f"{k} {v:.3f}" for k, v in sorted(r["per_label"].items()))
    fast = ", ".join(f"{k} {v['dev_f1']:.4f}" for k, v in r.get("precisions", {}).items())
    return (f"{r['name']}: dev F1 {r['dev_f1']:.4f} ({labels}; {fast}); {r['wall_s'] / 60:.1f} min; "
            f"{r['train_tokens_per_s']:.0f} train tok/s; peak {r['peak_rss_mib']:.0f} MiB")


def table(results: list[dict]) -> str:
    """Markdown table of the runs."""
    labels = sorted({k for r in results for k in r["per_label"]})
    if results and results[0].get("task") in ("tags", "frames"):
        return _task_table(results)
    head = "| run | epochs | dev F1 | " + " | ".join(labels) + " | wall | train tok/s | peak RSS |"
    rows = [head, "|" + "---|" * (len(labels) + 6)]
    for r in results:
        cells = " | ".join(f"{r['per_label'].get(k, 0):.3f}" for k in labels)
        rows.append(f"| {r['name']} | {r['config']['epochs']} | **{r['dev_f1']:.4f}** | {cells} | "
                    f"{r['wall_s'] / 60:.1f} min | {r['train_tokens_per_s']:.0f} | {r['peak_rss_mib']:.0f} MiB |")
    return "\n".join(rows)


def _task_table(results: list[dict]) -> str:
    r0 = results[0]
    figure = "accuracy" if r0["task"] == "tags" else "arg F1 (gold pred.)"
    extra = "" if r0["task"] == "tags" else " predicate F1 | end-to-end F1 |"
    rows = [f"| run | epochs | dev {figure} | int8 |{extra} wall | train tok/s | peak RSS |",
            "|" + "---|" * (7 if r0["task"] == "tags" else 9)]
    for r in results:
        more = "" if r["task"] == "tags" else (f" {r['predicate_f1']:.4f} | {r['end_to_end_f1']:.4f} |"
                                               if r.get("predicate_f1") is not None else " – | – |")
        rows.append(f"| {r['name']} | {r['config']['epochs']} | **{r['dev_f1']:.4f}** | {r['dev_int8']:.4f} |{more} "
                    f"{r['wall_s'] / 60:.1f} min | {r['train_tokens_per_s']:.0f} | {r['peak_rss_mib']:.0f} MiB |")
    per = sorted(r0["per_label"].items(), key=lambda kv: -r0.get("per_label_support", {}).get(kv[0], 0))
    rows.append("")
    rows.append(f"{'per tag' if r0['task'] == 'tags' else 'per role'} ({r0['name']}): "
                + ", ".join(f"{k} {v:.3f}" for k, v in per))
    return "\n".join(rows)


if __name__ == "__main__":
    main()
