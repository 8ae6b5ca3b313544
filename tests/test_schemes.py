"""Tag schemes <-> spans over token offsets (tagger/schemes.py)."""

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagger.schemes import (
    SCHEMES,
    SchemeError,
    detect_scheme,
    normalize_scheme,
    spans_to_tags,
    tag_names,
    tags_to_spans,
)
from tagger.spans import Span

TEXT = "Ada Lovelace met Alan Turing in London"
TOKENS = [(m.start(), m.end()) for m in re.finditer(r"\S+", TEXT)]
ADA = Span(0, len("Ada Lovelace"), "PER")
ALAN = Span(len("Ada Lovelace met "), len("Ada Lovelace met Alan Turing"), "PER")
LONDON = Span(len("Ada Lovelace met Alan Turing in "), len(TEXT), "LOC")


def offsets(n):
    """n one-character tokens separated by spaces."""
    return [(2 * i, 2 * i + 1) for i in range(n)]


# ------------------------------------------------------------------ names


@pytest.mark.parametrize(
    "alias, scheme",
    [("bio", "IOB2"), ("BIO", "IOB2"), ("iob2", "IOB2"), ("bioes", "IOBES"), ("IOBES", "IOBES"),
     ("bilou", "BILOU"), ("bmes", "BMES"), ("IOB1", "IOB1"), (" Bio ", "IOB2")],
)
def test_scheme_aliases_are_normalized(alias, scheme):
    assert normalize_scheme(alias) == scheme


def test_unknown_scheme_error_lists_known_schemes():
    with pytest.raises(SchemeError, match="unknown tag scheme 'BIOLU'.*IOB1, IOB2 \\(BIO\\)"):
        normalize_scheme("BIOLU")


def test_tag_names_put_o_first_then_labels_sorted_with_scheme_prefixes():
    assert tag_names(["PER", "LOC", "PER"], "IOBES") == [
        "O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-PER", "I-PER", "E-PER", "S-PER",
    ]


def test_tag_names_for_bio():
    assert tag_names(["LOC"], "BIO") == ["O", "B-LOC", "I-LOC"]


def test_tag_names_for_bmes():
    assert tag_names(["LOC"], "BMES") == ["O", "B-LOC", "M-LOC", "E-LOC", "S-LOC"]


# ------------------------------------------------------------------ spans -> tags


@pytest.mark.parametrize(
    "scheme, expected",
    [
        ("IOB2", ["B-PER", "I-PER", "O", "B-PER", "I-PER", "O", "B-LOC"]),
        ("IOB1", ["I-PER", "I-PER", "O", "I-PER", "I-PER", "O", "I-LOC"]),
        ("IOBES", ["B-PER", "E-PER", "O", "B-PER", "E-PER", "O", "S-LOC"]),
        ("BILOU", ["B-PER", "L-PER", "O", "B-PER", "L-PER", "O", "U-LOC"]),
        ("BMES", ["B-PER", "E-PER", "O", "B-PER", "E-PER", "O", "S-LOC"]),
    ],
)
def test_spans_to_tags_per_scheme(scheme, expected):
    tags, warnings = spans_to_tags(TOKENS, [ADA, ALAN, LONDON], scheme)
    assert tags == expected
    assert warnings == []


def test_long_entity_uses_inside_prefixes():
    tags, _ = spans_to_tags(offsets(4), [Span(0, 7, "X")], "BMES")
    assert tags == ["B-X", "M-X", "M-X", "E-X"]


def test_iob1_uses_b_only_between_adjacent_entities_of_one_label():
    spans = [Span(0, 1, "X"), Span(2, 3, "X"), Span(4, 5, "Y"), Span(6, 7, "Y")]
    tags, _ = spans_to_tags(offsets(4), spans, "IOB1")
    assert tags == ["I-X", "B-X", "I-Y", "B-Y"]


def test_adjacent_entities_of_one_label_stay_apart_in_iob2():
    tags, _ = spans_to_tags(offsets(2), [Span(0, 1, "X"), Span(2, 3, "X")], "IOB2")
    assert tags == ["B-X", "B-X"]


def test_labels_may_contain_hyphens():
    spans = [Span(0, 3, "B-SUB-TYPE")]
    tags, _ = spans_to_tags(offsets(2), spans, "IOB2")
    assert tags == ["B-B-SUB-TYPE", "I-B-SUB-TYPE"]
    assert tags_to_spans(offsets(2), tags, "IOB2", strict=True) == spans


