"""Learning curve: a user corrects CoNLL-2003 sentences and retrains, through the services layer.

    python bench/learning_curve.py                          # both warm starts, ~15 minutes on 2 quiet cores
    python bench/learning_curve.py --sizes 50,200 --warm base --dev-limit 300   # a quick look
    python bench/learning_curve.py --protocols first,random,uncertainty --seeds 13,1,2   # which sentences

With ``--protocols``, the pool is the whole CoNLL training set and each protocol chooses which
sentences are corrected, 3 seeds each (the training seed; for ``random`` also the draw), every
retrain warm-started from the active version as the worker does by default: ``first`` takes the
queue in file order, ``random`` draws sentences at random, ``uncertainty`` starts from the first
50 and then takes the project's queue as the worker ranks it after each retrain
(``worker.rank_queues``: the active version's expected errors over every waiting sentence, with
near-copies pushed back and every other place a random draw; ``services.loop``). Each step records the retrain and, for ``uncertainty``, the ranking time.

For each warm start ("base", "active") on a fresh data folder and SQLite database: create a
PER/ORG/LOC/MISC project on the embedded base model with the project defaults, import the
CoNLL dev set as the dev split (JSONL with ``"split": "dev"``) and the first training sentences
without spans (split train, status new), then for each size: save the gold spans of the next
documents in the queue as corrections, queue a job with ``start_training`` (no overrides but the
warm start, so the worker's defaults decide the epochs), claim it and run it in this process with
``worker.run_job``, exactly as the worker does, with the worker's thread settings.

Per step it records the version's dev metrics (the project's dev split) and the job's time:
training, dev scoring and total from claim to finish. The app stores a text once, so the dev split
holds the *distinct* dev sentences; with ``--conll-dev`` (default on) the new version is also
scored, outside the timed part, on every one of the dev file's sentences, as bench/accuracy.py
does. Timings on a shared 2-core machine are only as good as the machine was quiet: each step
records tokens/s, the CPU time the process got per wall second and the load average, so a
contaminated step can be seen. Saves JSON (with the machine's description) and a PNG plot under
bench/results/, and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as worker.main(), before torch is imported
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = ROOT.parent / "shared" / "data" / "conll2003"
LABELS = ("PER", "ORG", "LOC", "MISC")
TARGETS = {"seconds_at_200": 60.0, "f1_at_200": 0.70, "f1_at_1000": 0.85}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", default=str(DATA / "train.txt"))
    parser.add_argument("--dev", default=str(DATA / "dev.txt"))
    parser.add_argument("--sizes", default="50,100,200,500,1000", help="corrected sentences before each retrain")
    parser.add_argument("--warm", default="base,active", help="warm starts to run: base, active")
    parser.add_argument("--dev-limit", type=int, default=0, help="only the first N dev sentences (quick runs only)")
    parser.add_argument("--no-conll-dev", dest="conll_dev", action="store_false",
                        help="skip scoring each version on all the dev file's sentences")
    parser.add_argument("--protocols", help="first,random,uncertainty: which sentences are corrected (see above)")
    parser.add_argument("--seeds", default="13,1,2", help="training seeds per protocol (with --protocols)")
    parser.add_argument("--out", help="JSON to write (default: bench/results/learning_curve.json, or "
                                      "learning_curve_protocols.json with --protocols)")
    args = parser.parse_args()
    if args.protocols:
        return protocols_main(args)
    args.out = args.out or str(ROOT / "bench" / "results" / "learning_curve.json")
    import worker

    worker.setup_threads()
    from bench.machine import describe

    sizes = sorted(int(n) for n in args.sizes.split(","))
    train, dev, read = _read(args.train, args.dev, max(sizes), args.dev_limit)
    runs = {}
    for warm in args.warm.split(","):
        runs[warm] = curve(train, dev, sizes, warm, args.conll_dev)
    out = {"benchmark": "learning_curve", "machine": describe("cpu"), "settings": _settings(),
           "train_file": args.train, "dev_file": args.dev, "dev_limit": args.dev_limit,
           "train_sentences_read": read, "targets": TARGETS, "runs": runs, "warm_start_choice": choose(runs)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    png = Path(args.out).with_suffix(".png")
    plot(runs, png)
    print("\n" + table(runs) + f"\n\nwarm start by the figures: {out['warm_start_choice']}"
          f"\nsaved {args.out} and {png}")


def protocols_main(args) -> None:
    """Each protocol x seed on the whole training pool; mean and spread per size."""
    import worker

    worker.setup_threads()
    from bench.machine import describe

    sizes = sorted(int(n) for n in args.sizes.split(","))
    pool, dev, read = _read(args.train, args.dev, 10**9, args.dev_limit)  # every training sentence
    path = Path(args.out or ROOT / "bench" / "results" / "learning_curve_protocols.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict[str, list[dict]]] = {}
    machine = describe("cpu")
    for protocol in args.protocols.split(","):
        runs[protocol] = {}
        for seed in (int(x) for x in args.seeds.split(",")):
            runs[protocol][str(seed)] = protocol_curve(pool, dev, sizes, protocol, seed)
            # saved after every run, so a run cut short still leaves the figures of those that finished
            out = {"benchmark": "learning_curve_protocols", "machine": machine, "settings": _settings(),
                   "train_file": args.train, "dev_file": args.dev, "dev_limit": args.dev_limit, "pool": len(pool),
                   "train_sentences_read": read, "targets": PROTOCOL_TARGETS, "runs": runs,
                   "summary": summarise(runs)}
            path.write_text(json.dumps(out, indent=2) + "\n")
            plot_protocols(out["summary"], path.with_suffix(".png"))
    print("\n" + protocol_table(out["summary"]) + f"\n\nsaved {path} and {path.with_suffix('.png')}")


PROTOCOL_TARGETS = {"uncertainty_f1_at_200": 0.78, "uncertainty_f1_at_1000": 0.88, "over_random_at_200": 0.03,
                    "seconds_at_200": 60.0, "rank_10000_s": 60.0}


def protocol_curve(pool, dev, sizes: list[int], protocol: str, seed: int) -> list[dict]:
    """One protocol with one seed on a fresh data folder: correct, retrain (and rank), record."""
    import random

    import worker
    from services import Services

    with tempfile.TemporaryDirectory(prefix="seqlab-curve-") as home:
        os.environ["SEQLAB_HOME"] = home
        svc = Services(f"sqlite:///{home}/seqlab.db")
        try:
            project = _project(svc, pool, dev)
            svc.update_project(project.id, queue_order="uncertainty" if protocol == "uncertainty" else "file")
            gold = {e.text: e.spans for e in pool}
            drawn = [e.text for e in pool]
            random.Random(seed).shuffle(drawn)
            rows, done = [], 0
            for size in sizes:
                if protocol == "random":
                    for text in drawn[done:size]:
                        doc = svc.save_for_correction(project.id, text)  # the stored document of that text
                        svc.save_correction(doc.id, gold[text], annotator="bench")
                else:
                    _correct(svc, project.id, gold, size - done, 0)
                done = size
                row = _retrain(svc, project.id, "active", Path(home), None, seed=seed)
                if protocol == "uncertainty" and size != sizes[-1]:
                    t0 = time.perf_counter()
                    worker.rank_queues(svc.factory)
                    row["rank_s"] = round(time.perf_counter() - t0, 1)
                    row["ranked"] = svc.queue_progress(project.id).total - svc.queue_progress(project.id).done
                row.update(protocol=protocol, seed=seed)
                rows.append(row)
                print(f"[{protocol} seed {seed}] " + _line("active", row)
                      + (f", ranking {row['rank_s']} s" if "rank_s" in row else ""), flush=True)
        finally:
            svc.close()
            os.environ.pop("SEQLAB_HOME", None)
    return rows


def summarise(runs: dict[str, dict[str, list[dict]]]) -> dict:
    """Per protocol and size: mean, min and max dev F1 over the seeds, mean retrain and ranking s."""
    out = {}
    for protocol, by_seed in runs.items():
        rows = {}
        for step in zip(*by_seed.values()):
            f1 = [r["dev_f1"] for r in step]
            ranks = [r["rank_s"] for r in step if "rank_s" in r]
            rows[str(step[0]["sentences"])] = {
                "f1_mean": round(sum(f1) / len(f1), 4), "f1_min": min(f1), "f1_max": max(f1), "seeds": len(f1),
                "words_mean": round(sum(r["train_words"] for r in step) / len(step)),
                "spans_mean": round(sum(r["train_spans"] for r in step) / len(step)),
                "total_s_mean": round(sum(r["total_s"] for r in step) / len(step), 1),
                "total_s_max": max(r["total_s"] for r in step),
                **({"rank_s_mean": round(sum(ranks) / len(ranks), 1),
                    "rank_s_per_10000": round(sum(r["rank_s"] * 10000 / r["ranked"] for r in step if "rank_s" in r)
                                              / len(ranks), 1)} if ranks else {})}
        out[protocol] = rows
    return out


def protocol_table(summary: dict) -> str:
    head = ("| protocol | sentences | dev F1 mean | min - max | seeds | words | spans | retrain s (max) | "
            "ranking s (per 10,000) |")
    rows = [head, "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for protocol, by_size in summary.items():
        for size, r in by_size.items():
            rank = f"{r['rank_s_mean']} ({r['rank_s_per_10000']})" if "rank_s_mean" in r else ""
            rows.append(f"| {protocol} | {size} | **{r['f1_mean']:.3f}** | {r['f1_min']:.3f} - {r['f1_max']:.3f} | "
                        f"{r['seeds']} | {r.get('words_mean', '')} | {r.get('spans_mean', '')} | "
                        f"{r['total_s_mean']:.0f} ({r.get('total_s_max', 0):.0f}) | {rank} |")
    return "\n".join(rows)


def plot_protocols(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, by_words) = plt.subplots(1, 2, figsize=(11, 4))
    for protocol, by_size in summary.items():
        sizes = [int(s) for s in by_size]
        mean = [r["f1_mean"] for r in by_size.values()]
        low, high = [r["f1_min"] for r in by_size.values()], [r["f1_max"] for r in by_size.values()]
        ax.plot(sizes, mean, marker="o", label=protocol)
        ax.fill_between(sizes, low, high, alpha=0.2)
        words = [r.get("words_mean", 0) for r in by_size.values()]
        by_words.plot(words, mean, marker="o", label=protocol)
        by_words.fill_between(words, low, high, alpha=0.2)
    ax.scatter([200, 1000], [PROTOCOL_TARGETS["uncertainty_f1_at_200"], PROTOCOL_TARGETS["uncertainty_f1_at_1000"]],
               marker="_", s=300, c="red", label="targets (uncertainty)")
    ax.set(xscale="log", xlabel="corrected sentences", ylabel="dev F1", title="Which sentences to correct")
    by_words.set(xscale="log", xlabel="words in the corrected sentences", ylabel="dev F1",
                 title="The same against the words read")
    for a in (ax, by_words):
        a.grid(alpha=0.3)
        a.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _read(train_path: str, dev_path: str, n: int, dev_limit: int):
    """The first ``n`` training sentences the app would store (not a repeat, not a dev text), the
    dev sentences, and how many sentences of the training file the first took."""
    from tagger.formats import read_column

    dev = read_column(dev_path, strict=False)  # ~40 dev / 185 train sequences break IOB2: conlleval's reading
    dev = dev[:dev_limit] if dev_limit else dev
    seen, train, read = {e.text for e in dev}, [], 0
    for read, example in enumerate(read_column(train_path, strict=False), 1):
        if example.text not in seen:
            seen.add(example.text)
            train.append(example)
        if len(train) == n:
            break
    return train, dev, read


def curve(train, dev, sizes: list[int], warm: str, conll_dev: bool) -> list[dict]:
    """Correct, retrain, record: one row per size, on a fresh data folder."""
    from services import Services

    with tempfile.TemporaryDirectory(prefix="seqlab-curve-") as home:
        os.environ["SEQLAB_HOME"] = home
        svc = Services(f"sqlite:///{home}/seqlab.db")
        try:
            project = _project(svc, train, dev)
            gold = {e.text: e.spans for e in train}
            rows, after, done = [], 0, 0
            for size in sizes:
                after = _correct(svc, project.id, gold, size - done, after)
                done = size
                rows.append(_retrain(svc, project.id, warm, Path(home), dev if conll_dev else None))
                print(_line(warm, rows[-1]), flush=True)
        finally:
            svc.close()
            os.environ.pop("SEQLAB_HOME", None)
    return rows


def _project(svc, train, dev):
    """A project as a user would set it up: labels, the dev set imported, sentences to correct."""
    from tagger import formats
    from tagger.spans import Example

    project = svc.create_project("CoNLL learning curve", LABELS)
    for name, examples, split in (("dev.jsonl", dev, "dev"), ("train.jsonl", train, "train")):
        out = io.StringIO()
        formats.write_jsonl([Example(e.text, e.spans if split == "dev" else (), {"split": split})
                             for e in examples], out)
        result = svc.import_file(project.id, name, out.getvalue().encode("utf-8"))
        print(f"imported {name}: {result}", flush=True)
        if split == "dev":
            _accept_empty(svc, project.id)
    return project


def _accept_empty(svc, project_id: int) -> None:
    """Mark the dev documents without entities as checked, as a user must: an import stores a
    document without spans as "new" (unchecked), and only checked documents are scored."""
    unchecked = svc.documents_frame(project_id, status="new", split="dev")
    for doc_id in unchecked["id"]:
        svc.save_correction(int(doc_id), (), annotator="bench")
    print(f"accepted {len(unchecked)} dev documents without entities", flush=True)


def _correct(svc, project_id: int, gold: dict, count: int, after: int) -> int:
    """Accept the gold spans of the next ``count`` documents in the queue; the last one's id."""
    for _ in range(count):
        doc = svc.next_document(project_id, after)
        if doc is None:
            raise SystemExit("the queue ran out of documents to correct")
        svc.save_correction(doc.id, gold[doc.text], annotator="bench")
        after = doc.id
    return after


