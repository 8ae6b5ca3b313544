"""Subwords with offsets, windows over long texts, casing classes, span alignment."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from tagger.encoding import CASING_CLASSES, TextEncoder, align_tags, casing_class, length_batches
from tagger.schemes import tag_names
from tagger.spans import Example, SeqLabError, Span


@pytest.fixture(scope="module")
def encoder(tiny_base) -> TextEncoder:
    return TextEncoder(AutoTokenizer.from_pretrained(tiny_base), max_length=16, stride=4)


def test_offsets_point_into_the_original_text(encoder):
    text = "Alice went to\tPARIS .\r\nplaying"
    (enc,) = encoder.encode([text])
    pieces = [text[a:b] for a, b in enc.offsets]
    assert pieces == ["Alice", "went", "to", "PARIS", ".", "play", "ing"]


def test_unknown_pieces_keep_their_offsets(encoder):
    text = "alice 😀 went"
    (enc,) = encoder.encode([text])
    assert [text[a:b] for a, b in enc.offsets] == ["alice", "😀", "went"]
    assert enc.ids[1] == encoder.tokenizer.unk_token_id


def test_cjk_characters_are_separate_words(encoder):
    (enc,) = encoder.encode(["我在北京工作"])
    assert len(enc.offsets) == 6
    assert len(set(enc.words)) == 6


def test_windows_cover_every_subword_with_overlap(encoder):
    n = 100
    windows = encoder.windows([n])
    assert windows[0].start == 0 and windows[-1].end == n
    for left, right in zip(windows, windows[1:]):
        assert right.start < left.end  # overlap: no subword falls between windows
        assert left.end - right.start == encoder.stride
    assert all(w.end - w.start <= encoder.content_length for w in windows)


def test_short_text_is_one_window(encoder):
    assert len(encoder.windows([5])) == 1


def test_batch_wraps_windows_in_special_tokens(encoder):
    encoded = encoder.encode(["alice went to paris", "bob"])
    batch = encoder.batch(encoded, encoder.windows([len(e) for e in encoded]))
    tok = encoder.tokenizer
    assert batch["input_ids"][0, 0] == tok.cls_token_id
    assert batch["input_ids"][0, 5] == tok.sep_token_id
    assert batch["attention_mask"][1].tolist()[:4] == [1, 1, 1, 0]
    assert batch["lengths"].tolist() == [4, 1]


@pytest.mark.parametrize(
    "word, expected",
    [("paris", "lower"), ("Paris", "title"), ("NATO", "upper"), ("I", "title"), ("iPhone", "mixed"),
     ("1996", "digits"), ("1996-08-22", "has_digit"), (".", "other"), ("北京", "other")],
)
def test_casing_classes(word, expected):
    assert CASING_CLASSES[casing_class(word)] == expected


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("aZb1Y9.-'_ ~ÉéßİıǅΣ北"), max_size=8) | st.text(max_size=6))
def test_the_ascii_casing_shortcut_classes_as_the_letter_by_letter_test(word):
    from tagger.encoding import _casing_class

    assert casing_class(word) == _casing_class(word)


def test_casing_survives_the_uncased_tokenizer(encoder):
    (lower,) = encoder.encode(["paris"])
    (title,) = encoder.encode(["Paris"])
    assert lower.ids == title.ids
    assert lower.casing != title.casing


def test_align_tags_marks_every_subword_of_a_span(encoder):
    text = "alice went to new york"
    start = len("alice went to ")
    example = Example(text, (Span(0, 5, "PER"), Span(start, len(text), "LOC")))
    (enc,) = encoder.encode([text])
    tags = tag_names(["LOC", "PER"])
    ids, warnings = align_tags(enc, example, {t: i for i, t in enumerate(tags)})
    assert [tags[i] for i in ids] == ["B-PER", "O", "O", "B-LOC", "I-LOC"]
    assert warnings == []


def test_span_edge_inside_a_subword_is_reported_not_moved(encoder):
    text = "playing"
    example = Example(text, (Span(0, 3, "PER"),))  # "pla" ends inside the subword "play"
    (enc,) = encoder.encode([text])
    tags = tag_names(["PER"])
    _, warnings = align_tags(enc, example, {t: i for i, t in enumerate(tags)})
    assert len(warnings) == 1
    assert warnings[0].span == Span(0, 3, "PER")


def test_label_outside_the_tag_set_is_an_error(encoder):
    (enc,) = encoder.encode(["alice"])
    with pytest.raises(SeqLabError, match="not in the model's tag set"):
        align_tags(enc, Example("alice", (Span(0, 5, "PER"),)), {"O": 0})


def test_length_batches_group_similar_lengths(encoder):
    windows = encoder.windows([1, 9, 2, 8, 3, 7])
    groups = list(length_batches(windows, 2))
    widths = [[windows[i].end - windows[i].start for i in g] for g in groups]
    assert widths == [[9, 8], [7, 3], [2, 1]]


def test_slow_tokenizer_is_refused():
    class Slow:
        is_fast = False

    with pytest.raises(SeqLabError, match="fast"):
        TextEncoder(Slow())
