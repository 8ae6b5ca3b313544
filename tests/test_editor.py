"""The span editor's Python side: units <-> spans for every script, the edit rules, undo/redo, and
the data the browser gets. (The same rules in editor.js: tests/browser/test_editor.py.)"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagger.spans import Span
from ui import selection_units
from ui.editor.editor import EditorValue, editor_data
from ui.editor.model import (EditorValueError, History, add, layout, move_end, move_start, relabel, remove,
                             to_ranges, to_spans)

# Pieces of text from every script the editor must get right.
PIECES = ["Alice", "Acme", "Corp", "北京", "東京都", "ひらがな", "カタカナ", "서울시", "กรุงเทพ",
          "👩‍👩‍👧", "👍🏽", "🇫🇷", "e\u0301te\u0301", "naïve", "שלום", "مرحبا", "123", "U.N.", ",", ".", "—",
          "x\u200dy", "«", "»"]
SEPARATORS = [" ", "  ", "\n", "\r\n", "\t", "", " \u00a0"]

texts = st.lists(st.tuples(st.sampled_from(SEPARATORS), st.sampled_from(PIECES)), min_size=1, max_size=12).map(
    lambda parts: "".join(sep + piece for sep, piece in parts))


def units_of(text: str) -> list[str]:
    return [text[a:b] for a, b in selection_units(text)]


@st.composite
def text_and_spans(draw):
    """A text and non-overlapping spans with any character offsets (edges inside words and in
    white space included)."""
    text = draw(texts)
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=8)))
    spans = [Span(a, b, draw(st.sampled_from(["PER", "LOC"]))) for a, b in zip(cuts[::2], cuts[1::2]) if a < b]
    return text, spans


@settings(max_examples=300, deadline=None)
@given(text_and_spans())
def test_any_spans_survive_the_trip_through_unit_ranges_with_exact_offsets(case):
    text, spans = case
    lay = layout(text, selection_units(text), spans)
    ranges = [(i, j, label) for i, j, label, _ in to_ranges(lay, spans)]
    assert to_spans(lay, ranges) == sorted(spans)


@settings(max_examples=300, deadline=None)
@given(text_and_spans())
def test_the_units_and_gaps_put_together_give_the_text_back(case):
    text, spans = case
    lay = layout(text, selection_units(text), spans)
    gaps, units = lay.gaps, lay.unit_texts
    assert len(gaps) == len(units) + 1
    assert "".join(g + u for g, u in zip(gaps, units)) + gaps[-1] == text
    assert all(units)


@settings(max_examples=200, deadline=None)
@given(texts, st.data())
def test_unit_ranges_chosen_in_the_browser_become_spans_of_whole_units(text, data):
    lay = layout(text, selection_units(text))
    n = len(lay.units)
    if n == 0:
        return
    i = data.draw(st.integers(0, n - 1))
    j = data.draw(st.integers(i + 1, n))
    (span,) = to_spans(lay, [(i, j, "PER")])
    assert (span.start, span.end) == (lay.units[i][0], lay.units[j - 1][1])
    assert text[span.start:span.end].startswith(text[slice(*lay.units[i])])


def test_cjk_kana_hangul_and_thai_are_units_of_one_character_and_an_emoji_sequence_is_one_unit():
    assert units_of("我在北京") == ["我", "在", "北", "京"]
    assert units_of("ひらがなカタ") == list("ひらがなカタ")
    assert units_of("서울") == ["서", "울"]
    assert units_of("Hi 👩‍👩‍👧 👍🏽!") == ["Hi", "👩‍👩‍👧", "👍🏽", "!"]
    assert units_of("e\u0301te\u0301 naïve") == ["e\u0301te\u0301", "naïve"]


def test_an_emoji_and_cjk_span_has_python_offsets_not_utf16_ones():
    text = "👩‍👩‍👧 visited 北京 ."
    lay = layout(text, selection_units(text))
    names = lay.unit_texts
    beijing = to_spans(lay, [(names.index("北"), names.index("京") + 1, "LOC")])
    start = len("👩‍👩‍👧 visited ")
    assert beijing == [Span(start, start + 2, "LOC")] and text[start:start + 2] == "北京"


def test_a_span_edge_inside_a_word_cuts_the_word_into_two_units():
    text = "Unbelievable results"
    lay = layout(text, selection_units(text), [Span(0, 2, "ORG")])
    assert lay.unit_texts == ["Un", "believable", "results"]
    assert to_ranges(lay, [Span(0, 2, "ORG")]) == [(0, 1, "ORG", None)]


def test_a_span_ending_in_white_space_makes_that_white_space_a_unit_and_keeps_its_edge():
    text = "Alice  met"
    span = Span(0, 6, "PER")  # "Alice " with one of the two spaces
    lay = layout(text, selection_units(text), [span])
    assert lay.unit_texts == ["Alice", " ", "met"]
    ranges = [r[:3] for r in to_ranges(lay, [span])]
    assert to_spans(lay, ranges) == [span]


def test_white_space_inside_a_span_stays_between_units():
    text = "Acme Corp hired"
    lay = layout(text, selection_units(text), [Span(0, 9, "ORG")])
    assert lay.unit_texts == ["Acme", "Corp", "hired"]


def test_crlf_and_rtl_text_keep_their_offsets():
    text = "שלום עולם\r\nAcme Corp"
    lay = layout(text, selection_units(text))
    assert lay.unit_texts == ["שלום", "עולם", "Acme", "Corp"]
    (span,) = to_spans(lay, [(2, 4, "ORG")])
    assert text[span.start:span.end] == "Acme Corp" and span.start == len("שלום עולם\r\n")


@pytest.mark.parametrize("ranges, message", [
    ([(0, 9, "PER")], "outside"),
    ([(2, 2, "PER")], "outside"),
    ([(0, 2, "PER"), (1, 3, "LOC")], "overlaps"),
    ([(0, 1, "GPE")], "not one of the project's labels"),
])
def test_unit_ranges_that_cannot_be_spans_are_refused(ranges, message):
    lay = layout("Alice met Bob", [(0, 5), (6, 9), (10, 13)])
    with pytest.raises(EditorValueError, match=message):
        to_spans(lay, ranges, labels=["PER", "LOC"])


# ----------------------------------------------------------------------------- edit rules


def test_a_new_span_replaces_every_span_it_overlaps_and_keeps_the_others():
    spans = [(0, 1, "PER"), (2, 4, "ORG"), (5, 6, "LOC"), (8, 9, "LOC")]
    assert add(spans, 3, 6, "MISC") == [(0, 1, "PER"), (3, 6, "MISC"), (8, 9, "LOC")]


def test_a_new_span_next_to_another_does_not_replace_it():
    assert add([(0, 2, "PER")], 2, 3, "LOC") == [(0, 2, "PER"), (2, 3, "LOC")]


def test_an_empty_selection_cannot_become_a_span():
    with pytest.raises(ValueError):
        add([], 3, 3, "PER")


def test_relabel_and_remove_touch_only_their_span():
    spans = [(0, 1, "PER"), (2, 4, "ORG")]
    assert relabel(spans, 1, "LOC") == [(0, 1, "PER"), (2, 4, "LOC")]
    assert remove(spans, 0) == [(2, 4, "ORG")]


def test_moving_the_end_stops_at_the_next_span_and_at_the_last_unit():
    spans = [(0, 2, "PER"), (4, 5, "LOC")]
    assert move_end(spans, 0, +1, 10) == [(0, 3, "PER"), (4, 5, "LOC")]
    assert move_end(spans, 0, +5, 10) == [(0, 4, "PER"), (4, 5, "LOC")]  # touches, never overlaps
    assert move_end(spans, 1, +9, 6) == [(0, 2, "PER"), (4, 6, "LOC")]


def test_moving_the_end_or_the_start_never_leaves_an_empty_span():
    spans = [(3, 5, "PER")]
    assert move_end(spans, 0, -5, 10) == [(3, 4, "PER")]
    assert move_start(spans, 0, +5) == [(4, 5, "PER")]


def test_moving_the_start_stops_at_the_previous_span_and_at_the_first_unit():
    spans = [(0, 2, "PER"), (4, 6, "LOC")]
    assert move_start(spans, 1, -1) == [(0, 2, "PER"), (3, 6, "LOC")]
    assert move_start(spans, 1, -9) == [(0, 2, "PER"), (2, 6, "LOC")]
    assert move_start(spans, 0, -3) == spans


def test_undo_and_redo_walk_the_edits_back_and_forth():
    history = History([])
    history.push([(0, 1, "PER")])
    history.push([(0, 1, "LOC")])
    assert history.undo() == [(0, 1, "PER")]
    assert history.undo() == []
    assert history.undo() == []  # nothing more to undo
    assert history.redo() == [(0, 1, "PER")]
    history.push([(0, 2, "PER")])  # a new edit drops what could be redone
    assert history.redo() == [(0, 2, "PER")]
    assert history.undo() == [(0, 1, "PER")]


def test_an_edit_that_changes_nothing_is_not_an_undo_step():
    history = History([(0, 1, "PER")])
    history.push([(0, 1, "PER")])
    assert history.past == []


# ----------------------------------------------------------------------------- what crosses to the browser


def test_the_browser_gets_unit_texts_gaps_and_unit_ranges_never_character_offsets_to_compute_with():
    text = "Alice met 北京 👍🏽."
    lay = layout(text, selection_units(text))
    data = editor_data(lay, [Span(len("Alice met "), len("Alice met 北京"), "LOC", 0.4)], [], editable=True,
                       document_id=7, version=3, revision=1)
    assert data["units"] == ["Alice", "met", "北", "京", "👍🏽", "."]
    assert data["gaps"] == ["", " ", " ", "", " ", "", ""]
    assert data["spans"] == [[2, 4, "LOC", 0.4]]
    assert (data["doc"], data["version"], data["revision"], data["mode"]) == (7, 3, 1, "edit")


def test_a_value_from_the_browser_is_read_with_its_document_and_version():
    value = EditorValue.parse({"doc": 4, "version": 2, "revision": 0, "seq": 5, "spans": [[0, 2, "PER"]]})
    assert value == EditorValue(4, 2, 0, 5, ((0, 2, "PER"),))
    assert EditorValue.parse(None) is None


@pytest.mark.parametrize("raw", [{"doc": 1}, {"doc": "x", "version": 1, "revision": 0, "spans": []},
                                 {"doc": 1, "version": 1, "revision": 0, "spans": [[0]]}])
def test_a_value_the_editor_would_never_send_is_refused_with_a_message(raw):
    with pytest.raises(EditorValueError, match="cannot read"):
        EditorValue.parse(raw)