def test_span_starting_inside_a_token_tags_the_token_and_warns():
    text = "the Lovelace-style engine"
    tokens = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    style = Span(len("the Lovelace-"), len("the Lovelace-style"), "X")
    tags, warnings = spans_to_tags(tokens, [style])
    assert tags == ["O", "B-X", "O"]
    assert len(warnings) == 1
    assert warnings[0].span == style
    assert "starts inside token [4, 18)" in warnings[0].message


def test_span_ending_inside_a_token_tags_the_token_and_warns():
    text = "the Lovelace-style engine"
    tokens = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    lovelace = Span(len("the "), len("the Lovelace"), "PER")
    tags, warnings = spans_to_tags(tokens, [lovelace])
    assert tags == ["O", "B-PER", "O"]
    assert "ends inside token [4, 18)" in warnings[0].message


def test_span_covering_no_token_warns_and_tags_nothing():
    between = Span(len("Ada"), len("Ada "), "X")
    tags, warnings = spans_to_tags(TOKENS, [between])
    assert tags == ["O"] * len(TOKENS)
    assert warnings[0].span == between
    assert "covers no token" in warnings[0].message


def test_span_sharing_a_token_with_the_span_before_warns():
    tokens = [(0, 8)]  # "NewYork!" as one token, two spans inside it
    tags, warnings = spans_to_tags(tokens, [Span(0, 3, "A"), Span(3, 7, "B")])
    assert tags == ["B-A"]
    assert any("covers no token of its own" in w.message for w in warnings)


# ------------------------------------------------------------------ tags -> spans


def test_tags_to_spans_reads_text_offsets():
    tags = ["B-PER", "I-PER", "O", "B-PER", "I-PER", "O", "B-LOC"]
    assert tags_to_spans(TOKENS, tags) == [ADA, ALAN, LONDON]


def test_lenient_i_after_o_starts_an_entity():
    assert tags_to_spans(offsets(2), ["O", "I-X"]) == [Span(2, 3, "X")]


def test_lenient_i_after_another_label_starts_an_entity():
    assert tags_to_spans(offsets(2), ["B-X", "I-Y"]) == [Span(0, 1, "X"), Span(2, 3, "Y")]


def test_lenient_end_without_begin_is_a_one_token_entity():
    assert tags_to_spans(offsets(2), ["O", "E-X"], "IOBES") == [Span(2, 3, "X")]


def test_lenient_unclosed_begin_is_an_entity():
    assert tags_to_spans(offsets(3), ["B-X", "I-X", "O"], "IOBES") == [Span(0, 3, "X")]


def test_strict_i_after_o_is_an_error_naming_the_token():
    with pytest.raises(SchemeError, match="tag 'I-PER' follows 'O' in IOB2") as err:
        tags_to_spans(offsets(3), ["B-LOC", "O", "I-PER"], strict=True)
    assert err.value.index == 2


def test_strict_i_at_sentence_start_is_an_error():
    with pytest.raises(SchemeError, match="tag 'I-PER' starts a sentence in IOB2") as err:
        tags_to_spans(offsets(1), ["I-PER"], strict=True)
    assert err.value.index == 0


def test_strict_o_inside_an_iobes_entity_is_an_error():
    with pytest.raises(SchemeError, match="tag 'O' follows 'B-X' in IOBES") as err:
        tags_to_spans(offsets(2), ["B-X", "O"], "IOBES", strict=True)
    assert err.value.index == 1


def test_strict_unclosed_entity_at_sentence_end_is_an_error():
    with pytest.raises(SchemeError, match="sentence ends after 'M-X' in BMES") as err:
        tags_to_spans(offsets(2), ["B-X", "M-X"], "BMES", strict=True)
    assert err.value.index == 1


def test_strict_iob1_b_after_o_is_an_error():
    with pytest.raises(SchemeError, match="tag 'B-X' follows 'O' in IOB1"):
        tags_to_spans(offsets(2), ["O", "B-X"], "IOB1", strict=True)


def test_unknown_prefix_is_an_error_even_when_lenient():
    with pytest.raises(SchemeError, match="unknown tag 'S-X' in IOB2") as err:
        tags_to_spans(offsets(2), ["O", "S-X"])
    assert err.value.index == 1


def test_tag_without_prefix_is_an_error():
    with pytest.raises(SchemeError, match="unknown tag 'PER'"):
        tags_to_spans(offsets(1), ["PER"], "IOB2")


def test_tag_and_token_counts_must_match():
    with pytest.raises(ValueError, match="2 tokens, 1 tags"):
        tags_to_spans(offsets(2), ["O"])


