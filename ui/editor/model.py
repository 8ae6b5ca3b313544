"""The span editor's rules in plain Python: the layout of a text into units, spans <-> unit ranges,
and the edits (add, relabel, delete, resize, undo/redo). No streamlit here.

The browser works in unit indices only (``editor.js`` mirrors the edit functions below, and
tests/browser/test_editor.py runs the same cases through both); Python owns every character
offset, so nothing ever converts between Python's code points and the browser's UTF-16 units.

A *range* is ``(i, j, label)``: units ``i`` to ``j - 1`` of a layout, ``i < j``. Ranges of one
document never overlap and are kept sorted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tagger.spans import SeqLabError, Span

Range = tuple[int, int, str]


class EditorValueError(SeqLabError):
    """What the editor sent back does not fit the document it was opened on."""


@dataclass(frozen=True)
class Layout:
    """The units a person selects, as ``[start, end)`` in the text, and the text between them.

    ``gaps[k]`` is the text before unit ``k`` (``gaps[-1]``: after the last unit), so
    ``gaps[0] + units[0] + gaps[1] + ... + gaps[n]`` is the text again.
    """

    text: str
    units: tuple[tuple[int, int], ...]

    @property
    def unit_texts(self) -> list[str]:
        return [self.text[a:b] for a, b in self.units]

    @property
    def gaps(self) -> list[str]:
        ends = [0] + [b for _, b in self.units]
        starts = [a for a, _ in self.units] + [len(self.text)]
        return [self.text[e:s] for e, s in zip(ends, starts)]


def layout(text: str, units: Sequence[tuple[int, int]], spans: Iterable[Span] = ()) -> Layout:
    """The units of ``text`` cut so that every span edge is a unit boundary.

    ``units`` are the selection units (``ui.selection_units``). A span edge inside a unit (a
    span made with the character-offset form) cuts the unit in two; a span edge in the white
    space between units makes the spanned part of that white space a unit of its own. Either
    way each span is exactly a run of whole units, and no edge is moved.
    """
    spans = list(spans)
    cuts = {e for s in spans for e in (s.start, s.end)}
    pieces: list[tuple[int, int]] = []
    for a, b in units:
        inner = sorted(c for c in cuts if a < c < b)
        bounds = [a, *inner, b]
        pieces.extend(zip(bounds, bounds[1:]))
    pieces.extend(_whitespace_units(text, units, spans))
    return Layout(text, tuple(sorted(pieces)))


def _whitespace_units(text: str, units: Sequence[tuple[int, int]], spans: Sequence[Span]) -> list[tuple[int, int]]:
    """The part of each gap between units that a span starting or ending in that gap covers.

    (A span that only passes through a gap, like the space in "Acme Corp", leaves it a gap.)
    """
    gap_starts = [0] + [b for _, b in units]
    gap_ends = [a for a, _ in units] + [len(text)]
    found = []
    for gap_start, gap_end in zip(gap_starts, gap_ends):
        for span in spans:
            lo, hi = max(gap_start, span.start), min(gap_end, span.end)
            starts_here = gap_start <= span.start < gap_end
            ends_here = gap_start < span.end <= gap_end
            if lo < hi and (starts_here or ends_here):
                found.append((lo, hi))
    return found


def to_ranges(lay: Layout, spans: Iterable[Span]) -> list[tuple[int, int, str, float | None]]:
    """Each span as ``(i, j, label, score)`` over ``lay``'s units (its edges must be unit boundaries)."""
    first = {a: k for k, (a, _) in enumerate(lay.units)}
    last = {b: k for k, (_, b) in enumerate(lay.units)}
    out = []
    for span in sorted(spans):
        if span.start not in first or span.end not in last:
            raise EditorValueError(f"span [{span.start}, {span.end}) {span.label} does not fall on unit edges")
        out.append((first[span.start], last[span.end] + 1, span.label, span.score))
    return out


def to_spans(lay: Layout, ranges: Iterable[Sequence], labels: Iterable[str] | None = None) -> list[Span]:
    """Unit ranges (from the browser) as ``[start, end)`` spans of the text, sorted.

    Raises:
        EditorValueError: for a range outside the units, an empty or overlapping one, or an
            unknown label: the browser sent something this document cannot hold.
    """
    allowed = set(labels) if labels is not None else None
    spans, end = [], 0
    for item in sorted((int(r[0]), int(r[1]), str(r[2])) for r in ranges):
        i, j, label = item
        if not 0 <= i < j <= len(lay.units):
            raise EditorValueError(f"unit range [{i}, {j}) is outside the document's {len(lay.units)} units")
        if i < end:
            raise EditorValueError(f"unit range [{i}, {j}) overlaps the range before it")
        if allowed is not None and label not in allowed:
            raise EditorValueError(f"label {label!r} is not one of the project's labels")
        spans.append(Span(lay.units[i][0], lay.units[j - 1][1], label))
        end = j
    return spans


# ----------------------------------------------------------------------------- edits


def add(ranges: Sequence[Range], i: int, j: int, label: str) -> list[Range]:
    """Units ``i`` to ``j - 1`` become a span; the spans it overlaps are replaced."""
    if not i < j:
        raise ValueError(f"an empty selection [{i}, {j}) cannot become a span")
    kept = [r for r in ranges if r[1] <= i or r[0] >= j]
    return sorted([*kept, (i, j, label)])


def relabel(ranges: Sequence[Range], k: int, label: str) -> list[Range]:
    i, j, _ = ranges[k]
    return [*ranges[:k], (i, j, label), *ranges[k + 1:]]


def remove(ranges: Sequence[Range], k: int) -> list[Range]:
    return [*ranges[:k], *ranges[k + 1:]]


def move_end(ranges: Sequence[Range], k: int, delta: int, n_units: int) -> list[Range]:
    """Move span ``k``'s end by ``delta`` units: never into the next span, past the text, or to empty."""
    i, j, label = ranges[k]
    limit = ranges[k + 1][0] if k + 1 < len(ranges) else n_units
    new = min(max(j + delta, i + 1), limit)
    return [*ranges[:k], (i, new, label), *ranges[k + 1:]]


def move_start(ranges: Sequence[Range], k: int, delta: int) -> list[Range]:
    """Move span ``k``'s start by ``delta`` units: never into the previous span, before 0, or to empty."""
    i, j, label = ranges[k]
    limit = ranges[k - 1][1] if k > 0 else 0
    new = max(min(i + delta, j - 1), limit)
    return [*ranges[:k], (new, j, label), *ranges[k + 1:]]


@dataclass
class History:
    """Undo/redo over whole states (a document holds a few hundred spans at most, so copies are cheap)."""

    present: list[Range]
    past: list[list[Range]] = field(default_factory=list)
    future: list[list[Range]] = field(default_factory=list)
    limit: int = 500

    def push(self, state: list[Range]) -> None:
        """A new state after an edit; an edit that changes nothing is not recorded."""
        if state == self.present:
            return
        self.past = [*self.past[-(self.limit - 1):], self.present]
        self.present, self.future = state, []

    def undo(self) -> list[Range]:
        if self.past:
            self.future = [self.present, *self.future]
            self.present = self.past.pop()
        return self.present

    def redo(self) -> list[Range]:
        if self.future:
            self.past = [*self.past, self.present]
            self.present = self.future.pop(0)
        return self.present
