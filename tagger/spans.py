"""Spans over raw text and the examples that carry them. No torch here.

Three tasks (:data:`TASKS`) share these types. ``spans`` (NER): an example's spans are its
entities. ``tags`` (POS): its spans are its words, each labelled with the word's tag, tiling every
word of the text. ``frames`` (SRL): its :class:`Frame` s, each a predicate (a span labelled with
its sense, e.g. ``nominate.01``) and the argument spans of that predicate (labelled with roles,
``ARG0``, ``ARGM-TMP``...); arguments of one predicate never overlap, those of different
predicates may.

A span is ``[start, end)`` in Python ``str`` indices of the exact stored text, so
``text[span.start:span.end]`` is the entity. Validation is strict: overlapping,
empty, out-of-range spans and unknown labels raise :class:`SpanError` with a
message that names the offending span(s).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_TEXT_CHARS = 100_000
TASKS = ("spans", "tags", "frames")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class SeqLabError(ValueError):
    """Base class of every error a user can cause (bad file, bad label, bad span...)."""


class SpanError(SeqLabError):
    """A span that cannot be stored: overlapping, empty, out of range, unknown label."""


class TextError(SeqLabError):
    """A text that cannot be stored: empty, too long, NUL bytes, lone surrogates."""


@dataclass(frozen=True, order=True)
class Span:
    """An entity: ``text[start:end]`` labelled ``label``; ``score`` is the model's confidence."""

    start: int
    end: int
    label: str
    score: float | None = field(default=None, compare=False)

    def key(self) -> tuple[int, int, str]:
        """The identity of the span without its score (for set comparisons)."""
        return (self.start, self.end, self.label)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start, "end": self.end, "label": self.label}
        if self.score is not None:
            out["score"] = round(float(self.score), 4)
        return out


@dataclass(frozen=True, order=True)
class Frame:
    """One predicate of a text (``predicate.label`` is its sense) and its arguments (sorted)."""

    predicate: Span
    arguments: tuple[Span, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        p = self.predicate
        predicate: dict[str, Any] = {"start": p.start, "end": p.end, "sense": p.label}
        if p.score is not None:
            predicate["score"] = round(float(p.score), 4)
        return {"predicate": predicate, "arguments": [a.to_dict() for a in self.arguments]}


@dataclass(frozen=True)
class Example:
    """One text with its spans (sorted), its frames (sorted; task ``frames`` only) and free
    metadata kept from imports."""

    text: str
    spans: tuple[Span, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)
    frames: tuple[Frame, ...] = ()

    def labels(self) -> set[str]:
        if self.frames:
            return {a.label for f in self.frames for a in f.arguments}
        return {s.label for s in self.spans}


def validate_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Return ``text`` unchanged if it can be stored, else raise :class:`TextError`."""
    if not isinstance(text, str):
        raise TextError(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise TextError("text is empty or only whitespace")
    if len(text) > max_chars:
        raise TextError(f"text has {len(text):,} characters; the limit is {max_chars:,}")
    if "\x00" in text:
        raise TextError(f"text contains a NUL character at index {text.index(chr(0))}")
    surrogate = LONE_SURROGATE.search(text)  # one C-level scan: imports check every line
    if surrogate:
        raise TextError(f"text contains a lone surrogate U+{ord(surrogate.group()):04X} at index {surrogate.start()}")
    return text


def validate_spans(
    text: str, spans: Iterable[Span], labels: Iterable[str] | None = None
) -> tuple[Span, ...]:
    """Check spans against ``text`` (and the label set if given); return them sorted.

    Raises:
        SpanError: naming the span (and, for overlaps, both spans) that is wrong.
    """
    allowed = set(labels) if labels is not None else None
    ordered = sorted(spans, key=lambda s: (s.start, s.end, s.label))
    for span in ordered:
        _check_one(text, span, allowed)
    for left, right in zip(ordered, ordered[1:]):
        if right.start < left.end:
            raise SpanError(
                f"overlapping spans: {_show(text, left)} and {_show(text, right)}"
            )
    return tuple(ordered)


def _check_one(text: str, span: Span, allowed: set[str] | None) -> None:
    if not isinstance(span.start, int) or not isinstance(span.end, int):
        raise SpanError(f"span offsets must be integers, got {span.start!r}, {span.end!r}")
    if not isinstance(span.label, str) or not span.label.strip():
        raise SpanError(f"span [{span.start}, {span.end}) has an empty label")
    if span.start < 0 or span.end > len(text):
        raise SpanError(
            f"span [{span.start}, {span.end}) {span.label} is outside the text "
            f"(length {len(text)})"
        )
    if span.end <= span.start:
        raise SpanError(f"span [{span.start}, {span.end}) {span.label} is empty")
    if not text[span.start : span.end].strip():
        raise SpanError(f"span [{span.start}, {span.end}) {span.label} covers only whitespace")
    if allowed is not None and span.label not in allowed:
        raise SpanError(
            f"unknown label {span.label!r} on {_show(text, span)}; "
            f"known labels: {', '.join(sorted(allowed)) or '(none)'}"
        )


def _show(text: str, span: Span) -> str:
    piece = text[span.start : span.end]
    if len(piece) > 40:
        piece = piece[:37] + "..."
    return f"[{span.start}, {span.end}) {span.label} {piece!r}"


def validate_frames(text: str, frames: Iterable[Frame], labels: Iterable[str] | None = None) -> tuple[Frame, ...]:
    """Check each frame's predicate and arguments against ``text``; return them sorted.

    Raises:
        SpanError: two frames on one predicate, arguments of one predicate that overlap each
        other or the predicate, or any bad span (see :func:`validate_spans`).
    """
    out = []
    for frame in frames:
        (predicate,) = validate_spans(text, [frame.predicate])
        arguments = validate_spans(text, frame.arguments, labels)
        for a in arguments:
            if a.start < predicate.end and predicate.start < a.end:
                raise SpanError(f"argument {_show(text, a)} overlaps its predicate {_show(text, predicate)}")
        out.append(Frame(predicate, arguments))
    out.sort(key=lambda f: (f.predicate.start, f.predicate.end))
    for left, right in zip(out, out[1:]):
        if (left.predicate.start, left.predicate.end) == (right.predicate.start, right.predicate.end):
            raise SpanError(f"two frames on the predicate {_show(text, right.predicate)}")
    return tuple(out)


def validate_tags(text: str, spans: Iterable[Span], labels: Iterable[str] | None = None) -> tuple[Span, ...]:
    """Check the word tags of a ``tags`` example: valid spans (:func:`validate_spans`) that cover
    every non-space character of the text, so that every word has its tag."""
    ordered = validate_spans(text, spans, labels)
    covered = [False] * len(text)
    for s in ordered:
        covered[s.start : s.end] = [True] * (s.end - s.start)
    for i, ch in enumerate(text):
        if not covered[i] and not ch.isspace():
            word = re.match(r"\S+", text[i:]).group()
            raise SpanError(f"the word {word[:40]!r} at {i} has no tag (in task 'tags' every word has one)")
    return ordered


def make_example(
    text: str,
    spans: Iterable[Span] = (),
    labels: Iterable[str] | None = None,
    meta: Mapping[str, Any] | None = None,
    frames: Iterable[Frame] = (),
) -> Example:
    """Validate ``text``, ``spans`` and ``frames`` together and build an :class:`Example`."""
    validate_text(text)
    return Example(text, validate_spans(text, spans, labels), dict(meta or {}), validate_frames(text, frames))