@pytest.mark.parametrize("scheme", SCHEMES)
def test_valid_tag_sequences_are_exactly_the_encodings_of_their_spans(scheme):
    """Brute force over every sequence of up to 3 tags: strict accepts a sequence iff
    spans_to_tags gives it back."""
    names = tag_names(["A", "B"], scheme)
    for n in range(1, 4):
        for tags in itertools.product(names, repeat=n):
            tags = list(tags)
            lenient = tags_to_spans(offsets(n), tags, scheme)
            try:
                tags_to_spans(offsets(n), tags, scheme, strict=True)
                valid = True
            except SchemeError:
                valid = False
            assert valid == (spans_to_tags(offsets(n), lenient, scheme)[0] == tags), tags


# ------------------------------------------------------------------ detection


@pytest.mark.parametrize(
    "sequences, scheme",
    [
        ([["B-PER", "I-PER", "O"], ["B-LOC"]], "IOB2"),
        ([["I-PER", "I-PER", "O", "I-LOC"], ["I-PER", "B-PER"]], "IOB1"),
        ([["B-PER", "I-PER", "E-PER", "O", "S-LOC"]], "IOBES"),
        ([["B-PER", "E-PER", "S-LOC"]], "IOBES"),
        ([["B-PER", "I-PER", "L-PER", "O", "U-LOC"]], "BILOU"),
        ([["B-PER", "M-PER", "E-PER", "S-LOC"]], "BMES"),
    ],
)
def test_detect_scheme(sequences, scheme):
    assert detect_scheme(sequences) == scheme


def test_only_b_tags_are_iob2():
    assert detect_scheme([["B-X", "O", "B-Y"]]) == "IOB2"


def test_no_entities_are_iob2():
    assert detect_scheme([["O", "O"], []]) == "IOB2"


def test_i_starting_an_entity_next_to_b_after_o_is_iob2():
    # B- after O rules out IOB1, so the I- after O is an IOB2 error to report, not IOB1.
    assert detect_scheme([["O", "I-X"], ["O", "B-X"]]) == "IOB2"


def test_detect_scheme_reads_a_generator():
    assert detect_scheme(tags for tags in [["U-X"]]) == "BILOU"


# ------------------------------------------------------------------ properties

PIECES = [
    "Paris", "Ada", "x", "-", "B-I", "北京", "你好世界", "東京", "👩‍👩‍👧", "👍🏽", "e\u0301",
    "Cafe\u0301", "שלום", "مرحبا", "עברית", " ", "  ", "\t", "\r\n", "\n", "\u3000",
]
texts = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(st.characters(exclude_categories=("Cs",)),
                                                 min_size=1, max_size=4)),
    min_size=1, max_size=12,
).map("".join)
LABELS = st.sampled_from([None, None, "PER", "LOC", "B-X", "SUB-TYPE"])


def word_tokens(text):
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def char_tokens(text):
    return [(i, i + 1) for i, ch in enumerate(text) if not ch.isspace()]


@st.composite
def tokens_and_spans(draw, tokenize):
    """Tokens from a random text, and random spans aligned to them (adjacent ones too)."""
    tokens = tokenize(draw(texts))
    spans, i = [], 0
    while i < len(tokens):
        j = min(len(tokens), i + draw(st.integers(1, 3)))
        label = draw(LABELS)
        if label:
            spans.append(Span(tokens[i][0], tokens[j - 1][1], label))
        i = j
    return tokens, spans


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("tokenize", [word_tokens, char_tokens])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_spans_to_tags_to_spans_is_the_identity(scheme, tokenize, data):
    tokens, spans = data.draw(tokens_and_spans(tokenize))
    tags, warnings = spans_to_tags(tokens, spans, scheme)
    assert warnings == []
    assert tags_to_spans(tokens, tags, scheme, strict=True) == spans
    # The scheme detected from the tags reads the same spans back.
    assert tags_to_spans(tokens, tags, detect_scheme([tags]), strict=True) == spans


@pytest.mark.parametrize("scheme", SCHEMES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_lenient_reading_of_any_tags_gives_ordered_disjoint_spans(scheme, data):
    tags = data.draw(st.lists(st.sampled_from(tag_names(["A", "B"], scheme)), max_size=10))
    tokens = offsets(len(tags))
    spans = tags_to_spans(tokens, tags, scheme)
    for left, right in zip(spans, spans[1:]):
        assert left.end <= right.start
    # Re-encoding the repaired spans gives a sequence strict mode accepts.
    fixed, _ = spans_to_tags(tokens, spans, scheme)
    assert tags_to_spans(tokens, fixed, scheme, strict=True) == spans
