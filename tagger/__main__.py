"""CLI: ``python -m tagger train|predict|evaluate|rank|compare|audit`` (see ``--help`` on each)."""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import sys
from dataclasses import fields
from pathlib import Path

from tqdm import tqdm

from .spans import Example, SeqLabError


def build_parser() -> argparse.ArgumentParser:
    """The command line: a sub-command per task (train, predict, evaluate, rank, compare, audit)."""
    parser = argparse.ArgumentParser(prog="python -m tagger", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _predict_parser(sub)
    _evaluate_parser(sub)
    _rank_parser(sub)
    _compare_parser(sub)
    _audit_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except SeqLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="fine-tune a tagger", description="Fine-tune a tagger and save it.")
    p.add_argument("--train", required=True, help="training file (column, JSONL)")
    p.add_argument("--dev", help="development file, evaluated every epoch; the best epoch is kept")
    p.add_argument("--out", required=True, help="model folder to write (atomically)")
    _reading_flags(p)
    p.add_argument("--warm-start", help="a SeqLab model folder to continue from")
    _config_flags(p)
    p.set_defaults(run=_run_train)


def _config_flags(p) -> None:
    """A flag per TrainConfig field (--base-model, --epochs...), for train and audit."""
    from .config import TrainConfig  # not tagger.train: predict and rank never import the training code

    defaults = TrainConfig()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = type(getattr(defaults, f.name))
        extra = {"choices": ("softmax", "crf")} if f.name == "decoder" else {}
        extra = {"choices": ("none", "bilstm")} if f.name == "encoder" else extra
        extra = {"choices": ("auto", "spans", "tags", "frames")} if f.name == "task" else extra
        extra = {"choices": ("segment", "indicator", "both")} if f.name == "predicate" else extra
        help_ = f.metadata.get("help", f.name.replace("_", " "))
        if kind is bool or "bool" in str(f.type):  # --freeze-embeddings / --no-freeze-embeddings: bool("False") would be True
            extra = {"action": argparse.BooleanOptionalAction}
        else:
            extra = {"type": kind, **extra}
        p.add_argument(flag, default=getattr(defaults, f.name), help=f"{help_} (default: %(default)s)", **extra)


def _reading_flags(p) -> None:
    """--scheme and --strict: every command reads a column file the same way (see _read)."""
    p.add_argument("--scheme", help="tag scheme of column files (default: detected)")
    p.add_argument("--strict", action="store_true",
                   help="refuse invalid tag sequences instead of reading them as conlleval does")


def _read(path: str, args, task: str | None = None) -> list[Example]:
    """The documents of ``path``, read by the one policy of every command (formats.read):
    lenient with a warning, or ``--strict``; an empty file is an error; a file of another task
    than ``task`` (when given) too."""
    return list(_reading(path, args, task).examples)


def _reading(path: str, args, task: str | None = None):
    from .formats import FormatError, read

    reading = read(Path(path), scheme=args.scheme, strict=args.strict, task=task)
    for warning in reading.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not reading.examples:
        raise FormatError("no documents in the file", file=Path(path).name)
    return reading


def _run_train(args) -> int:
    """Train and save; under ``torchrun`` (tagger.distributed) every process trains its share and
    rank 0 alone prints and saves."""
    from .distributed import leave, world

    here = world()
    try:
        code = _train_here(args, here)
    except BaseException:
        leave(here, wait=False)
        raise
    leave(here)  # every process waits for rank 0's save, then leaves the group cleanly
    return code


