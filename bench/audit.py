"""How many deliberately flipped CoNLL-2003 labels the label-noise audit (issue 13) finds, and its time.

    OMP_WAIT_POLICY=PASSIVE python bench/audit.py                 # 2,000 sentences, 5 folds as the worker runs them
    OMP_WAIT_POLICY=PASSIVE python bench/audit.py --quick         # a check of the script: 200 sentences, 2 folds, 1 epoch

The first ``--docs`` CoNLL-2003 training sentences; with a fixed seed, ``--rate`` of them (2 %, so
40 of 2,000), drawn among the sentences that have an entity, get one span flipped: half its label
changed to another label, half its boundary moved by one word (extended onto a word no span covers,
or shrunk, so the spans stay valid and do not overlap). Which sentences were flipped, and how, is
saved. Then ``tagger.audit.audit`` runs on the flipped sentences exactly as the worker's audit job
does (``services.audit.run_audit``): the training settings of ``worker.job_config`` for the
project defaults (embedded base model, CRF, BiLSTM) and that many documents, ``DEFAULT_FOLDS``
folds, one training per fold on the other folds with no dev set, the fold models in int8, the
worker's threads (all cores). ``--folds`` and ``--epochs`` reduce that when time is short; the
output then says so (``reduced``).

Figures: the findings ranked as the audit ranks them, each document counted once at its best
finding; precision and recall of the flipped sentences in the top 50, 100 and 200, overall, for
each signal ranked alone (surface strings, cross-validation folds) and for each kind of flip; how
often the best finding of a found sentence points at the flipped span; the wall time of the
surface check and of the cross-validation (per fold: training, tagging the held-out fold, training
tokens/s), the CPU time the process got and the load average, since on a shared 2-core machine a
time is only as good as the machine was quiet. Prints a Markdown table and saves
bench/results/audit.json (with the machine's description), rewritten after each fold so a run cut
short leaves its folds so far. Note that CoNLL-2003 has label errors of its own: a finding on a
sentence not flipped here is not always wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "conll2003"
OUT = ROOT / "bench" / "results" / "audit.json"
CUTS = (50, 100, 200)
WORDS = re.compile(r"\S+")  # read_column joins a sentence's tokens with single spaces


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=2000, help="first training sentences to audit")
    parser.add_argument("--rate", type=float, default=0.02, help="share of the sentences to flip")
    parser.add_argument("--seed", type=int, default=13, help="seed of the flips")
    parser.add_argument("--folds", type=int, help="cross-validation folds (default: the worker's)")
    parser.add_argument("--epochs", type=int, help="epochs per fold (default: the worker's schedule)")
    parser.add_argument("--quick", action="store_true", help="200 sentences, 2 folds, 1 epoch: checks the script")
    parser.add_argument("--train", default=str(DATA / "train.txt"))
    parser.add_argument("--out", default=None, help=f"JSON to write (default: {OUT.relative_to(ROOT)}, "
                                                      "audit-quick.json with --quick)")
    args = parser.parse_args()
    if args.quick:
        args.docs, args.folds, args.epochs = 200, args.folds or 2, args.epochs or 1
    out = Path(args.out) if args.out else OUT.with_name("audit-quick.json") if args.quick else OUT

    import torch

    import worker
    from bench.machine import describe, peak_rss_mib
    from services.audit import DEFAULT_FOLDS as WORKER_FOLDS
    from tagger.audit import audit, disagreement, folds_of, inconsistent_labels
    from tagger.formats import read_column
    from tagger.predict import Tagger
    from tagger.train import TrainConfig, train

    torch.set_num_threads(max(1, int(os.environ.get(worker.THREADS_ENV) or os.cpu_count() or 1)))  # as worker.main
    clean = read_column(args.train, strict=False)[: args.docs]
    examples, flips = flip(clean, args.rate, args.seed)
    labels = sorted({s.label for e in clean for s in e.spans})
    project = SimpleNamespace(base_model="default", decoder="crf", encoder="bilstm")  # db.models.Project's defaults
    overrides = {"epochs": args.epochs} if args.epochs else {}
    config, _ = worker.job_config(project, overrides, len(examples))  # as services.audit.run_audit
    folds = args.folds or WORKER_FOLDS
    reduced = {k: v for k, v in (("folds", args.folds), ("epochs", args.epochs)) if v is not None}
    worker_config, _ = worker.job_config(project, {}, len(examples))
    fold_of = folds_of(len(examples), folds, config.seed)

    run: dict = {
        "docs": len(examples), "flipped": len(flips), "flip_seed": args.seed, "rate": args.rate,
        "folds": folds, "folds_done": 0,
        "settings": {k: getattr(config, k) for k in ("base_model", "decoder", "encoder", "epochs", "batch_size",
                                                     "freeze_embeddings", "length_chunk", "max_length", "seed")},
        "worker_defaults": {"folds": WORKER_FOLDS, "epochs": worker_config.epochs,
                            "batch_size": worker_config.batch_size},
        "reduced": reduced or None, "precision": "int8", "torch_threads": torch.get_num_threads(),
        "load_start": os.getloadavg(), "flips": flips,
    }
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    start = time.perf_counter()
    surface = inconsistent_labels(examples)
    run["surface_check"] = {"seconds": round(time.perf_counter() - start, 2), "findings": len(surface)}
    print(f"surface check: {len(surface)} findings in {run['surface_check']['seconds']} s", file=sys.stderr)

    fold_rows: list[dict] = []
    fold_findings: list = []
    state = {"fold": 0}  # the fold being trained or tagged

    class Timed:
        """The fold's tagger, timing its tagging of the held-out fold and keeping its findings."""

        def __init__(self, tagger):
            self.tagger = tagger

        def analyse(self, texts):
            t, c = time.perf_counter(), cpu_seconds()
            predictions = self.tagger.analyse(texts)
            held = [i for i in range(len(examples)) if fold_of[i] == state["fold"]]
            for i, p in zip(held, predictions):
                finding = disagreement(i, examples[i], p.spans, p.uncertainty, folds)
                if finding is not None:
                    fold_findings.append(finding)
            fold_rows[-1].update(tag_seconds=round(time.perf_counter() - t, 1), held_docs=len(texts),
                                 tag_cpu_seconds=round(cpu_seconds() - c, 1))
            return predictions

    def fit(part):  # services.audit.run_audit's fit, timed
        t, c, load = time.perf_counter(), cpu_seconds(), os.getloadavg()
        result = train(part, [], config, labels=labels)
        tagger = Tagger(result.model, result.tokenizer, result.meta(), max_length=config.max_length, quantize=True)
        fold_rows.append({"fold": state["fold"], "train_docs": len(part), "fit_seconds": round(time.perf_counter() - t, 1),
                          "train_seconds": round(result.seconds, 1), "tokens_per_s": round(result.tokens_per_s, 1),
                          "fit_cpu_seconds": round(cpu_seconds() - c, 1), "load_before": load})
        return Timed(tagger)

    def progress(done, k):
        row = fold_rows[-1]
        row["load_after"] = os.getloadavg()
        state["fold"] = done
        run["folds_done"] = done
        run["fold_runs"] = fold_rows
        print(f"fold {done}/{k}: trained {row['train_seconds']} s ({row['tokens_per_s']} tokens/s), tagged "
              f"{row['held_docs']} in {row['tag_seconds']} s, load {row['load_after'][0]:.1f}", file=sys.stderr)
        if done < k:  # a run cut short still leaves its folds so far (the fold signal over those folds only)
            partial = sorted(surface + fold_findings, key=lambda f: (-f.score, f.index))
            save(out, {**run, "ranking": figures(partial, flips), "partial": True, "machine": describe()})

    start = time.perf_counter()
    found = audit(examples, folds, fit, seed=config.seed, progress=progress)
    audit_seconds = time.perf_counter() - start
    cv_seconds = sum(r["fit_seconds"] + r["tag_seconds"] for r in fold_rows)
    run.update({
        "audit_seconds": round(audit_seconds, 1), "cross_validation_seconds": round(cv_seconds, 1),
        "cross_validation_tokens_per_s": round(sum(r["tokens_per_s"] for r in fold_rows) / len(fold_rows), 1),
        "cpu_seconds": round(cpu_seconds() - cpu0, 1), "wall_seconds": round(time.perf_counter() - wall0, 1),
        "load_end": os.getloadavg(), "peak_rss_mib": peak_rss_mib(), "partial": False,
    })
    run["cpu_per_wall_second"] = round(run["cpu_seconds"] / run["wall_seconds"], 2)
    run["ranking"] = figures(found, flips)
    run["machine"] = describe()
    save(out, run)
    print(table(run))
    return 0


