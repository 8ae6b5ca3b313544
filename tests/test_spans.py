"""Spans, examples and their validation (tagger/spans.py)."""

import pytest

from tagger.spans import (
    MAX_TEXT_CHARS,
    Example,
    SpanError,
    Span,
    TextError,
    make_example,
    validate_spans,
    validate_text,
)

TEXT = "I flew to New York with Ada Lovelace"
NEW_YORK = Span(len("I flew to "), len("I flew to New York"), "LOC")
ADA = Span(len("I flew to New York with "), len(TEXT), "PER")


def test_valid_spans_are_returned_sorted():
    assert validate_spans(TEXT, [ADA, NEW_YORK]) == (NEW_YORK, ADA)


def test_span_covers_its_entity_text():
    assert TEXT[NEW_YORK.start : NEW_YORK.end] == "New York"


def test_adjacent_spans_are_accepted():
    text = "NewYork"
    spans = [Span(0, 3, "A"), Span(3, 7, "B")]
    assert validate_spans(text, spans) == tuple(spans)


def test_unknown_label_is_rejected_when_labels_are_given():
    with pytest.raises(SpanError, match="unknown label 'CITY'.*known labels: LOC, PER"):
        validate_spans(TEXT, [Span(NEW_YORK.start, NEW_YORK.end, "CITY")], labels=["PER", "LOC"])


def test_any_label_is_accepted_without_a_label_set():
    assert validate_spans(TEXT, [Span(0, 1, "WHATEVER")])


def test_overlapping_spans_message_names_both_spans():
    york = Span(len("I flew to New "), len("I flew to New York with"), "X")
    with pytest.raises(SpanError) as err:
        validate_spans(TEXT, [NEW_YORK, york])
    message = str(err.value)
    assert "overlapping" in message
    assert "[10, 18) LOC 'New York'" in message
    assert "[14, 23) X 'York with'" in message


def test_empty_span_is_rejected():
    with pytest.raises(SpanError, match="empty"):
        validate_spans(TEXT, [Span(3, 3, "X")])


def test_reversed_span_is_rejected():
    with pytest.raises(SpanError, match="empty"):
        validate_spans(TEXT, [Span(5, 3, "X")])


def test_span_past_the_end_is_rejected():
    with pytest.raises(SpanError, match="outside the text"):
        validate_spans(TEXT, [Span(0, len(TEXT) + 1, "X")])


def test_negative_start_is_rejected():
    with pytest.raises(SpanError, match="outside the text"):
        validate_spans(TEXT, [Span(-1, 2, "X")])


def test_whitespace_only_span_is_rejected():
    start = len("I flew")
    with pytest.raises(SpanError, match="only whitespace"):
        validate_spans(TEXT, [Span(start, start + 1, "X")])


def test_empty_label_is_rejected():
    with pytest.raises(SpanError, match="empty label"):
        validate_spans(TEXT, [Span(0, 1, " ")])


def test_non_integer_offsets_are_rejected():
    with pytest.raises(SpanError, match="integers"):
        validate_spans(TEXT, [Span(0.0, 1, "X")])


def test_empty_text_is_rejected():
    with pytest.raises(TextError, match="empty"):
        validate_text("  \n\t")


def test_text_over_the_limit_is_rejected():
    with pytest.raises(TextError, match="limit"):
        validate_text("a" * (MAX_TEXT_CHARS + 1))


def test_nul_in_text_is_rejected_with_its_index():
    with pytest.raises(TextError, match="NUL character at index 2"):
        validate_text("ab\x00c")


def test_lone_surrogate_is_rejected():
    with pytest.raises(TextError, match="surrogate U\\+D800"):
        validate_text("a\ud800")


def test_text_is_kept_exactly():
    text = "  leading spaces, tabs\t and\r\nnewlines  "
    assert validate_text(text) is text


def test_make_example_sorts_spans_and_keeps_meta():
    example = make_example(TEXT, [ADA, NEW_YORK], meta={"id": 7})
    assert example.spans == (NEW_YORK, ADA)
    assert example.meta == {"id": 7}
    assert example.labels() == {"LOC", "PER"}


def test_make_example_rejects_bad_spans():
    with pytest.raises(SpanError):
        make_example(TEXT, [Span(0, 99, "X")])


def test_example_equality_ignores_meta():
    assert Example("a", (), {"id": 1}) == Example("a", (), {"id": 2})


def test_span_equality_ignores_score():
    assert Span(0, 1, "X", 0.5) == Span(0, 1, "X")


def test_span_to_dict_rounds_the_score():
    expected = {"start": 0, "end": 1, "label": "X", "score": 0.1235}
    assert Span(0, 1, "X", 0.123456).to_dict() == expected


def test_span_to_dict_omits_a_missing_score():
    assert Span(0, 1, "X").to_dict() == {"start": 0, "end": 1, "label": "X"}