def _train_here(args, here) -> int:
    from dataclasses import replace

    from .train import TrainConfig, train

    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    reading = _reading(args.train, args, None if config.task == "auto" else config.task)
    config = replace(config, task=reading.task)  # --task auto: what the training file holds
    train_data = list(reading.examples)
    dev_data = _read(args.dev, args, config.task) if args.dev else []
    if not here.main:
        train(train_data, dev_data, config, warm_start=args.warm_start)
        return 0
    print(f"train: {len(train_data)} documents ({config.task}); dev: {len(dev_data)}"
          + (f"; {here.size} processes" if here.size > 1 else ""), file=sys.stderr)
    bar = tqdm(total=None, unit="step", file=sys.stderr, dynamic_ncols=True)

    def progress(p):
        bar.total = p.total
        bar.n = p.step
        bar.set_postfix(epoch=p.epoch, loss=f"{p.loss:.3f}", tok_s=f"{p.tokens_per_s:.0f}",
                        **({"dev_f1": f"{p.dev_f1:.4f}"} if p.dev_f1 is not None else {}))
        bar.refresh()

    try:
        result = train(train_data, dev_data, config, warm_start=args.warm_start, progress=progress)
    finally:
        bar.close()
    for w in result.warnings[:10]:
        print(f"warning: {w.message}", file=sys.stderr)
    if len(result.warnings) > 10:
        print(f"warning: ... and {len(result.warnings) - 10} more alignment warnings", file=sys.stderr)
    out = result.save(args.out)
    if result.report:
        print(result.report.table())
    print(f"saved {out} ({result.seconds:.0f} s, {result.tokens_per_s:.0f} train tokens/s)", file=sys.stderr)
    return 0


def _predict_parser(sub) -> None:
    p = sub.add_parser("predict", help="tag texts, write JSONL",
                       description="Tag texts (one per line, or a JSONL file with 'text') and write JSONL.")
    p.add_argument("--model", required=True, help="SeqLab model folder")
    p.add_argument("input", nargs="?", default="-", help="input file, or - for standard input (default)")
    p.add_argument("--batch-size", type=int, default=32)
    _precision_flag(p)
    _reading_flags(p)
    p.set_defaults(run=_run_predict)


def _precision_flag(p, what: str = "the model predicts") -> None:
    from .config import FAST_PRECISION, PRECISIONS

    p.add_argument("--precision", choices=PRECISIONS, default=FAST_PRECISION,
                   help=f"how {what}: onnx-int8 / onnx-fp32, the transformer in ONNX Runtime, exported once per "
                        "model folder and cached (onnx-int8 is the app's and the worker's fast path); int8, "
                        "torch's dynamic int8 linear layers; fp32, the weights as trained (see bench/cli_speed.py "
                        "for the figures; default: %(default)s)")


def _load(args, **kwargs):
    """The model of ``args.model`` at ``args.precision``."""
    from .predict import Tagger

    return Tagger.load(args.model, precision=args.precision, **kwargs)


def _texts(args) -> list[str]:
    """The texts of ``args.input``: lines of standard input for ``-``, else a file read like any other."""
    return [e.text for e in _inputs(args)[0]]


def _inputs(args) -> tuple[list[Example], str | None]:
    """The documents of ``args.input`` and the task the file holds (None for plain text)."""
    if args.input == "-":
        return [Example(line.rstrip("\r\n")) for line in sys.stdin if line.strip()], None
    reading = _reading(args.input, args)
    return list(reading.examples), reading.task if reading.fmt != "text" else None


def _run_predict(args) -> int:
    from .formats import write_jsonl

    docs, held = _inputs(args)
    tagger = _load(args, batch_size=args.batch_size)
    task = tagger.task
    with tqdm(total=len(docs), unit="text", file=sys.stderr, disable=len(docs) < 500) as bar:
        for start in range(0, len(docs), 1024):  # chunks: a live bar, bounded memory
            chunk = docs[start : start + 1024]
            texts = [d.text for d in chunk]
            if task == "tags":  # a file's own words when it has them (a tags file), else the tokenizer's
                units = [[(s.start, s.end) for s in d.spans] for d in chunk] if held == "tags" else None
                found = [Example(t, tuple(w)) for t, w in zip(texts, tagger.predict_tags(texts, units))]
            elif task == "frames":
                found = [Example(t, (), {}, tuple(f)) for t, f in zip(texts, tagger.predict_frames(texts))]
            else:
                found = [Example(t, tuple(s)) for t, s in zip(texts, tagger.predict(texts))]
            write_jsonl(found, sys.stdout, task=task)
            bar.update(len(chunk))
    return 0


