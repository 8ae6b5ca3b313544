"""Which documents are behind each number of the error analysis: label confusion and error kinds.

The same rules as ``tagger.evaluate`` (its ``confusion`` and ``errors``), per document, so a cell's
count is the number of times it happens and its documents are the ones where it happens:

- confusion ``(gold, predicted)``: a gold span and the label of the first predicted span that
  overlaps it (``O`` for none); a predicted span that overlaps no gold span is ``(O, label)``;
- error kinds: ``wrong_label`` (same edges, other label), ``wrong_boundary`` (overlaps a gold span
  but starts or ends elsewhere), ``spurious`` (touches no gold span), each a predicted span that is
  not a gold one; ``missed``: a gold span no prediction touches.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .spans import Span

ERROR_KINDS = ("wrong_label", "wrong_boundary", "missed", "spurious")
OUTSIDE = "O"


@dataclass(frozen=True, order=True)
class Cell:
    """``kind`` "confusion" with ``gold`` and ``predicted`` labels, or an error kind alone."""

    kind: str
    gold: str = ""
    predicted: str = ""


def confusion_cell(gold: str, predicted: str) -> Cell:
    return Cell("confusion", gold, predicted)


def error_cell(kind: str) -> Cell:
    if kind not in ERROR_KINDS:
        raise ValueError(f"error kind must be one of {', '.join(ERROR_KINDS)}, got {kind!r}")
    return Cell(kind)


def _overlap(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def document_cells(gold: Sequence[Span], predicted: Sequence[Span]) -> Counter[Cell]:
    """The cells one document falls in, with how many times."""
    cells: Counter[Cell] = Counter()
    for g in gold:
        hits = [p.label for p in predicted if _overlap(p, g)] or [OUTSIDE]
        cells[confusion_cell(g.label, hits[0])] += 1
    for p in predicted:
        if not any(_overlap(g, p) for g in gold):
            cells[confusion_cell(OUTSIDE, p.label)] += 1
    gold_keys = {s.key() for s in gold}
    pred_keys = {s.key() for s in predicted}
    for p in pred_keys - gold_keys:
        touching = [g for g in gold_keys if g[0] < p[1] and p[0] < g[1]]
        if not touching:
            kind = "spurious"
        else:
            kind = "wrong_label" if any(g[:2] == p[:2] for g in touching) else "wrong_boundary"
        cells[error_cell(kind)] += 1
    for g in gold_keys - pred_keys:
        if not any(p[0] < g[1] and g[0] < p[1] for p in pred_keys):
            cells[error_cell("missed")] += 1
    return cells


@dataclass(frozen=True)
class CellIndex:
    """Every cell's count and the ids of its documents (in the order given)."""

    counts: dict[Cell, int] = field(default_factory=dict)
    documents: dict[Cell, tuple[int, ...]] = field(default_factory=dict)
    scored: int = 0  # documents looked at

    def labels(self) -> list[str]:
        """Every label of the confusion, ``O`` last."""
        names = {c.gold for c in self.counts if c.kind == "confusion"} | {
            c.predicted for c in self.counts if c.kind == "confusion"}
        return sorted(names - {OUTSIDE}) + ([OUTSIDE] if OUTSIDE in names else [])

    def count(self, cell: Cell) -> int:
        return self.counts.get(cell, 0)


def index_cells(items: Iterable[tuple[int, Sequence[Span], Sequence[Span]]]) -> CellIndex:
    """Index ``(document id, gold spans, predicted spans)`` items by cell; streams, keeping ids only."""
    counts: Counter[Cell] = Counter()
    documents: dict[Cell, list[int]] = defaultdict(list)
    scored = 0
    for doc_id, gold, predicted in items:
        scored += 1
        for cell, n in document_cells(gold, predicted).items():
            counts[cell] += n
            documents[cell].append(doc_id)
    return CellIndex(dict(counts), {c: tuple(ids) for c, ids in documents.items()}, scored)
