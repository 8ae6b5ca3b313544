"""Entity-level evaluation: seqeval (strict IOB2) plus the kinds of error made.

Gold and predicted spans are turned into IOB2 tags over the same units: the text
cut at whitespace and at every gold and predicted span edge. Each span then covers
whole units, so seqeval's strict mode counts exactly the spans whose start, end
and label all match — whatever the language or tokenizer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from .schemes import spans_to_tags
from .spans import Example, Frame, Span


@dataclass(frozen=True)
class Score:
    """Precision, recall, F1 and the number of gold spans."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Errors:
    """Counts of prediction errors by kind (a span counts once, in the first kind that fits)."""

    wrong_label: int = 0  # same boundaries, other label
    wrong_boundary: int = 0  # overlaps a gold span but starts or ends elsewhere
    missed: int = 0  # gold span that no prediction touches
    spurious: int = 0  # prediction that touches no gold span


@dataclass(frozen=True)
class Report:
    """Overall and per-label scores, error kinds and label confusion."""

    overall: Score
    per_label: dict[str, Score]
    errors: Errors
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def f1(self) -> float:
        return self.overall.f1

    def to_dict(self) -> dict:
        """JSON-ready: precision/recall/f1 at the top, then per_label, errors, confusion."""
        return {
            "precision": self.overall.precision,
            "recall": self.overall.recall,
            "f1": self.overall.f1,
            "support": self.overall.support,
            "per_label": {k: asdict(v) for k, v in self.per_label.items()},
            "errors": asdict(self.errors),
            "confusion": self.confusion,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Report":
        return cls(
            Score(d["precision"], d["recall"], d["f1"], d.get("support", 0)),
            {k: Score(**v) for k, v in d["per_label"].items()},
            Errors(**d.get("errors", {})),
            d.get("confusion", {}),
        )

    def table(self) -> str:
        """The per-label table as text, as printed by ``python -m tagger evaluate``."""
        rows = [f"{'label':<16}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
        for label, s in sorted(self.per_label.items()):
            rows.append(f"{label:<16}{s.precision:>10.4f}{s.recall:>10.4f}{s.f1:>10.4f}{s.support:>10}")
        o = self.overall
        rows.append(f"{'overall':<16}{o.precision:>10.4f}{o.recall:>10.4f}{o.f1:>10.4f}{o.support:>10}")
        e = self.errors
        rows.append(
            f"errors: wrong label {e.wrong_label}, wrong boundary {e.wrong_boundary}, "
            f"missed {e.missed}, spurious {e.spurious}"
        )
        return "\n".join(rows)


def evaluate(gold: Sequence[Example], predicted: Sequence[Sequence[Span]]) -> Report:
    """Compare predicted spans with the gold spans of the same texts."""
    if len(gold) != len(predicted):
        raise ValueError(f"expected {len(gold)} predictions, got {len(predicted)}")
    y_true, y_pred = [], []
    for example, spans in zip(gold, predicted):
        units = _units(example.text, example.spans, spans)
        y_true.append(spans_to_tags(units, example.spans, "IOB2")[0])
        y_pred.append(spans_to_tags(units, list(spans), "IOB2")[0])
    return Report(
        *_scores(y_true, y_pred, {s.label for e in gold for s in e.spans}),
        _errors(gold, predicted),
        _confusion(gold, predicted),
    )


def unknown_labels(gold: Sequence[Example], tags: Sequence[str]) -> dict[str, int]:
    """Labels of the gold spans that no tag of the model carries -> their span count, sorted."""
    known = {tag.partition("-")[2] for tag in tags if tag != "O"}
    counts = Counter(s.label for e in gold for s in e.spans if s.label not in known)
    return dict(sorted(counts.items()))


def _scores(y_true, y_pred, labels) -> tuple[Score, dict[str, Score]]:
    if not any(t != "O" for seq in y_true + y_pred for t in seq):
        return Score(0.0, 0.0, 0.0, 0), {}
    rep = classification_report(
        y_true, y_pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
    )
    per = {
        k: Score(float(v["precision"]), float(v["recall"]), float(v["f1-score"]), int(v["support"]))
        for k, v in rep.items()
        if not k.endswith(" avg")
    }
    m = rep["micro avg"]
    return Score(float(m["precision"]), float(m["recall"]), float(m["f1-score"]), int(m["support"])), per


def _units(text: str, *span_lists) -> list[tuple[int, int]]:
    """Cut the text at whitespace and at every span edge; return every piece.

    Whitespace pieces are kept as units: dropped, a span that starts or ends on a space
    (" Paris") would cover the same units as "Paris" and count as an exact match.
    """
    cuts = {0, len(text)}
    for spans in span_lists:
        for s in spans:
            cuts.update((s.start, s.end))
    for i, ch in enumerate(text):
        if ch.isspace():
            cuts.update((i, i + 1))
    points = sorted(cuts)
    return list(zip(points, points[1:]))


def _errors(gold: Sequence[Example], predicted: Sequence[Sequence[Span]]) -> Errors:
    counts: Counter[str] = Counter()
    for example, spans in zip(gold, predicted):
        pred = {s.key() for s in spans}
        gold_keys = {s.key() for s in example.spans}
        for p in pred - gold_keys:
            touching = [g for g in gold_keys if g[0] < p[1] and p[0] < g[1]]
            if not touching:
                counts["spurious"] += 1
            elif any(g[:2] == p[:2] for g in touching):
                counts["wrong_label"] += 1
            else:
                counts["wrong_boundary"] += 1
        for g in gold_keys - pred:
            if not any(p[0] < g[1] and g[0] < p[1] for p in pred):
                counts["missed"] += 1
    return Errors(**counts)


def _confusion(gold: Sequence[Example], predicted: Sequence[Sequence[Span]]) -> dict[str, dict[str, int]]:
    """gold label -> predicted label -> count, over overlapping pairs; 'O' for none."""
    table: dict[str, Counter[str]] = {}
    for example, spans in zip(gold, predicted):
        for g in example.spans:
            hits = [p.label for p in spans if p.start < g.end and g.start < p.end] or ["O"]
            table.setdefault(g.label, Counter()).update(hits[:1])
        for p in spans:
            if not any(g.start < p.end and p.start < g.end for g in example.spans):
                table.setdefault("O", Counter())[p.label] += 1
    return {k: dict(v) for k, v in table.items()}


# ---------------------------------------------------------------- task "tags"


@dataclass(frozen=True)
class TagReport:
    """Task ``tags``: token accuracy, per-tag precision/recall/F1 and the tag confusion.

    ``f1`` is the accuracy: the figure a training run keeps its best epoch by, whatever the task.
    """

    accuracy: float
    support: int
    per_label: dict[str, Score]
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)  # gold tag -> predicted tag -> words

    @property
    def f1(self) -> float:
        return self.accuracy

    def to_dict(self) -> dict:
        return {"accuracy": self.accuracy, "support": self.support,
                "per_label": {k: asdict(v) for k, v in self.per_label.items()}, "confusion": self.confusion}

    def table(self) -> str:
        rows = [f"{'tag':<16}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
        for label, s in sorted(self.per_label.items()):
            rows.append(f"{label:<16}{s.precision:>10.4f}{s.recall:>10.4f}{s.f1:>10.4f}{s.support:>10}")
        rows.append(f"{'accuracy':<16}{'':>10}{'':>10}{self.accuracy:>10.4f}{self.support:>10}")
        return "\n".join(rows)


def evaluate_tags(gold: Sequence[Example], predicted: Sequence[Sequence[Span]]) -> TagReport:
    """Compare each gold word's tag with the predicted tag of the same word (``[start, end)``);
    a gold word without a prediction counts as wrong."""
    if len(gold) != len(predicted):
        raise ValueError(f"expected {len(gold)} predictions, got {len(predicted)}")
    confusion: dict[str, Counter] = {}
    right = total = 0
    for example, spans in zip(gold, predicted):
        found = {(s.start, s.end): s.label for s in spans}
        for s in example.spans:
            guess = found.get((s.start, s.end), "(none)")
            confusion.setdefault(s.label, Counter())[guess] += 1
            right += guess == s.label
            total += 1
    labels = sorted(set(confusion) | {p for row in confusion.values() for p in row if p != "(none)"})
    per = {}
    for label in labels:
        tp = confusion.get(label, Counter())[label]
        support = sum(confusion.get(label, Counter()).values())
        guessed = sum(row[label] for row in confusion.values())
        p, r = (tp / guessed if guessed else 0.0), (tp / support if support else 0.0)
        per[label] = Score(p, r, 2 * p * r / (p + r) if p + r else 0.0, support)
    return TagReport(right / total if total else 0.0, total, per,
                     {g: dict(sorted(row.items())) for g, row in sorted(confusion.items())})


# ---------------------------------------------------------------- task "frames"


def evaluate_frames(gold: Sequence[Example], predicted: Sequence[Sequence[Frame]]) -> Report:
    """Argument precision, recall and F1 per role and overall, CoNLL-2005 style: an argument counts
    when its predicate, start, end and role all match; the predicate itself (``V``) is not
    counted. With gold predicates this is the argument F1; with found ones, end-to-end."""
    if len(gold) != len(predicted):
        raise ValueError(f"expected {len(gold)} predictions, got {len(predicted)}")
    truth, guess = Counter(), Counter()
    for i, (example, frames) in enumerate(zip(gold, predicted)):
        for fr in example.frames:
            truth.update((i, fr.predicate.start, fr.predicate.end, a.start, a.end, a.label) for a in fr.arguments)
        for fr in frames:
            guess.update((i, fr.predicate.start, fr.predicate.end, a.start, a.end, a.label) for a in fr.arguments)
    return _set_report(truth, guess)


def evaluate_predicates(gold: Sequence[Example], predicted: Sequence[Sequence[Span]]) -> Score:
    """The predicate finder's precision, recall and F1 (a predicate counts when its span matches;
    the sense is not scored)."""
    truth = Counter((i, f.predicate.start, f.predicate.end, "V") for i, e in enumerate(gold) for f in e.frames)
    guess = Counter((i, s.start, s.end, "V") for i, spans in enumerate(predicted) for s in spans)
    return _set_report(truth, guess).overall


def _set_report(truth: Counter, guess: Counter) -> Report:
    labels = sorted({k[-1] for k in truth} | {k[-1] for k in guess})

    def score(t: Counter, g: Counter) -> Score:
        tp = sum((t & g).values())
        nt, ng = sum(t.values()), sum(g.values())
        p, r = (tp / ng if ng else 0.0), (tp / nt if nt else 0.0)
        return Score(p, r, 2 * p * r / (p + r) if p + r else 0.0, nt)

    per = {label: score(Counter({k: v for k, v in truth.items() if k[-1] == label}),
                        Counter({k: v for k, v in guess.items() if k[-1] == label})) for label in labels}
    return Report(score(truth, guess), per, Errors())
