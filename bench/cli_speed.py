"""Whole processes, as a user batch-tags a file: ``python -m tagger predict`` against a pipeline script.

    python bench/cli_speed.py                      # about 5 minutes on 2 cores (trains its model first)
    python bench/cli_speed.py --model DIR          # an existing SeqLab folder (encoder none, softmax)

The model: a SeqLab folder trained with ``--encoder none --decoder softmax`` (a plain transformers
token-classification checkpoint, which ``pipeline`` loads as is) on the first ``--train-sentences``
CoNLL-2003 training sentences. The texts: the CoNLL dev sentences, one per line, which the model
never saw. Each run is a fresh process timed from spawn to exit (start-up, loading, tagging,
writing): SeqLab's CLI at ``--precision int8``, ``fp32`` and ``onnx-int8`` (its ONNX export made
once, before the timed runs, and timed apart; the JSON says which is the default), and a script calling
``pipeline("token-classification", aggregation_strategy="simple")`` with batch 32, alternating,
``--repeats`` each; medians and ratios are reported. Start-up is measured the same way on a
one-line file. F1 of each side on the dev file is computed once, from its own output (seqeval,
strict IOB2), so a faster side cannot hide a worse one. Saves JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "conll2003"
PIPELINE = """
import json, sys
from transformers import pipeline
texts = [line.rstrip("\\n") for line in open(sys.argv[2], encoding="utf-8") if line.strip()]
ner = pipeline("token-classification", model=sys.argv[1], aggregation_strategy="simple", device="cpu")
for text, found in zip(texts, ner(texts, batch_size=32)):
    print(json.dumps({"text": text, "spans": [{"start": e["start"], "end": e["end"], "label": e["entity_group"]}
                                              for e in found]}))
"""
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="SeqLab folder (default: train one, encoder none + softmax)")
    parser.add_argument("--train-sentences", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "cli_speed.json"))
    args = parser.parse_args()
    from bench.machine import describe
    from tagger.config import FAST_PRECISION
    from tagger.formats import read

    work = Path(tempfile.mkdtemp(prefix="seqlab-cli-speed-"))
    dev = read(DATA / "dev.txt").examples
    texts = work / "dev.txt"
    texts.write_text("".join(ex.text + "\n" for ex in dev), encoding="utf-8")
    one = work / "one.txt"
    one.write_text(dev[0].text + "\n", encoding="utf-8")
    model = args.model or _train(work, args)

    sides = {
        **{f"seqlab {p}": [sys.executable, "-m", "tagger", "predict", "--model", model, "--precision", p]
           for p in ("int8", "fp32", "onnx-int8")},
        "pipeline": [sys.executable, "-c", PIPELINE, model],
    }
    # the ONNX export is made on the first run and cached: time that first run apart (the cold
    # start a user pays once per model), then the warm ones with the others
    ENV["SEQLAB_CACHE"] = str(work / "cache")
    cold_export_s = _timed(sides["seqlab onnx-int8"] + [str(one)])[0]
    print(f"onnx-int8, first run (export + quantize + one line): {cold_export_s:.1f} s", file=sys.stderr)
    runs = {side: {"tag_s": [], "start_s": []} for side in sides}
    outputs = {}
    for repeat in range(args.repeats):
        for side, command in sides.items():  # alternating: a drift of the machine hits every side
            seconds, out = _timed(command + [str(texts)])
            runs[side]["tag_s"].append(seconds)
            outputs.setdefault(side, out)
            runs[side]["start_s"].append(_timed(command + [str(one)])[0])
            print(f"repeat {repeat + 1}: {side}: {seconds:.1f} s for {len(dev):,} texts", file=sys.stderr)
    f1 = {side: _f1(dev, out) for side, out in outputs.items()}
    summary = {side: {"tag_s_median": round(statistics.median(r["tag_s"]), 2),
                      "start_s_median": round(statistics.median(r["start_s"]), 2),
                      "texts_per_s": round(len(dev) / statistics.median(r["tag_s"]), 1), "f1": round(f1[side], 4)}
               for side, r in runs.items()}
    base = summary["pipeline"]["tag_s_median"]
    for side in summary:
        summary[side]["speed_vs_pipeline"] = round(base / summary[side]["tag_s_median"], 2)
    result = {"benchmark": "cli_speed", "machine": describe(), "model": model, "texts": len(dev),
              "words": sum(len(ex.text.split()) for ex in dev), "repeats": args.repeats,
              "load_average_after": os.getloadavg(), "runs": runs, "summary": summary,
              "onnx_first_run_s": round(cold_export_s, 2),
              "default_precision": FAST_PRECISION, "target_speed_vs_pipeline": 3.0}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("| side | whole process (median) | start-up, one line | texts/s | dev F1 | vs pipeline |")
    print("|---|---:|---:|---:|---:|---:|")
    for side, s in summary.items():
        print(f"| {side} | {s['tag_s_median']:.1f} s | {s['start_s_median']:.1f} s | {s['texts_per_s']:.0f} | "
              f"{s['f1']:.3f} | {s['speed_vs_pipeline']:.2f}x |")


def _train(work: Path, args) -> str:
    from tagger.formats import read, write_column

    train = read(DATA / "train.txt").examples[: args.train_sentences]
    path = work / "train.txt"
    with path.open("w", encoding="utf-8") as f:
        write_column(train, f, "IOB2")
    out = work / "model"
    subprocess.run([sys.executable, "-m", "tagger", "train", "--train", str(path), "--out", str(out),
                    "--encoder", "none", "--decoder", "softmax", "--epochs", str(args.epochs)],
                   cwd=ROOT, env=ENV, check=True, stdout=subprocess.DEVNULL)
    return str(out)


def _timed(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{command[:4]} failed: {done.stderr[-2000:]}")
    return seconds, done.stdout


def _f1(dev, out: str) -> float:
    from tagger.evaluate import evaluate
    from tagger.spans import Span

    predicted = [[Span(s["start"], s["end"], s["label"]) for s in json.loads(line)["spans"]]
                 for line in out.splitlines() if line.strip()]
    return evaluate(dev, predicted).f1


if __name__ == "__main__":
    main()
