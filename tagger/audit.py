"""Label-noise audit: corrections that are probably wrong, most suspicious first.

Two signals, each a :class:`Finding` (the document's index, the suspect stored spans, the spans
suggested instead, a score in [0, 1] and a reason a person can check):

- **inconsistent surface strings** (:func:`inconsistent_labels`): the same text (case and
  spacing aside) labelled differently across documents, or labelled in some and not in others;
  the occurrences with a minority label (or none) are suspect, the majority label (or none) is
  suggested, scored by the majority's share;
- **cross-validation** (:func:`cross_validated`): the documents are cut into ``k`` folds; a model
  trained on the other folds tags each fold; where its spans differ from the stored ones, the
  difference is suspect, scored by the model's confidence in its own spans (how sure it is of
  the text, when it suggests removing a span).

:func:`audit` runs both and ranks them. No database here: the worker and the CLI call it.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from .spans import Example, SeqLabError, Span

DEFAULT_FOLDS = 5
OUTSIDE = "O"  # the label of an occurrence no span covers
WORD = re.compile(r"\w+|[^\w\s]")  # a word, or a punctuation mark on its own
MAX_WORDS = 8  # longer labelled strings are not looked for unlabelled


@dataclass(frozen=True)
class Finding:
    index: int  # of the document in the input
    text: str
    suspect: tuple[Span, ...]  # stored spans that look wrong
    suggested: tuple[Span, ...]  # what the evidence suggests instead
    score: float  # how suspicious, 0-1
    reason: str
    signal: str = "surface"  # "surface" (inconsistent strings) or "folds" (cross-validation)

    def to_dict(self) -> dict:
        """JSON-ready, as ``python -m tagger audit`` writes it."""
        return {"index": self.index, "text": self.text, "suspect": [s.to_dict() for s in self.suspect],
                "suggested": [s.to_dict() for s in self.suggested], "score": round(self.score, 4),
                "reason": self.reason}


def surface_key(text: str) -> str:
    """What counts as "the same string": case-folded, runs of whitespace as one space."""
    return " ".join(text.split()).casefold()


def inconsistent_labels(examples: Sequence[Example]) -> list[Finding]:
    """Places where a labelled string carries another label than in most of the places it occurs,
    or none (an occurrence no span covers counts as unlabelled, ``O``; a string labelled nowhere is
    not looked for)."""
    places: dict[str, list[tuple[int, Span]]] = defaultdict(list)
    for i, example in enumerate(examples):
        for span in example.spans:
            places[surface_key(example.text[span.start:span.end])].append((i, span))
    for i, span in unlabelled_occurrences(examples, places):
        places[surface_key(examples[i].text[span.start:span.end])].append((i, span))
    findings = []
    for found in places.values():
        labels = Counter(span.label for _, span in found)
        if len(labels) < 2:
            continue
        (major, m), = sorted(labels.items(), key=lambda kv: (-kv[1], kv[0] == OUTSIDE, kv[0]))[:1]
        for i, span in found:
            if span.label != major:
                findings.append(_surface_finding(examples[i], i, span, major, m, len(found)))
    return findings


def _surface_finding(example: Example, i: int, span: Span, major: str, m: int, n: int) -> Finding:
    surface = example.text[span.start:span.end]
    is_ = f"is {major}" if major != OUTSIDE else "is not labelled"
    here = f"{span.label} here" if span.label != OUTSIDE else "not labelled here"
    suspect = (span,) if span.label != OUTSIDE else ()
    suggested = (replace(span, label=major),) if major != OUTSIDE else ()
    reason = f"{surface!r} {is_} in {m} of the {n} places it occurs, {here}"
    return Finding(i, example.text, suspect, suggested, m / n, reason)


def unlabelled_occurrences(examples: Sequence[Example], places: dict) -> list[tuple[int, Span]]:
    """Occurrences of the labelled strings (whole words, case and spacing aside) that no span of
    their document touches, as ``O`` spans; one pass over the words per string length."""
    lengths = {len(WORD.findall(key)) for key in places} - {0}
    found = []
    for i, example in enumerate(examples):
        words = [m.span() for m in WORD.finditer(example.text)]
        for n in sorted(k for k in lengths if k <= MAX_WORDS):
            for j in range(len(words) - n + 1):
                start, end = words[j][0], words[j + n - 1][1]
                if surface_key(example.text[start:end]) not in places:
                    continue
                if not any(s.start < end and start < s.end for s in example.spans):
                    found.append((i, Span(start, end, OUTSIDE)))
    return found


def folds_of(n: int, k: int, seed: int = 0) -> list[int]:
    """The fold (0..k-1) of each of ``n`` documents: a seeded shuffle dealt round-robin."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    fold = [0] * n
    for position, i in enumerate(order):
        fold[i] = position % k
    return fold


def cross_validated(examples: Sequence[Example], k: int, fit: Callable[[Sequence[Example]], object],
                    seed: int = 0, progress: Callable[[int, int], None] | None = None) -> list[Finding]:
    """Documents whose stored spans a model trained on the other folds disagrees with.

    ``fit(train_examples)`` returns a tagger with ``analyse(texts)`` (``tagger.predict.Tagger``);
    ``progress(fold, k)`` is called after each fold.
    """
    if k < 2:
        raise SeqLabError(f"--folds must be at least 2, got {k}")
    if len(examples) < k:
        raise SeqLabError(f"{k} folds need at least {k} documents, got {len(examples)}")
    fold = folds_of(len(examples), k, seed)
    findings = []
    for f in range(k):
        held = [i for i in range(len(examples)) if fold[i] == f]
        tagger = fit([examples[i] for i in range(len(examples)) if fold[i] != f])
        for i, prediction in zip(held, tagger.analyse([examples[i].text for i in held])):
            finding = disagreement(i, examples[i], prediction.spans, prediction.uncertainty, k)
            if finding is not None:
                findings.append(finding)
        if progress is not None:
            progress(f + 1, k)
    return findings


def disagreement(index: int, example: Example, predicted: Sequence[Span], uncertainty: float,
                 k: int) -> Finding | None:
    """The finding for one held-out document, or None when the model agrees with it."""
    gold = {s.key() for s in example.spans}
    found = {p.key() for p in predicted}
    suspect = tuple(s for s in example.spans if s.key() not in found)
    suggested = tuple(p for p in predicted if p.key() not in gold)
    if not suspect and not suggested:
        return None
    scores = [p.score for p in suggested if p.score is not None]
    score = sum(scores) / len(scores) if scores else 1.0 - uncertainty
    said = ", ".join(f"{example.text[p.start:p.end]!r} {p.label}" for p in suggested) or "no entity there"
    return Finding(index, example.text, suspect, suggested, float(score),
                   f"a model trained on the other {k - 1} folds predicts {said}", "folds")


def audit(examples: Sequence[Example], folds: int = DEFAULT_FOLDS, fit: Callable | None = None, seed: int = 0,
          progress: Callable[[int, int], None] | None = None) -> list[Finding]:
    """Both signals, most suspicious first (ties in document order). ``fit`` None or ``folds`` 0:
    the surface-string check alone."""
    findings = inconsistent_labels(examples)
    if folds and fit is not None:
        findings += cross_validated(examples, folds, fit, seed=seed, progress=progress)
    return sorted(findings, key=lambda f: (-f.score, f.index))
