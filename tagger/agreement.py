"""Inter-annotator agreement: span F1 per label (exact and overlap), Cohen's kappa, Krippendorff's alpha.

Pure functions over plain values (no database, no torch). Spans are :class:`tagger.spans.Span`;
for the token figures a document is cut into whitespace tokens and each token gets the label of
the span that covers it, or ``"O"`` (no IOB prefix: kappa and alpha compare labels, not tags).
Frames (:func:`frame_agreement`): the same span F1 over predicates (label ``V``) and over each
predicate's arguments, an argument matching only one of the same predicate.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace

from .spans import Frame, Span

OUTSIDE = "O"
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class LabelAgreement:
    """Two annotators on one label: F1 of one's spans against the other's (symmetric).

    ``disagreeing``: the documents where their spans of this label are not exactly the same.
    """

    label: str
    exact_f1: float
    overlap_f1: float
    spans: int  # both annotators' spans of this label, together
    disagreeing: tuple[int, ...]


@dataclass(frozen=True)
class PairAgreement:
    """Two annotators over the documents both annotated."""

    a: str
    b: str
    documents: int
    exact_f1: float  # every label together (micro)
    overlap_f1: float
    kappa: float | None  # Cohen's kappa over tokens; None without tokens
    labels: tuple[LabelAgreement, ...]
    disagreeing: tuple[int, ...]


@dataclass(frozen=True)
class Agreement:
    """A project's figures: every pair, and Krippendorff's alpha over all annotators."""

    pairs: tuple[PairAgreement, ...]
    alpha: float | None  # nominal, tokens as units, annotators as coders; None when undefined
    documents: int  # documents with two or more annotations
    disagreeing: tuple[int, ...]
    exact_f1: float | None = None  # every pair's comparisons pooled (micro), None without pairs
    overlap_f1: float | None = None
    labels: tuple[LabelAgreement, ...] = ()  # per label, every pair pooled


def tokens(text: str) -> list[tuple[int, int]]:
    """Whitespace tokens of ``text`` as ``(start, end)`` offsets."""
    return [m.span() for m in _TOKEN.finditer(text)]


def token_labels(text: str, spans: Sequence[Span]) -> list[str]:
    """Each whitespace token's label: that of the first span overlapping it, else ``"O"``."""
    ordered = sorted(spans)
    return [next((s.label for s in ordered if s.start < end and start < s.end), OUTSIDE)
            for start, end in tokens(text)]


def _f1(matched_a: int, total_a: int, matched_b: int, total_b: int) -> float:
    """F1 from recall (a's spans found by b) and precision (b's spans found in a); 1.0 when both are empty."""
    if total_a == 0 and total_b == 0:
        return 1.0
    recall = matched_a / total_a if total_a else 0.0
    precision = matched_b / total_b if total_b else 0.0
    return 0.0 if recall + precision == 0 else 2 * recall * precision / (recall + precision)


def _matches(a: Sequence[Span], b: Sequence[Span], exact: bool) -> tuple[int, int]:
    """How many of a's spans have a partner in b, and of b's in a (same label; equal or overlapping)."""
    def hit(x: Span, ys: Sequence[Span]) -> bool:
        return any(y.label == x.label and ((x.start, x.end) == (y.start, y.end) if exact
                                           else x.start < y.end and y.start < x.end) for y in ys)
    return sum(hit(x, b) for x in a), sum(hit(y, a) for y in b)


def span_f1(a: Sequence[Sequence[Span]], b: Sequence[Sequence[Span]], exact: bool = True) -> float:
    """F1 between two annotators' spans over the same documents (``a[i]``, ``b[i]``: document i's)."""
    counts = [_matches(x, y, exact) for x, y in zip(a, b, strict=True)]
    return _f1(sum(c[0] for c in counts), sum(map(len, a)), sum(c[1] for c in counts), sum(map(len, b)))