def flip(examples, rate: float, seed: int) -> tuple[list, list[dict]]:
    """The examples with ``round(rate * len)`` sentences that have an entity flipped (half a
    span's label, half its boundary by one word), and a record of each flip."""
    from tagger.spans import Span

    rng = random.Random(seed)
    labels = sorted({s.label for e in examples for s in e.spans})
    candidates = [i for i, e in enumerate(examples) if e.spans]
    rng.shuffle(candidates)
    n = round(rate * len(examples))
    out, flips = list(examples), []
    for i in candidates:
        if len(flips) == n:
            break
        kind = "label" if len(flips) < n // 2 + n % 2 else "boundary"
        example = examples[i]
        j = rng.randrange(len(example.spans))
        old = example.spans[j]
        if kind == "label":
            new, how = Span(old.start, old.end, rng.choice([x for x in labels if x != old.label])), "label"
        else:
            moves = boundary_moves(example, j)
            if not moves:
                continue
            how, (start, end) = rng.choice(sorted(moves.items()))
            new = Span(start, end, old.label)
        spans = tuple(sorted(example.spans[:j] + (new,) + example.spans[j + 1:]))
        out[i] = replace(example, spans=spans)
        flips.append({"index": i, "kind": kind, "how": how, "old": old.to_dict(), "new": new.to_dict(),
                      "old_text": example.text[old.start:old.end], "new_text": example.text[new.start:new.end]})
    return out, sorted(flips, key=lambda f: f["index"])


