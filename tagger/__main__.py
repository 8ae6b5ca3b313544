"""CLI: ``python -m tagger train|predict|evaluate|rank`` (see ``--help`` on each)."""

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tagger", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _predict_parser(sub)
    _evaluate_parser(sub)
    _rank_parser(sub)
    args = parser.parse_args(argv)
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
    from .train import TrainConfig

    p = sub.add_parser("train", help="fine-tune a tagger", description="Fine-tune a tagger and save it.")
    p.add_argument("--train", required=True, help="training file (column, JSONL)")
    p.add_argument("--dev", help="development file, evaluated every epoch; the best epoch is kept")
    p.add_argument("--out", required=True, help="model folder to write (atomically)")
    _reading_flags(p)
    p.add_argument("--warm-start", help="a SeqLab model folder to continue from")
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = type(getattr(defaults, f.name))
        extra = {"choices": ("softmax", "crf")} if f.name == "decoder" else {}
        extra = {"choices": ("none", "bilstm")} if f.name == "encoder" else extra
        help_ = f.metadata.get("help", f.name.replace("_", " "))
        if kind is bool:  # --freeze-embeddings / --no-freeze-embeddings: bool("False") would be True
            extra = {"action": argparse.BooleanOptionalAction}
        else:
            extra = {"type": kind, **extra}
        p.add_argument(flag, default=getattr(defaults, f.name), help=f"{help_} (default: %(default)s)", **extra)
    p.set_defaults(run=_run_train)


def _reading_flags(p) -> None:
    """--scheme and --strict: every command reads a column file the same way (see _read)."""
    p.add_argument("--scheme", help="tag scheme of column files (default: detected)")
    p.add_argument("--strict", action="store_true",
                   help="refuse invalid tag sequences instead of reading them as conlleval does")


def _read(path: str, args) -> list[Example]:
    """The documents of ``path``, read by the one policy of every command (formats.read):
    lenient with a warning, or ``--strict``; an empty file is an error."""
    from .formats import FormatError, read

    reading = read(Path(path), scheme=args.scheme, strict=args.strict)
    for warning in reading.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not reading.examples:
        raise FormatError("no documents in the file", file=Path(path).name)
    return list(reading.examples)


def _run_train(args) -> int:
    from .train import TrainConfig, train

    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    train_data = _read(args.train, args)
    dev_data = _read(args.dev, args) if args.dev else []
    print(f"train: {len(train_data)} documents; dev: {len(dev_data)}", file=sys.stderr)
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
    _reading_flags(p)
    p.set_defaults(run=_run_predict)


def _texts(args) -> list[str]:
    """The texts of ``args.input``: lines of standard input for ``-``, else a file read like any other."""
    if args.input == "-":
        return [line.rstrip("\r\n") for line in sys.stdin if line.strip()]
    return [e.text for e in _read(args.input, args)]


def _run_predict(args) -> int:
    from .predict import Tagger

    texts = _texts(args)
    tagger = Tagger.load(args.model, batch_size=args.batch_size)
    with tqdm(total=len(texts), unit="text", file=sys.stderr, disable=len(texts) < 500) as bar:
        for start in range(0, len(texts), 1024):  # chunks: a live bar, bounded memory
            chunk = texts[start : start + 1024]
            for text, found in zip(chunk, tagger.predict(chunk)):
                print(json.dumps({"text": text, "spans": [s.to_dict() for s in found]}, ensure_ascii=False))
            bar.update(len(chunk))
    return 0


def _evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="score a model on a labelled file",
                       description="Entity-level P/R/F1 (seqeval, strict IOB2) per label and overall.")
    p.add_argument("--model", required=True, help="SeqLab model folder")
    p.add_argument("--data", required=True, help="labelled file (column, JSONL)")
    _reading_flags(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(run=_run_evaluate)


def _run_evaluate(args) -> int:
    from .evaluate import evaluate, unknown_labels
    from .predict import Tagger

    data = _read(args.data, args)
    tagger = Tagger.load(args.model)
    unknown = unknown_labels(data, tagger.model.head.tags)
    if unknown:
        listed = ", ".join(f"{label} ({n} span{'s' if n > 1 else ''})" for label, n in unknown.items())
        print(f"warning: {Path(args.data).name} has labels the model does not know: {listed}; "
              "they count as missed", file=sys.stderr)
    report = evaluate(data, tagger.predict([e.text for e in data]))
    print(json.dumps(report.to_dict(), ensure_ascii=False) if args.json else report.table())
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
    _reading_flags(p)
    p.set_defaults(run=_run_rank)


def _run_rank(args) -> int:
    from .predict import Tagger

    if args.top is not None and args.top < 1:
        raise SeqLabError(f"--top must be at least 1, got {args.top}")
    texts = _texts(args)
    tagger = Tagger.load(args.model, batch_size=args.batch_size, quantize=True)  # the app's and worker's fast path
    kept: list[tuple[float, int, str]] = []  # (expected errors, -position, JSON line): a min-heap with --top
    with tqdm(total=len(texts), unit="text", file=sys.stderr, disable=len(texts) < 500) as bar:
        for start in range(0, len(texts), 1024):
            chunk = texts[start : start + 1024]
            for k, (text, p) in enumerate(zip(chunk, tagger.analyse(chunk))):
                line = json.dumps({"text": text, "expected_errors": p.expected_errors, "uncertainty": p.uncertainty,
                                   "spans": [s.to_dict() for s in p.spans],
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


if __name__ == "__main__":
    sys.exit(main())