def _evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="score a model on a labelled file",
                       description="Entity-level P/R/F1 (seqeval, strict IOB2) per label and overall.")
    p.add_argument("--model", required=True, help="SeqLab model folder")
    p.add_argument("--data", required=True, help="labelled file (column, JSONL)")
    _precision_flag(p)
    _reading_flags(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(run=_run_evaluate)


def _run_evaluate(args) -> int:
    from .evaluate import evaluate, unknown_labels

    tagger = _load(args)
    data = _read(args.data, args, tagger.task)
    if tagger.task != "spans":
        return _evaluate_task(tagger, data, args)
    unknown = unknown_labels(data, tagger.model.head.tags)
    if unknown:
        listed = ", ".join(f"{label} ({n} span{'s' if n > 1 else ''})" for label, n in unknown.items())
        print(f"warning: {Path(args.data).name} has labels the model does not know: {listed}; "
              "they count as missed", file=sys.stderr)
    report = evaluate(data, tagger.predict([e.text for e in data]))
    print(json.dumps(report.to_dict(), ensure_ascii=False) if args.json else report.table())
    return 0


def _evaluate_task(tagger, data: list[Example], args) -> int:
    """``evaluate`` of a tags model (token accuracy, per tag) or a frames model (argument P/R/F1
    per role with gold predicates, the predicate finder's F1, end-to-end F1)."""
    from .evaluate import evaluate_frames, evaluate_predicates
    from .train import score

    report = score(tagger, data)
    if tagger.task == "tags":
        print(json.dumps(report.to_dict(), ensure_ascii=False) if args.json else report.table())
        return 0
    out = report.to_dict()
    lines = [report.table().rsplit("\n", 1)[0]]  # the error kinds are not counted for frames
    if tagger.finder is not None:
        texts = [e.text for e in data]
        found = tagger.find_predicates(texts)
        predicate = evaluate_predicates(data, found)
        end_to_end = evaluate_frames(data, tagger.predict_frames(texts, found)).overall
        out["predicate"] = {"precision": predicate.precision, "recall": predicate.recall, "f1": predicate.f1,
                            "support": predicate.support}
        out["end_to_end"] = {"precision": end_to_end.precision, "recall": end_to_end.recall, "f1": end_to_end.f1}
        lines.append(f"predicates found: precision {predicate.precision:.4f}, recall {predicate.recall:.4f}, "
                     f"f1 {predicate.f1:.4f}; end-to-end argument f1 {end_to_end.f1:.4f}")
    print(json.dumps(out, ensure_ascii=False) if args.json else "\n".join(lines))
    return 0


def _rank_parser(sub) -> None:
    p = sub.add_parser("rank", help="texts the model expects to have tagged worst first, as JSONL",
                       description="Tag texts (read like predict) and write them as JSONL in the annotation "
                                   "queue's order, most expected errors first: text, expected_errors (the sum "
                                   "over words of 1 - the chosen tag's probability: how many words the model "
                                   "expects to have wrong), uncertainty (1 - geometric mean over words of the "
                                   "chosen tag's probability), spans, and the spans the model is unsure of.")
    p.add_argument("--model", required=True, help="SeqLab model folder")
    p.add_argument("input", nargs="?", default="-", help="input file, or - for standard input (default)")
    p.add_argument("--top", type=int, help="write only the first N")
    p.add_argument("--batch-size", type=int, default=32)
    _precision_flag(p)
    _reading_flags(p)
    p.set_defaults(run=_run_rank)


def _run_rank(args) -> int:
    if args.top is not None and args.top < 1:
        raise SeqLabError(f"--top must be at least 1, got {args.top}")
    texts = _texts(args)
    tagger = _load(args, batch_size=args.batch_size)
    found = "predicates" if tagger.task == "frames" else "spans"  # a frames model: what its finder found
    kept: list[tuple[float, int, str]] = []  # (expected errors, -position, JSON line): a min-heap with --top
    with tqdm(total=len(texts), unit="text", file=sys.stderr, disable=len(texts) < 500) as bar:
        for start in range(0, len(texts), 1024):
            chunk = texts[start : start + 1024]
            for k, (text, p) in enumerate(zip(chunk, tagger.analyse(chunk))):
                line = json.dumps({"text": text, "expected_errors": p.expected_errors, "uncertainty": p.uncertainty,
                                   found: [s.to_dict() for s in p.spans],
                                   "unsure": [s.to_dict() for s in p.unsure]}, ensure_ascii=False)
                entry = (p.expected_errors, -(start + k), line)
                if args.top is None:
                    kept.append(entry)
                elif len(kept) < args.top:
                    heapq.heappush(kept, entry)
                elif entry > kept[0]:
                    heapq.heapreplace(kept, entry)
            bar.update(len(chunk))
    for _, _, line in sorted(kept, reverse=True):  # as the queue: most expected errors first, ties in input order
        print(line)
    return 0


def _compare_parser(sub) -> None:
    p = sub.add_parser("compare", help="which corrections a new version learned, still gets wrong, or broke",
                       description="Tag every document of a labelled file with an old and a new model version and "
                                   "sort the documents by what the new one does with their spans: learned (the new "
                                   "version reproduces them exactly, the old one did not), still wrong, regressed "
                                   "(the old one had them right), unchanged right. Documents are given by their "
                                   "index in the file, from 0. Both versions predict as the app and the worker do "
                                   "(int8), unless --precision says otherwise.")
    p.add_argument("--old", required=True, help="the previous SeqLab model folder")
    p.add_argument("--new", required=True, help="the new SeqLab model folder")
    p.add_argument("--data", required=True, help="labelled file (column, JSONL): the corrections")
    _reading_flags(p)
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: learned, still_wrong, regressed, unchanged_right as lists of indices")
    _precision_flag(p, "both versions predict")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--fail-on-regressed", action="store_true",
                   help="exit with status 1 when any document regressed (for CI)")
    p.set_defaults(run=_run_compare)