def boundary_moves(example, j: int) -> dict[str, tuple[int, int]]:
    """The one-word moves of span ``j`` that keep it non-empty and off the other spans."""
    words = [m.span() for m in WORDS.finditer(example.text)]
    span = example.spans[j]
    a = next(w for w, (s, _) in enumerate(words) if s == span.start)
    b = next(w for w, (_, e) in enumerate(words) if e == span.end)
    others = [s for k, s in enumerate(example.spans) if k != j]

    def free(w: int) -> bool:
        return 0 <= w < len(words) and not any(s.start < words[w][1] and words[w][0] < s.end for s in others)

    moves = {}
    if free(a - 1):
        moves["extend left"] = (words[a - 1][0], span.end)
    if free(b + 1):
        moves["extend right"] = (span.start, words[b + 1][1])
    if b > a:
        moves["shrink left"] = (words[a + 1][0], span.end)
        moves["shrink right"] = (span.start, words[b - 1][1])
    return moves


def ranked(findings) -> list:
    """Each document once, at its best finding, in the audit's order (score, then document)."""
    best: dict = {}
    for f in sorted(findings, key=lambda f: (-f.score, f.index)):
        best.setdefault(f.index, f)
    return list(best.values())


def points_at(f, flip_: dict) -> bool:
    """Whether a finding names the flipped span (the new one as suspect, or the old one as suggested)."""
    new, old = flip_["new"], flip_["old"]
    return (any((s.start, s.end, s.label) == (new["start"], new["end"], new["label"]) for s in f.suspect)
            or any((s.start, s.end, s.label) == (old["start"], old["end"], old["label"]) for s in f.suggested))


def figures(findings, flips: list[dict]) -> dict:
    """Precision and recall of the flipped sentences at each cut: overall, per signal, per kind."""
    by_index = {f["index"]: f for f in flips}
    kinds = sorted({f["kind"] for f in flips})
    out: dict = {"findings": len(findings), "flagged_docs": len({f.index for f in findings})}
    for name, signal in (("overall", None), ("surface", "surface"), ("folds", "folds")):
        docs = ranked([f for f in findings if signal is None or f.signal == signal])
        row: dict = {"flagged_docs": len(docs), "flipped_flagged": sum(d.index in by_index for d in docs)}
        for n in CUTS:
            hits = [d for d in docs[:n] if d.index in by_index]
            cut = {"precision": round(len(hits) / n, 3), "recall": round(len(hits) / max(1, len(flips)), 3),
                   "hits": len(hits),
                   "pointing_at_flip": sum(points_at(d, by_index[d.index]) for d in hits)}
            for kind in kinds:
                total = sum(f["kind"] == kind for f in flips)
                k_hits = sum(by_index[d.index]["kind"] == kind for d in hits)
                cut[kind] = {"hits": k_hits, "of": total, "recall": round(k_hits / max(1, total), 3)}
            row[f"at_{n}"] = cut
        out[name] = row
    ranks = {d.index: r for r, d in enumerate(ranked(findings), 1)}
    out["flip_ranks"] = {str(f["index"]): ranks.get(f["index"]) for f in flips}
    return out


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def save(path: Path, row: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(row, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def table(run: dict) -> str:
    kinds = sorted({f["kind"] for f in run["flips"]})
    lines = [f"{run['docs']:,} CoNLL-2003 training sentences, {run['flipped']} flipped "
             f"({', '.join(str(sum(f['kind'] == k for f in run['flips'])) + ' ' + k for k in kinds)}); "
             f"{run['folds']} folds, {run['settings']['epochs']} epochs of {run['settings']['batch_size']}"
             + (f" (reduced from the worker's: {run['reduced']})" if run["reduced"] else ""), "",
             "| ranking | flagged docs | " + " | ".join(f"P@{n} | R@{n}" for n in CUTS) + " | "
             + " | ".join(f"{k} flips in top 200" for k in kinds) + " |",
             "|---|---:|" + "---:|" * (2 * len(CUTS) + len(kinds))]
    for name in ("overall", "surface", "folds"):
        row = run["ranking"][name]
        cells = [f"{row[f'at_{n}']['precision']:.3f} | {row[f'at_{n}']['recall']:.3f}" for n in CUTS]
        kind_cells = [f"{row['at_200'][k]['hits']}/{row['at_200'][k]['of']}" for k in kinds]
        lines.append(f"| {name} | {row['flagged_docs']} | " + " | ".join(cells + kind_cells) + " |")
    load = run["load_start"], run["load_end"]
    lines += ["", f"surface check {run['surface_check']['seconds']} s; cross-validation {run['cross_validation_seconds']} s "
              f"({run['cross_validation_tokens_per_s']} training tokens/s); whole audit {run['audit_seconds']} s; "
              f"CPU {run['cpu_seconds']} s ({run['cpu_per_wall_second']} per wall second); "
              f"load {load[0][0]:.1f} at the start, {load[1][0]:.1f} at the end"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
