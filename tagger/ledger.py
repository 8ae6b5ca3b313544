"""The correction ledger: which corrections a new model version learned, still gets wrong, or broke.

A version *reproduces* a correction when its spans for the text are exactly the corrected ones
(start, end and label of each, nothing more, nothing less; scores do not count). Comparing an old
and a new version on the same corrections gives each one of four outcomes:

- ``learned``: the new version reproduces it, the old one did not;
- ``still_wrong``: neither does;
- ``regressed``: the old one did, the new one does not;
- ``unchanged_right``: both do.

With no old version (a project's first), nothing was right before. :func:`compare` streams the
examples through both taggers in batches, so memory grows with the batch, not the data; the
result keeps the indices only. No torch here: a tagger is anything with ``predict(texts)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Protocol

from .spans import Example, Span

LEARNED = "learned"
STILL_WRONG = "still_wrong"
REGRESSED = "regressed"
UNCHANGED_RIGHT = "unchanged_right"
OUTCOMES = (LEARNED, STILL_WRONG, REGRESSED, UNCHANGED_RIGHT)
TITLES = {LEARNED: "learned", STILL_WRONG: "still wrong", REGRESSED: "regressed", UNCHANGED_RIGHT: "unchanged right"}
BATCH = 256


class Predictor(Protocol):
    def predict(self, texts: Sequence[str]) -> list[list[Span]]: ...


def reproduces(gold: Iterable[Span], predicted: Iterable[Span]) -> bool:
    """Whether ``predicted`` is exactly the corrected set of spans ``gold`` (scores ignored)."""
    return {s.key() for s in gold} == {s.key() for s in predicted}


def outcome(gold: Sequence[Span], old: Sequence[Span] | None, new: Sequence[Span]) -> str:
    """The ledger outcome of one correction; ``old`` None when there is no previous version."""
    was = old is not None and reproduces(gold, old)
    now = reproduces(gold, new)
    if now:
        return UNCHANGED_RIGHT if was else LEARNED
    return REGRESSED if was else STILL_WRONG


@dataclass(frozen=True)
class Scored:
    """One correction scored: its position in the input, the spans of both versions, the outcome."""

    index: int
    example: Example
    old: tuple[Span, ...] | None
    new: tuple[Span, ...]
    outcome: str


def score(examples: Iterable[Example], old: Predictor | None, new: Predictor,
          batch_size: int = BATCH) -> Iterator[list[Scored]]:
    """Score ``examples`` in batches of ``batch_size``: one list of :class:`Scored` per batch."""
    it = iter(examples)
    index = 0
    while batch := list(islice(it, batch_size)):
        texts = [e.text for e in batch]
        new_spans = new.predict(texts)
        old_spans = old.predict(texts) if old is not None else [None] * len(batch)
        out = []
        for example, before, after in zip(batch, old_spans, new_spans):
            before = tuple(before) if before is not None else None
            out.append(Scored(index, example, before, tuple(after), outcome(example.spans, before, after)))
            index += 1
        yield out


@dataclass(frozen=True)
class Ledger:
    """The indices of the compared examples, by outcome (ascending)."""

    learned: tuple[int, ...] = ()
    still_wrong: tuple[int, ...] = ()
    regressed: tuple[int, ...] = ()
    unchanged_right: tuple[int, ...] = ()

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in OUTCOMES}

    def to_dict(self) -> dict[str, list[int]]:
        """JSON-ready: each outcome -> its list of indices."""
        return {name: list(getattr(self, name)) for name in OUTCOMES}


def compare(examples: Iterable[Example], old: Predictor | None, new: Predictor, batch_size: int = BATCH,
            progress: Callable[[int], None] | None = None) -> Ledger:
    """The :class:`Ledger` of ``new`` against ``old`` on ``examples`` (streamed in batches).

    ``progress``, if given, is called with the number of examples scored after each batch.
    """
    found: dict[str, list[int]] = {name: [] for name in OUTCOMES}
    done = 0
    for batch in score(examples, old, new, batch_size):
        for item in batch:
            found[item.outcome].append(item.index)
        done += len(batch)
        if progress is not None:
            progress(done)
    return Ledger(**{name: tuple(indices) for name, indices in found.items()})
