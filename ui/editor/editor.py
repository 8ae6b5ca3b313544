"""The span editor: a Streamlit components v2 component (editor.js and editor.css beside this file),
editable on Annotate and read-only on Tag.

Python sends the document as units (:func:`ui.editor.model.layout`) and the spans as unit ranges;
the browser sends unit ranges back, as a debounced state value ``work`` (the draft) and as the
one-shot triggers ``accept`` and ``skip``. Each carries the document id, version and revision the
editor was opened on, so a page saves the document that was shown, never the one it would pick now.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from tagger.spans import Span
from ui.editor.model import EditorValueError, Layout, layout, to_ranges

HERE = Path(__file__).resolve().parent
NAME = "seqlab_span_editor"
LOW_CONFIDENCE = 0.6  # suggestions scored below this are drawn dashed; `n` jumps to the next one
DEBOUNCE_MS = 2000  # the draft goes to Python this long after the last edit (or when the editor loses focus)

# Registered once per process (pages run many times; a second registration would only warn).
_mount = st.components.v2.component(NAME, html="", css=(HERE / "editor.css").read_text(encoding="utf-8"),
                                    js=(HERE / "editor.js").read_text(encoding="utf-8"), isolate_styles=False)


@dataclass(frozen=True)
class EditorValue:
    """Spans as unit ranges, as the browser sent them, with what they were made on."""

    document_id: int
    version: int
    revision: int
    seq: int  # counts the edits made in this editor; the newest value has the highest
    ranges: tuple[tuple[int, int, str], ...]

    @classmethod
    def parse(cls, raw: Any) -> EditorValue | None:
        """The value from the browser, or None when there is none.

        Raises:
            EditorValueError: for a value that is not what editor.js sends.
        """
        if raw is None:
            return None
        try:
            ranges = tuple((int(i), int(j), str(label)) for i, j, label in raw["spans"])
            return cls(int(raw["doc"]), int(raw["version"]), int(raw["revision"]), int(raw.get("seq", 0)), ranges)
        except (KeyError, TypeError, ValueError) as exc:
            raise EditorValueError(f"the editor sent a value this page cannot read ({exc})") from exc


def label_data(labels: Sequence) -> list[dict[str, Any]]:
    """The project's labels (``LabelInfo``: name, colour, shortcut) as the editor takes them."""
    return [{"name": lb.name, "colour": lb.colour, "key": lb.shortcut or ""} for lb in labels]


def editor_data(lay: Layout, spans: Sequence[Span], labels: Sequence, *, editable: bool,
                document_id: int | None = None, version: int | None = None, revision: int = 0,
                attempts: int = 0, scores: bool = False, threshold: float = LOW_CONFIDENCE,
                from_patterns: Sequence[Span] = (), hints: Sequence[Span] = (),
                word_tags: bool = False) -> dict[str, Any]:
    """The JSON the browser gets: units' texts and the gaps between them, spans as unit ranges.

    ``word_tags``: tag mode (a tags project): every span is a word with its tag; a tag key
    relabels the selected word and moves on to the next; no word loses its tag.

    Spans also in ``from_patterns`` are drawn as pattern suggestions (no model yet) until a person
    confirms or changes them; ``hints`` (pattern matches the model did not mark, overlapping no
    span) underline their words. The units' Python offsets go along only to be shown (a span's
    tooltip); the browser never computes with them.
    """
    pattern_keys = {s.key() for s in from_patterns}
    ranges = [[*r, "pattern"] if (s.key() in pattern_keys) else list(r)
              for s, r in zip(sorted(spans), to_ranges(lay, spans))]
    return {
        "mode": "edit" if editable else "view",
        "doc": document_id, "version": version, "revision": revision, "attempts": attempts,
        "units": lay.unit_texts, "gaps": lay.gaps, "offsets": [list(u) for u in lay.units],
        "spans": ranges, "hints": [list(r[:3]) for r in to_ranges(lay, hints)],
        "labels": label_data(labels), "threshold": threshold, "scores": scores, "debounce_ms": DEBOUNCE_MS,
        "word_tags": word_tags,
    }


def span_editor(lay: Layout, spans: Sequence[Span], labels: Sequence, *, key: str, document_id: int,
                version: int, revision: int = 0, attempts: int = 0,
                from_patterns: Sequence[Span] = (), hints: Sequence[Span] = (),
                on_work: Callable[[], None] = lambda: None, on_accept: Callable[[], None] = lambda: None,
                on_skip: Callable[[], None] = lambda: None, word_tags: bool = False) -> None:
    """Mount the editable editor. Read what it sent with :func:`sent` (in the callbacks or after)."""
    data = editor_data(lay, spans, labels, editable=True, document_id=document_id, version=version,
                       revision=revision, attempts=attempts, from_patterns=from_patterns, hints=hints,
                       word_tags=word_tags)
    _mount(key=key, data=data, default={"work": None}, on_work_change=on_work, on_accept_change=on_accept,
           on_skip_change=on_skip)


def sent(key: str, name: str) -> EditorValue | None:
    """The editor's ``work`` state or its ``accept``/``skip`` trigger, parsed (None if not sent)."""
    state = st.session_state.get(key)
    return EditorValue.parse(state.get(name)) if state else None


def show_spans(text: str, units: Sequence[tuple[int, int]], spans: Sequence[Span], labels: Sequence,
               key: str, from_patterns: Sequence[Span] = ()) -> None:
    """The text with its spans, read-only, each with its label and confidence (the Tag page);
    spans in ``from_patterns`` drawn as pattern suggestions."""
    lay = layout(text, units, spans)
    _mount(key=key, data=editor_data(lay, spans, labels, editable=False, scores=True, from_patterns=from_patterns))