def _retrain(svc, project_id: int, warm: str, home: Path, conll_dev, seed: int | None = None) -> dict:
    """Queue, claim and run one job as the worker does; what it took and what it scored."""
    import worker
    from db import jobs
    from db.session import write_session

    data = svc.training_documents(project_id)
    queued, _ = svc.start_training(project_id, warm_start=warm, **({"seed": seed} if seed is not None else {}))
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    with write_session(svc.factory) as s:
        job = jobs.claim_next(s, "bench")
    assert job is not None and job.id == queued.id
    done = worker.run_job(svc.factory, job, home)
    total, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    if done.state != "succeeded":
        raise SystemExit(f"job {done.id} {done.state}: {done.message}")
    version = next(v for v in svc.versions(project_id) if v.job_id == done.id)
    row = _row(data, done, version, total, cpu)
    if conll_dev is not None:
        row["conll_dev"] = _score_all(version.path, conll_dev)
    return row


def _row(data, job, version, total: float, cpu: float) -> dict:
    from tagger import store

    m, config = version.metrics, version.config
    history = store.read_meta(version.path).get("history") or []
    return {
        "sentences": len(data.train), "train_words": sum(len(e.text.split()) for e in data.train),
        "train_subwords": _subwords([e.text for e in data.train], config), "train_spans": data.train_spans,
        "dev_docs": len(data.dev), "epoch_dev_docs": version.data["epoch_dev_docs"],
        "epochs": config["epochs"], "batch_size": config["batch_size"], "steps": job.total,
        "warm_start": config["warm_start"], "parent": version.parent_id, "version": version.name,
        "activated": version.active, "message": job.message,
        "train_s": round(m["train_seconds"] - m.get("eval_seconds", 0.0), 1),
        "eval_s": m.get("eval_seconds"), "total_s": round(total, 1),
        "tokens_per_s": m["tokens_per_s"], "cpu_per_wall": round(cpu / total, 2),
        "loadavg_1m": os.getloadavg()[0],
        "dev_f1": m["f1"], "dev_precision": m["precision"], "dev_recall": m["recall"],
        "per_label_f1": {k: v["f1"] for k, v in sorted(m["per_label"].items())},
        "history": history,
    }


