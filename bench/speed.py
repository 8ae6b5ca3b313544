"""Speed benchmark: SeqLab vs transformers' pipeline (inference) and Trainer (training).

    python bench/speed.py                   # about 9 minutes on 2 quiet CPU cores
    python bench/speed.py --quick           # a smoke run on a few hundred sentences

Both sides use the same base model, data, hyper-parameters and CPU. Every measurement runs
in a fresh subprocess (so peak memory is its own), the sides alternate, and the medians and
ratios are reported, because these shared machines drift. Saves JSON with the machine's
description under bench/results/.

Training: SeqLab's loop vs ``Trainer`` with ``DataCollatorForTokenClassification`` (dynamic
padding), both on the same subword-level IOB2 labels, encoder none + softmax, one learning
rate; training run r of every side starts from seed 13 + r (the same initial classifier), and
the F1 gap is reported seed by seed beside the spread between seeds. Tokens/s counts real
(non-padding) tokens. Dev F1 of both models is computed with the same decoder and seqeval.
SeqLab trains with its defaults, which include bfloat16 autocast where the processor computes
bfloat16 natively (``tagger.train.native_bf16``: AMX); there two more sides run, so that each
precision is also compared with its like: ``seqlab-fp32`` (``bf16=False``) and ``trainer-bf16``
(``TrainingArguments(bf16=True)``, the same autocast).

Inference: the SeqLab-trained model folder, dev sentences as raw text lines; the peer is
``pipeline("token-classification", aggregation_strategy="simple")`` with ``batch_size=32``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe, peak_rss_mib  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "conll2003"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", default=str(DATA / "train.txt"))
    parser.add_argument("--dev", default=str(DATA / "dev.txt"))
    parser.add_argument("--train-sentences", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-repeats", type=int, default=2)
    parser.add_argument("--infer-repeats", type=int, default=3)
    parser.add_argument("--train-sides", default="auto",
                        help="comma-separated of seqlab, trainer, seqlab-fp32, trainer-bf16; auto: the first "
                             "two, and the other two where the processor computes bfloat16 natively")
    parser.add_argument("--dev-sentences", type=int, default=0, help="0 = all")
    parser.add_argument("--model", help="a model folder trained as the training sides train theirs (--encoder none "
                        "--decoder softmax): its inference is measured and the training is skipped")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the script runs")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "speed.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        job = json.loads(args.worker)
        print("RESULT " + json.dumps(WORKERS[job["kind"]](job)), flush=True)
        return
    if args.quick:
        args.train_sentences, args.epochs, args.train_repeats, args.infer_repeats, args.dev_sentences = 200, 1, 1, 1, 200
    run(args)


def run(args) -> None:
    work = Path(tempfile.mkdtemp(prefix="seqlab-speed-"))
    os.environ["SEQLAB_CACHE"] = str(work / "cache")  # the ONNX exports of this run, made untimed
    common = {"train": args.train, "dev": args.dev, "n_train": args.train_sentences, "epochs": args.epochs,
              "n_dev": args.dev_sentences, "device": args.device}
    sides = () if args.model else _train_sides(args.train_sides, args.device)
    training: dict[str, list[dict]] = {side: [] for side in sides}
    sides = list(training)
    for r in range(args.train_repeats):
        # repeat r: every side from the same seed (same initial classifier, same seed for the order)
        for side in sides if r % 2 == 0 else sides[::-1]:
            out = str(work / f"{side}-{r}")
            training[side].append(_spawn({**common, "kind": "train", "side": side, "save": out, "seed": 13 + r}))
            print(f"train {side} #{r}: {_short(training[side][-1])}", flush=True)
    model_dir = args.model or training["seqlab"][0]["saved"]
    inference: dict[str, list[dict]] = {"pipeline": [], "seqlab": [], "seqlab-int8": [], "seqlab-onnx-int8": []}
    sides = list(inference)
    # the ONNX export, made once in a process of its own: the timed ones load it from the cache, as a user's do
    _spawn({**common, "kind": "export", "model": model_dir, "precision": "onnx-int8"})
    for r in range(args.infer_repeats):
        for side in sides if r % 2 == 0 else sides[::-1]:
            inference[side].append(_spawn({**common, "kind": "infer", "side": side, "model": model_dir}))
            print(f"infer {side} #{r}: {_short(inference[side][-1])}", flush=True)
    app_model = _spawn({**common, "kind": "app_prepare", "save": str(work / "app-model")})["saved"]
    memory = _spawn({**common, "kind": "app_memory", "model": app_model})
    summary = summarise(training, inference, memory)
    out = {"benchmark": "speed", "machine": describe(args.device), "args": vars(args),
           "summary": summary, "training": training, "inference": inference, "app_memory": memory}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print("\n" + table(summary) + f"\n\nsaved {args.out}")


TRAIN_SIDES = ("seqlab", "trainer", "seqlab-fp32", "trainer-bf16")


def _train_sides(asked: str, device: str) -> tuple[str, ...]:
    if asked != "auto":
        sides = tuple(asked.split(","))
        if not {"seqlab", "trainer"} <= set(sides) or not set(sides) <= set(TRAIN_SIDES):
            raise SystemExit(f"--train-sides: seqlab and trainer, and any of {TRAIN_SIDES[2:]}")
        return sides
    from tagger.train import native_bf16

    return TRAIN_SIDES if native_bf16(device) else TRAIN_SIDES[:2]


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def summarise(training, inference, memory) -> dict:
    """Medians per side and the ratios the targets are stated in."""
    s = {"train_sides": list(training), "train_pairs": []}
    for side, rows in training.items():
        s[f"train_{side}"] = {k: _median(rows, k) for k in ("tokens_per_s", "epoch_s", "dev_f1", "peak_rss_mib")}
    for side, rows in inference.items():
        s[f"infer_{side}"] = {k: _median(rows, k) for k in ("words_per_s", "p50_ms", "p95_ms", "dev_f1", "peak_rss_mib")}
    s["ratios"] = {
        "infer_words_per_s_fp32": s["infer_seqlab"]["words_per_s"] / s["infer_pipeline"]["words_per_s"],
        "infer_words_per_s_int8": s["infer_seqlab-int8"]["words_per_s"] / s["infer_pipeline"]["words_per_s"],
        "int8_f1_drop_points": 100 * (s["infer_seqlab"]["dev_f1"] - s["infer_seqlab-int8"]["dev_f1"]),
        "infer_words_per_s_onnx_int8": s["infer_seqlab-onnx-int8"]["words_per_s"] / s["infer_pipeline"]["words_per_s"],
        "onnx_int8_f1_drop_points": 100 * (s["infer_seqlab"]["dev_f1"] - s["infer_seqlab-onnx-int8"]["dev_f1"]),
    }
    s["app_memory_mib"] = memory["peak_rss_mib"]
    s["app_default_p50_ms"], s["app_default_p95_ms"] = memory["p50_ms"], memory["p95_ms"]
    s["app_default_precision"] = memory["precision"]
    s["app_torch_int8_p50_ms"] = memory["torch_int8"]["p50_ms"]
    s["app_torch_int8_p95_ms"] = memory["torch_int8"]["p95_ms"]
    if not training:  # --model: inference only
        return s
    s["ratios"]["train_tokens_per_s"] = s["train_seqlab"]["tokens_per_s"] / s["train_trainer"]["tokens_per_s"]
    s["ratios"]["train_f1_gap_points"] = 100 * (s["train_seqlab"]["dev_f1"] - s["train_trainer"]["dev_f1"])
    # the F1 gap seed by seed (both sides of a repeat share the seed) against the spread between seeds
    pairs = [100 * (a["dev_f1"] - b["dev_f1"]) for a, b in zip(training["seqlab"], training["trainer"])]
    s["train_f1_gap_by_seed_points"] = pairs
    s["train_seqlab_bf16"] = all(r.get("bf16") for r in training["seqlab"])
    for mine, peer in (("seqlab", "trainer-bf16"), ("seqlab-fp32", "trainer")):  # each precision against its like
        if mine in training and peer in training:
            key = f"{mine}_vs_{peer}"
            s["train_pairs"].append(key)
            s["ratios"][f"train_tokens_per_s_{key}"] = s[f"train_{mine}"]["tokens_per_s"] / s[f"train_{peer}"]["tokens_per_s"]
            s["ratios"][f"train_f1_gap_points_{key}"] = 100 * (s[f"train_{mine}"]["dev_f1"] - s[f"train_{peer}"]["dev_f1"])
            s[f"train_f1_gap_by_seed_points_{key}"] = [100 * (a["dev_f1"] - b["dev_f1"])
                                                       for a, b in zip(training[mine], training[peer])]
    s["train_f1_seed_spread_points"] = {
        side: 100 * (max(r["dev_f1"] for r in rows) - min(r["dev_f1"] for r in rows)) for side, rows in training.items()}
    return s


def table(s: dict) -> str:
    """Markdown tables of the medians and ratios."""
    rows = ["| inference | words/s | 100-word paragraph p50 / p95 | dev F1 | peak RSS |", "|---|---|---|---|---|"]
    for side in ("pipeline", "seqlab", "seqlab-int8", "seqlab-onnx-int8"):
        r = s[f"infer_{side}"]
        rows.append(f"| {side} | {r['words_per_s']:.0f} | {r['p50_ms']:.1f} / {r['p95_ms']:.1f} ms | "
                    f"{r['dev_f1']:.4f} | {r['peak_rss_mib']:.0f} MiB |")
    if s["train_sides"]:
        rows += ["", "| training | tokens/s | s/epoch | dev F1 | peak RSS |", "|---|---|---|---|---|"]
    for side in s["train_sides"]:
        r = s[f"train_{side}"]
        rows.append(f"| {side} | {r['tokens_per_s']:.0f} | {r['epoch_s']:.1f} | {r['dev_f1']:.4f} | {r['peak_rss_mib']:.0f} MiB |")
    q = s["ratios"]
    trained = "" if not s["train_sides"] else (
             f"SeqLab / Trainer tokens/s: {q['train_tokens_per_s']:.2f}x (F1 gap of the medians "
             f"{q['train_f1_gap_points']:+.2f} points; seed by seed "
             f"{', '.join(f'{g:+.2f}' for g in s['train_f1_gap_by_seed_points'])}; spread between seeds: "
             f"SeqLab {s['train_f1_seed_spread_points']['seqlab']:.2f}, Trainer {s['train_f1_seed_spread_points']['trainer']:.2f}; "
             f"SeqLab in bf16: {s['train_seqlab_bf16']}); "
             + "".join(f"{k}: {q['train_tokens_per_s_' + k]:.2f}x tokens/s, F1 gap {q['train_f1_gap_points_' + k]:+.2f} "
                       "points; " for k in s["train_pairs"]))
    rows += ["", f"SeqLab / pipeline words/s: fp32 {q['infer_words_per_s_fp32']:.2f}x, int8 "
             f"{q['infer_words_per_s_int8']:.2f}x (int8 F1 drop {q['int8_f1_drop_points']:.2f} points), onnx-int8 "
             f"{q['infer_words_per_s_onnx_int8']:.2f}x (F1 drop {q['onnx_int8_f1_drop_points']:.2f} points); "
             + trained +
             f"app process with the default model (BiLSTM + CRF, {s['app_default_precision']}): "
             f"{s['app_memory_mib']:.0f} MiB peak, 100-word paragraph p50 {s['app_default_p50_ms']:.1f} ms / p95 "
             f"{s['app_default_p95_ms']:.1f} ms (torch int8: {s['app_torch_int8_p50_ms']:.1f} / "
             f"{s['app_torch_int8_p95_ms']:.1f} ms)"]
    return "\n".join(rows)


def _short(r: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items() if k != "saved")


def _spawn(job: dict) -> dict:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(job)], stdout=subprocess.PIPE,
                          text=True, cwd=ROOT, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise SystemExit(f"{job['kind']} {job.get('side')} failed (exit {proc.returncode})")
    return json.loads(lines[-1][len("RESULT "):])


# ----------------------------------------------------------------------------- workers


def _data(job):
    from tagger.formats import read_column

    train = read_column(job["train"], strict=False)[: job["n_train"]]
    dev = read_column(job["dev"], strict=False)
    return train, dev[: job["n_dev"]] if job["n_dev"] else dev


def _config(job):
    from tagger.train import TrainConfig

    # one learning rate for everything, as Trainer has
    return TrainConfig(encoder="none", decoder="softmax", epochs=job["epochs"], batch_size=32, lr=1e-4,
                       head_lr=1e-4, weight_decay=0.01, warmup_ratio=0.1, grad_clip=1.0, max_length=256,
                       seed=job.get("seed", 13), bf16=False if job.get("side") == "seqlab-fp32" else None)


def train_worker(job: dict) -> dict:
    """Train one side; return tokens/s, seconds per epoch, dev F1, peak memory."""
    from tagger.evaluate import evaluate
    from tagger.predict import Tagger

    train, dev = _data(job)
    config = _config(job)
    if job["side"].startswith("seqlab"):
        from tagger.train import train as seqlab_train

        result = seqlab_train(train, (), config, device=job["device"])
        model, tokenizer, bf16 = result.model, result.tokenizer, result.config.bf16
        tokens_per_s, seconds = result.tokens_per_s, sum(row["seconds"] for row in result.history)
        result.save(job["save"])
    else:
        bf16 = job["side"] == "trainer-bf16"
        model, tokenizer, tokens, seconds = _trainer(train, config, job["device"], bf16)
        tokens_per_s = tokens / seconds
    tagger = Tagger(model.eval(), tokenizer, max_length=config.max_length)
    report = evaluate(dev, tagger.predict([e.text for e in dev]))
    return {"tokens_per_s": tokens_per_s, "epoch_s": seconds / config.epochs, "dev_f1": report.f1,
            "peak_rss_mib": peak_rss_mib(), "bf16": bool(bf16), "saved": job["save"]}


def _trainer(train, config, device, bf16: bool = False):
    """Fine-tune with transformers' Trainer on exactly SeqLab's subword labels (``bf16``: its
    bfloat16 autocast)."""
    import torch
    from transformers import DataCollatorForTokenClassification, Trainer, TrainingArguments

    from tagger import store
    from tagger.encoding import TextEncoder, align_tags
    from tagger.model import HeadConfig
    from tagger.schemes import tag_names

    labels = sorted({s.label for e in train for s in e.spans})
    head = HeadConfig(tuple(tag_names(labels)), decoder="softmax", encoder="none")
    torch.manual_seed(config.seed)  # as SeqLab's train() does: the same initial classifier
    model, tokenizer = store.build(config.base_model, head)
    encoder = TextEncoder(tokenizer, config.max_length)
    index = {t: i for i, t in enumerate(model.head.tags)}
    rows = []
    for enc, example in zip(encoder.encode([e.text for e in train]), train):
        tags, _ = align_tags(enc, example, index)
        ids = list(encoder.prefix) + list(enc.ids) + list(encoder.suffix)
        labels_ = [-100] * len(encoder.prefix) + tags + [-100] * len(encoder.suffix)
        rows.append({"input_ids": ids[: config.max_length], "attention_mask": [1] * min(len(ids), config.max_length),
                     "labels": labels_[: config.max_length]})
    steps = math.ceil(len(rows) / config.batch_size) * config.epochs
    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="trainer-"), per_device_train_batch_size=config.batch_size,
        learning_rate=config.lr, num_train_epochs=config.epochs, warmup_steps=int(steps * config.warmup_ratio),
        weight_decay=config.weight_decay, max_grad_norm=config.grad_clip, lr_scheduler_type="linear",
        seed=config.seed, save_strategy="no", eval_strategy="no", logging_strategy="no", report_to=[],
        use_cpu=device == "cpu", dataloader_num_workers=0, disable_tqdm=True, bf16=bf16,
    )
    trainer = Trainer(model=model.hf, args=args, train_dataset=rows,
                      data_collator=DataCollatorForTokenClassification(tokenizer))
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    tokens = sum(len(r["input_ids"]) for r in rows) * config.epochs
    return model.to("cpu"), tokenizer, tokens, seconds


def _paragraph(dev) -> str:
    """A 100-word paragraph of dev sentences (what a person pastes into the Tag page)."""
    words = " ".join(e.text for e in dev[:40]).split()
    return " ".join(words[:100])


def infer_worker(job: dict) -> dict:
    """Tag all dev texts with one side; words/s, paragraph latency, dev F1, peak memory."""
    from tagger.evaluate import evaluate

    _, dev = _data(job)
    texts = [e.text for e in dev]
    predict = _predictor(job)
    predict(texts[:64])  # warm-up: first-call allocations, thread pools
    started = time.perf_counter()
    predictions = predict(texts)
    seconds = time.perf_counter() - started
    words = sum(len(t.split()) for t in texts)
    return {"words_per_s": words / seconds, "seconds": seconds, **_latency(predict, _paragraph(dev)),
            "dev_f1": evaluate(dev, predictions).f1, "peak_rss_mib": peak_rss_mib()}


def _latency(predict, paragraph: str, calls: int = 30, pause_s: float = 0.0) -> dict:
    """p50 / p95 milliseconds of tagging one paragraph, as the Tag page does; ``pause_s`` between
    calls (not timed), e.g. a person's pace."""
    latencies = []
    for _ in range(calls):
        t0 = time.perf_counter()
        predict([paragraph])
        latencies.append(1000 * (time.perf_counter() - t0))
        time.sleep(pause_s)
    latencies.sort()
    return {"p50_ms": latencies[len(latencies) // 2], "p95_ms": latencies[int(len(latencies) * 0.95) - 1]}


def _predictor(job):
    from tagger.predict import Tagger
    from tagger.spans import Span

    if job["side"] == "pipeline":
        from transformers import pipeline

        ner = pipeline("token-classification", model=job["model"], aggregation_strategy="simple", device=job["device"])

        def predict(texts):
            out = ner(texts, batch_size=32)
            return [[Span(e["start"], e["end"], e["entity_group"]) for e in found] for found in out]

        return predict
    precision = job["side"].removeprefix("seqlab").removeprefix("-") or "fp32"
    tagger = Tagger.load(job["model"], precision=precision)  # onnx-int8: from the cache (export_worker), untimed
    return tagger.predict


def export_worker(job: dict) -> dict:
    """Load ``job["model"]`` at ``job["precision"]`` once: its ONNX export made and cached."""
    from tagger.predict import Tagger

    Tagger.load(job["model"], precision=job["precision"])
    return {}


def app_prepare_worker(job: dict) -> dict:
    """The app's default architecture (BiLSTM + CRF) on the embedded base, saved as a folder and
    loaded once at the app's precision, so that its ONNX export is cached before the timed process."""
    from tagger import store
    from tagger.config import FAST_PRECISION
    from tagger.model import HeadConfig
    from tagger.predict import Tagger
    from tagger.schemes import tag_names

    model, tokenizer = store.build(None, HeadConfig(tuple(tag_names(["LOC", "MISC", "ORG", "PER"]))))
    store.save(model, tokenizer, job["save"], {})
    Tagger.load(job["save"], precision=FAST_PRECISION)
    return {"saved": job["save"]}


def app_memory_worker(job: dict) -> dict:
    """The app's case: the default architecture loaded from its folder as the app loads it
    (``quantize=True``, the fast precision, its export cached), one paragraph at a time; then the
    same with torch's int8, after the memory reading."""
    from tagger.config import FAST_PRECISION
    from tagger.predict import Tagger

    _, dev = _data(job)
    tagger = Tagger.load(job["model"], quantize=True)
    tagger.predict([e.text for e in dev[:500]])
    out = {"precision": FAST_PRECISION, "peak_rss_mib": peak_rss_mib(), **_latency(tagger.predict, _paragraph(dev))}
    torch_int8 = Tagger.load(job["model"], precision="int8")
    torch_int8.predict([e.text for e in dev[:64]])
    out["torch_int8"] = _latency(torch_int8.predict, _paragraph(dev))
    return out


WORKERS = {"train": train_worker, "infer": infer_worker, "export": export_worker, "app_prepare": app_prepare_worker,
           "app_memory": app_memory_worker}

if __name__ == "__main__":
    main()