def _run_compare(args) -> int:
    from .ledger import OUTCOMES, TITLES, UNCHANGED_RIGHT, compare
    from .predict import Tagger

    data = _read(args.data, args)
    old = Tagger.load(args.old, batch_size=args.batch_size, precision=args.precision)
    new = Tagger.load(args.new, batch_size=args.batch_size, precision=args.precision)
    with tqdm(total=len(data), unit="text", file=sys.stderr, disable=len(data) < 500) as bar:
        ledger = compare(data, old, new, progress=lambda done: bar.update(done - bar.n))
    if args.json:
        print(json.dumps(ledger.to_dict()))
    else:
        for name in OUTCOMES:
            indices = getattr(ledger, name)
            print(f"{TITLES[name]}: {len(indices)}")
            if name != UNCHANGED_RIGHT:
                for i in indices:
                    print(f"  {i}\t{_excerpt(data[i].text)}")
    return 1 if args.fail_on_regressed and ledger.regressed else 0


def _excerpt(text: str, limit: int = 100) -> str:
    """One line of a document for a terminal: its line breaks as spaces, cut at ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _audit_parser(sub) -> None:
    p = sub.add_parser("audit", help="corrections that are probably wrong, most suspicious first",
                       description="Label-noise audit of a labelled file, as JSONL (index, text, suspect, suggested, "
                                   "score, reason), most suspicious first: the same string labelled differently across "
                                   "documents, and documents where a model trained on the other folds (k-fold cross-"
                                   "validation, one training per fold) disagrees with the stored spans. --folds 0: the "
                                   "string check alone (no training).")
    p.add_argument("--data", required=True, help="labelled file (column, JSONL)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds, 0 for none (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="write JSONL (one finding per line) instead of a list")
    _precision_flag(p, "the fold models predict")
    _reading_flags(p)
    _config_flags(p)
    p.set_defaults(run=_run_audit)


def _run_audit(args) -> int:
    from .audit import audit
    from .predict import Tagger
    from .train import TrainConfig, train

    if args.folds < 0 or args.folds == 1:
        raise SeqLabError(f"--folds must be 0 (no cross-validation) or at least 2, got {args.folds}")
    data = _read(args.data, args)
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    labels = sorted({s.label for e in data for s in e.spans})

    def fit(examples):
        result = train(examples, [], config, labels=labels)
        return Tagger(result.model, result.tokenizer, result.meta(), max_length=config.max_length,
                      precision=args.precision)

    with tqdm(total=args.folds, unit="fold", file=sys.stderr, disable=not args.folds) as bar:
        findings = audit(data, args.folds, fit, seed=config.seed, progress=lambda done, _: bar.update(done - bar.n))
    for f in findings:
        if args.json:
            print(json.dumps(f.to_dict(), ensure_ascii=False))
        else:
            print(f"{f.score:.3f}\t{f.index}\t{f.reason}\t{_excerpt(f.text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