def _subwords(texts: list[str], config: dict) -> int:
    """Tokens an epoch trains on, specials included: what tokens/s counts."""
    from services.core import base_tokenizer
    from tagger.encoding import TextEncoder

    encoder = TextEncoder(base_tokenizer(config["base_model"]), config["max_length"], config["stride"])
    specials = len(encoder.prefix) + len(encoder.suffix)
    return sum(len(e) + specials for e in encoder.encode(texts))


def _score_all(path: str, dev) -> dict:
    """The version's F1 on every dev sentence (repeats included), untimed."""
    from tagger.evaluate import evaluate
    from tagger.predict import Tagger

    report = evaluate(dev, Tagger.load(path).predict([e.text for e in dev]))
    return {"sentences": len(dev), "f1": round(float(report.f1), 4)}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _settings() -> dict:
    import torch

    import worker

    return {"threads": torch.get_num_threads(), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
            "small_data": {"docs_below": worker.SMALL_DATA_DOCS, "batch_size": worker.SMALL_BATCH,
                           "min_steps": worker.MIN_STEPS, "max_epochs": worker.MAX_EPOCHS},
            "epoch_dev": {"share": worker.EPOCH_DEV_SHARE, "min": worker.EPOCH_DEV_MIN}}


def choose(runs: dict[str, list[dict]], tie: float = 0.005) -> dict:
    """The warm start with the higher mean dev F1 over the sizes; within ``tie``, the faster one."""
    f1 = {warm: sum(r["dev_f1"] for r in rows) / len(rows) for warm, rows in runs.items()}
    seconds = {warm: sum(r["total_s"] for r in rows) / len(rows) for warm, rows in runs.items()}
    best = max(f1, key=f1.get)
    close = [w for w in f1 if f1[best] - f1[w] <= tie]
    pick = min(close, key=seconds.get)
    return {"choice": pick, "mean_dev_f1": {w: round(v, 4) for w, v in f1.items()},
            "mean_total_s": {w: round(v, 1) for w, v in seconds.items()},
            "rule": f"higher mean dev F1; within {tie}, the lower mean retrain time"}