def cohen_kappa(x: Sequence[Hashable], y: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two coders' categories for the same items; None for no items.

    When both coders use one and the same category throughout, chance agreement is 1 and kappa is
    undefined; that perfect agreement is returned as 1.0.
    """
    if len(x) != len(y):
        raise ValueError(f"both coders need the same items: {len(x)} against {len(y)}")
    n = len(x)
    if n == 0:
        return None
    observed = sum(p == q for p, q in zip(x, y)) / n
    cx, cy = Counter(x), Counter(y)
    expected = sum(cx[c] * cy[c] for c in cx) / (n * n)
    if expected == 1:
        return 1.0
    return (observed - expected) / (1 - expected)


def krippendorff_alpha(data: Sequence[Sequence[Hashable | None]]) -> float | None:
    """Krippendorff's alpha for nominal data: ``data[coder][unit]``, None where a coder gave no value.

    Units with fewer than two values are not pairable and are left out (Krippendorff 2011,
    "Computing Krippendorff's Alpha-Reliability"). None when fewer than two values are pairable
    or there is no variation at all (expected disagreement 0).
    """
    coincidences: Counter = Counter()
    for unit in zip(*data):
        values = [v for v in unit if v is not None]
        m = len(values)
        if m < 2:
            continue
        for c, k in itertools.permutations(range(m), 2):
            coincidences[values[c], values[k]] += 1 / (m - 1)
    n = sum(coincidences.values())
    if n < 2:
        return None
    marginals: Counter = Counter()
    for (c, _), weight in coincidences.items():
        marginals[c] += weight
    observed = sum(w for (c, k), w in coincidences.items() if c != k)
    expected = n * n - sum(v * v for v in marginals.values())  # sum over c != k of n_c * n_k
    if expected == 0:
        return None
    return 1 - (n - 1) * observed / expected


def agreement(documents: Mapping[int, tuple[str, Mapping[str, Sequence[Span]]]]) -> Agreement:
    """Figures for documents ``{id: (text, {annotator: spans})}``; documents with one annotation count
    for nothing (no pair to compare)."""
    shared = {i: (text, by) for i, (text, by) in documents.items() if len(by) >= 2}
    annotators = sorted({name for _, by in shared.values() for name in by})
    pairs = tuple(p for a, b in itertools.combinations(annotators, 2)
                  if (p := _pair(a, b, shared)) is not None)
    # every pair's view of every document it shares, pooled: the project's figures per label
    compared = [(i, by[p.a], by[p.b]) for p in pairs for i, (_, by) in sorted(shared.items()) if p.a in by and p.b in by]
    ids, xs, ys = [c[0] for c in compared], [c[1] for c in compared], [c[2] for c in compared]
    labels = sorted({s.label for spans in xs + ys for s in spans})
    pooled = tuple(_label(label, ids, xs, ys) for label in labels)
    pooled = tuple(replace(la, disagreeing=tuple(sorted(set(la.disagreeing)))) for la in pooled)
    return Agreement(pairs, _alpha(annotators, shared), len(shared),
                     tuple(sorted({i for p in pairs for i in p.disagreeing})),
                     span_f1(xs, ys) if compared else None, span_f1(xs, ys, exact=False) if compared else None,
                     pooled)


PREDICATE = "V"  # the label a predicate counts under in frame_agreement


def frame_agreement(documents: Mapping[int, tuple[str, Mapping[str, Sequence[Frame]]]]) -> Agreement:
    """Figures for frames documents ``{id: (text, {annotator: frames})}``: span F1 (exact and overlap)
    over the predicates, labelled ``V``, and the arguments, per role; an argument counts as found
    only under the same predicate (exact predicate offsets). No token figures: kappa and alpha are
    None (a token has a role per predicate, not one label)."""
    flat = {i: (text, {name: flatten_frames(text, frames) for name, frames in by.items()})
            for i, (text, by) in documents.items()}
    figures = agreement(flat)
    return replace(figures, alpha=None, pairs=tuple(replace(p, kappa=None) for p in figures.pairs))


def flatten_frames(text: str, frames: Sequence[Frame]) -> list[Span]:
    """Frames as spans that :func:`agreement` compares correctly: each predicate as a ``V`` span, and
    its arguments moved to a stretch of offsets of their own (beyond the text, one stretch per
    predicate offsets), where they can match or overlap only arguments of the same predicate."""
    stride = len(text) + 1
    out = []
    for f in frames:
        p = f.predicate
        out.append(Span(p.start, p.end, PREDICATE))
        shift = (1 + p.start * stride + p.end) * stride
        out.extend(Span(a.start + shift, a.end + shift, a.label) for a in f.arguments)
    return out


def _pair(a: str, b: str, documents: Mapping[int, tuple[str, Mapping[str, Sequence[Span]]]]) -> PairAgreement | None:
    both = sorted(i for i, (_, by) in documents.items() if a in by and b in by)
    if not both:
        return None
    xs, ys = [documents[i][1][a] for i in both], [documents[i][1][b] for i in both]
    labels = sorted({s.label for spans in xs + ys for s in spans})
    per_label = tuple(_label(label, both, xs, ys) for label in labels)
    tx = [t for i in both for t in token_labels(documents[i][0], documents[i][1][a])]
    ty = [t for i in both for t in token_labels(documents[i][0], documents[i][1][b])]
    disagreeing = tuple(i for i, x, y in zip(both, xs, ys) if _key(x) != _key(y))
    return PairAgreement(a, b, len(both), span_f1(xs, ys), span_f1(xs, ys, exact=False), cohen_kappa(tx, ty),
                         per_label, disagreeing)


def _label(label: str, ids: list[int], xs: list, ys: list) -> LabelAgreement:
    only = [[s for s in spans if s.label == label] for spans in xs], [[s for s in spans if s.label == label]
                                                                      for spans in ys]
    disagreeing = tuple(i for i, x, y in zip(ids, *only) if _key(x) != _key(y))
    return LabelAgreement(label, span_f1(*only), span_f1(*only, exact=False),
                          sum(map(len, only[0])) + sum(map(len, only[1])), disagreeing)


def _key(spans: Sequence[Span]) -> set[tuple[int, int, str]]:
    return {(s.start, s.end, s.label) for s in spans}


def _alpha(annotators: list[str], documents: Mapping[int, tuple[str, Mapping[str, Sequence[Span]]]]) -> float | None:
    rows: list[list[str | None]] = [[] for _ in annotators]
    for i in sorted(documents):
        text, by = documents[i]
        width = len(tokens(text))
        for row, name in zip(rows, annotators):
            row.extend(token_labels(text, by[name]) if name in by else [None] * width)
    return krippendorff_alpha(rows)