def _line(warm: str, r: dict) -> str:
    return (f"[{warm}] {r['sentences']} sentences: dev F1 {r['dev_f1']:.4f}, {r['epochs']} epochs / "
            f"{r['steps']} steps, train {r['train_s']} s + eval {r['eval_s']} s = {r['total_s']} s, "
            f"{r['tokens_per_s']:.0f} tok/s, cpu/wall {r['cpu_per_wall']}, load {r['loadavg_1m']:.1f}")


def table(runs: dict[str, list[dict]]) -> str:
    """Markdown table: one row per warm start and size."""
    labels = LABELS
    head = ("| warm start | sentences | subwords | epochs | steps | dev F1 | P | R | " + " | ".join(labels)
            + " | F1 (all dev sentences) | train s | eval s | total s | train tok/s |")
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for warm, curve_rows in runs.items():
        for r in curve_rows:
            cells = " | ".join(f"{r['per_label_f1'].get(k, 0):.3f}" for k in labels)
            every = r.get("conll_dev", {}).get("f1")
            rows.append(
                f"| {warm} | {r['sentences']} | {r['train_subwords']:,} | {r['epochs']} | {r['steps']} | "
                f"**{r['dev_f1']:.3f}** | "
                f"{r['dev_precision']:.3f} | {r['dev_recall']:.3f} | {cells} | "
                f"{'' if every is None else f'{every:.3f}'} | {r['train_s']:.0f} | {r['eval_s']:.0f} | "
                f"{r['total_s']:.0f} | {r['tokens_per_s']:.0f} |")
    return "\n".join(rows)


def plot(runs: dict[str, list[dict]], path: Path) -> None:
    """Dev F1 and retrain seconds against corrected sentences, one line per warm start."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for warm, rows in runs.items():
        sizes = [r["sentences"] for r in rows]
        left.plot(sizes, [r["dev_f1"] for r in rows], marker="o", label=f"warm start: {warm}")
        right.plot(sizes, [r["total_s"] for r in rows], marker="o", label=f"warm start: {warm}")
    left.scatter([200, 1000], [TARGETS["f1_at_200"], TARGETS["f1_at_1000"]], marker="_", s=300, c="red",
                 label="targets")
    right.scatter([200], [TARGETS["seconds_at_200"]], marker="_", s=300, c="red", label="target")
    left.set(xscale="log", xlabel="corrected sentences", ylabel="dev F1", title="Dev F1 after each retrain")
    right.set(xscale="log", xlabel="corrected sentences", ylabel="seconds (claim to finish)",
              title="Retrain wall time, 2 CPU cores")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
