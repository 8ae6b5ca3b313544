"""Column, JSONL and plain-text readers and writers (tagger/formats.py)."""

import io
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagger.formats import (
    FormatError,
    read_column,
    read_file,
    read_jsonl,
    read_text,
    write_column,
    write_jsonl,
)
from tagger.spans import Example, Span, make_example

DATA = Path(__file__).parent / "data"


def column_text(examples, scheme="IOB2"):
    out = io.StringIO()
    write_column(examples, out, scheme)
    return out.getvalue()


def jsonl_text(examples):
    out = io.StringIO()
    write_jsonl(examples, out)
    return out.getvalue()


# ------------------------------------------------------------------ errors


def test_format_error_names_file_line_and_reason():
    err = FormatError("tag 'I-PER' follows 'O' in IOB2", file="train.txt", line=812)
    assert str(err) == "train.txt, line 812: tag 'I-PER' follows 'O' in IOB2"
    assert (err.reason, err.file, err.line) == ("tag 'I-PER' follows 'O' in IOB2", "train.txt", 812)


def test_format_error_without_file():
    assert str(FormatError("bad", line=3)) == "line 3: bad"


# ------------------------------------------------------------------ column reading


def test_column_tokens_are_joined_by_single_spaces():
    [example] = read_column("Ada B-PER\nLovelace I-PER\nwrote O\n")
    assert example.text == "Ada Lovelace wrote"
    assert example.spans == (Span(0, len("Ada Lovelace"), "PER"),)


def test_blank_lines_separate_sentences():
    examples = read_column("Ada B-PER\n\nParis B-LOC\n")
    assert [e.text for e in examples] == ["Ada", "Paris"]


def test_multi_column_file_takes_the_tag_from_the_last_column_and_skips_docstart():
    examples = read_file(DATA / "conll2003_mini.txt")
    assert [e.text for e in examples] == [
        "EU rejects German call .", "Peter Blackburn", "BRUSSELS",
    ]
    german = len("EU rejects ")
    assert examples[0].spans == (Span(0, 2, "ORG"), Span(german, german + len("German"), "MISC"))
    assert examples[1].spans == (Span(0, len("Peter Blackburn"), "PER"),)


def test_tab_separated_column_file():
    [example] = read_column("New\tNNP\tB-LOC\nYork\tNNP\tI-LOC\n")
    assert example.text == "New York"
    assert example.spans == (Span(0, 8, "LOC"),)


def test_crlf_line_endings_are_accepted():
    [example] = read_column(b"New B-LOC\r\nYork I-LOC\r\n\r\n")
    assert example.text == "New York"
    assert example.spans == (Span(0, 8, "LOC"),)


def test_utf8_bom_is_skipped():
    [example] = read_column("\ufeffParis B-LOC\n".encode("utf-8"))
    assert example.text == "Paris"


def test_column_example_meta_says_where_it_came_from(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("Ada B-PER\n\nParis B-LOC\n", encoding="utf-8")
    examples = read_column(path)
    assert [e.meta for e in examples] == [
        {"source": "train.txt", "line": 1}, {"source": "train.txt", "line": 3},
    ]


def test_strict_scheme_error_names_the_line():
    with pytest.raises(FormatError, match=r"^line 3: tag 'I-PER' follows 'O' in IOB2$") as err:
        read_column("Paris B-LOC\nsaid O\nAda I-PER\n")
    assert err.value.line == 3


def test_scheme_error_names_the_file(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("Paris B-LOC\n\nsaid O\nAda I-PER\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"^train.txt, line 4: tag 'I-PER' follows 'O'"):
        read_column(str(path))


def test_lenient_reading_repairs_invalid_sequences():
    [example] = read_column("Paris B-LOC\nsaid O\nAda I-PER\n", strict=False)
    assert example.spans[-1] == Span(len("Paris said "), len("Paris said Ada"), "PER")


def test_unclosed_iobes_entity_names_its_line():
    with pytest.raises(FormatError, match=r"line 2: sentence ends after 'B-PER' in IOBES"):
        read_column("Paris S-LOC\nAda B-PER\n")


def test_unknown_tag_names_its_line():
    with pytest.raises(FormatError, match=r"line 2: unknown tag 'PER'"):
        read_column("Paris B-LOC\nAda PER\n")


def test_line_without_a_tag_is_an_error():
    with pytest.raises(FormatError, match=r"^line 2: expected 'token tag', got 'Ada'$"):
        read_column("Paris B-LOC\nAda\n")


def test_iob1_file_is_detected():
    examples = read_column("Ada I-PER\nLovelace I-PER\nBabbage B-PER\n\nParis I-LOC\n")
    assert examples[0].spans == (Span(0, 12, "PER"), Span(13, 20, "PER"))
    assert examples[1].spans == (Span(0, 5, "LOC"),)


def test_bilou_file_is_detected():
    [example] = read_column("Ada B-PER\nLovelace L-PER\nin O\nParis U-LOC\n")
    assert example.spans == (Span(0, 12, "PER"), Span(16, 21, "LOC"))


def test_given_scheme_overrides_detection():
    # Detected as IOB1 this reads fine; as IOB2 it is an error at the first I- tag.
    with pytest.raises(FormatError, match="line 1: tag 'I-PER' starts a sentence in IOB2"):
        read_column("Ada I-PER\n", scheme="BIO")


def test_bmes_chinese_file_is_read_as_characters_without_spaces():
    examples = read_file(DATA / "msra_bmes.txt")
    assert [e.text for e in examples] == ["我爱北京天安门。", "王说好"]
    beijing, tiananmen = Span(2, 4, "LOC"), Span(4, 7, "LOC")
    assert examples[0].spans == (beijing, tiananmen)
    assert examples[0].text[2:4] == "北京"
    assert examples[1].spans == (Span(0, 1, "PER"),)


def test_char_level_can_be_forced():
    [example] = read_column("a B-X\nb I-X\nc O\n", char_level=True)
    assert example.text == "abc"
    assert example.spans == (Span(0, 2, "X"),)


def test_single_letter_english_tokens_are_not_char_level():
    [example] = read_column("I O\nsaw O\na O\nB B-X\n")
    assert example.text == "I saw a B"


def test_non_utf8_bytes_name_their_line():
    with pytest.raises(FormatError, match=r"^line 2: not valid UTF-8: byte 0xe9"):
        read_column(b"Paris B-LOC\nZ\xe9rich B-LOC\n")


def test_nul_byte_names_its_line():
    with pytest.raises(FormatError, match=r"^line 3: NUL character"):
        read_column(b"Paris B-LOC\n\nA\x00da B-PER\n")


def test_utf16_file_is_rejected_with_advice():
    with pytest.raises(FormatError, match="UTF-16; save it as UTF-8"):
        read_column("Paris B-LOC\n".encode("utf-16"))


def test_one_bad_sentence_rejects_the_whole_file():
    with pytest.raises(FormatError):
        read_column("Paris B-LOC\n\nAda B-PER\n\nsaid O\nBob I-PER\n")


# ------------------------------------------------------------------ column writing


def test_written_column_file_has_a_blank_line_between_documents_and_a_final_newline():
    examples = [make_example("Ada Lovelace", [Span(0, 12, "PER")]), make_example("hi", [])]
    assert column_text(examples) == "Ada B-PER\nLovelace I-PER\n\nhi O\n"


def test_column_writer_writes_bioes():
    examples = [make_example("Ada Lovelace in Paris", [Span(0, 12, "PER"), Span(16, 21, "LOC")])]
    assert column_text(examples, "BIOES") == "Ada B-PER\nLovelace E-PER\nin O\nParis S-LOC\n"


def test_column_writer_splits_tokens_at_span_edges():
    text = "a Lovelace-style engine"
    lovelace = Span(len("a "), len("a Lovelace"), "PER")
    written = column_text([make_example(text, [lovelace])])
    assert written == "a O\nLovelace B-PER\n-style O\nengine O\n"


def test_column_writer_makes_each_cjk_character_a_token():
    assert column_text([make_example("北京", [Span(0, 2, "LOC")])]) == "北 B-LOC\n京 I-LOC\n"


def test_column_writer_writes_to_a_path(tmp_path):
    path = tmp_path / "out.conll"
    write_column([make_example("Paris", [Span(0, 5, "LOC")])], path)
    assert path.read_bytes() == b"Paris B-LOC\n"


def test_text_starting_with_u_feff_survives_a_column_round_trip():
    example = make_example("\ufeffParis", [Span(0, 6, "LOC")])
    assert read_column(column_text([example])) == [example]


def test_column_writer_rejects_labels_with_whitespace():
    with pytest.raises(FormatError, match="whitespace"):
        column_text([make_example("New York", [Span(0, 8, "BIG CITY")])])


def test_column_writer_rejects_a_docstart_token():
    with pytest.raises(FormatError, match="-DOCSTART-"):
        column_text([make_example("-DOCSTART- x")])


# ------------------------------------------------------------------ JSONL


def test_write_jsonl_rejects_metadata_that_would_overwrite_the_text():
    with pytest.raises(FormatError, match="document 1: metadata key 'text'"):
        jsonl_text([Example("Paris", (), {"text": "Lyon"})])


def test_read_jsonl_spans():
    line = '{"text": "Ada in Paris", "spans": [{"start": 7, "end": 12, "label": "LOC"}]}\n'
    [example] = read_jsonl(line)
    assert example.text == "Ada in Paris"
    assert example.spans == (Span(7, 12, "LOC"),)


def test_read_jsonl_doccano_labels():
    line = '{"id": 3, "text": "Ada in Paris", "label": [[7, 12, "LOC"], [0, 3, "PER"]]}'
    [example] = read_jsonl(line)
    assert example.spans == (Span(0, 3, "PER"), Span(7, 12, "LOC"))
    assert example.meta == {"id": 3}


def test_jsonl_extra_keys_are_kept_and_written_back():
    line = '{"text": "Paris", "spans": [], "id": "doc-7", "tags": ["news"]}'
    [example] = read_jsonl(line)
    assert example.meta == {"id": "doc-7", "tags": ["news"]}
    assert json.loads(jsonl_text([example])) == json.loads(line)


def test_jsonl_blank_lines_are_skipped():
    examples = read_jsonl('{"text": "a"}\n\n{"text": "b"}\r\n')
    assert [e.text for e in examples] == ["a", "b"]


def test_jsonl_span_score_is_read_and_written():
    span = '{"start": 0, "end": 5, "label": "LOC", "score": 0.9}'
    [example] = read_jsonl('{"text": "Paris", "spans": [%s]}' % span)
    assert example.spans[0].score == 0.9
    assert json.loads(jsonl_text([example]))["spans"] == [
        {"start": 0, "end": 5, "label": "LOC", "score": 0.9}
    ]


def test_write_jsonl_does_not_escape_unicode():
    assert jsonl_text([make_example("北京 👩‍👩‍👧")]) == '{"text": "北京 👩‍👩‍👧", "spans": []}\n'


def test_invalid_json_names_its_line():
    with pytest.raises(FormatError, match=r"^line 2: invalid JSON"):
        read_jsonl('{"text": "a"}\n{"text": \n')


def test_missing_text_names_its_line():
    with pytest.raises(FormatError, match=r"^line 1: missing \"text\""):
        read_jsonl('{"spans": []}\n')


def test_non_object_record_is_an_error():
    with pytest.raises(FormatError, match="expected a JSON object, got list"):
        read_jsonl('["a"]\n')


def test_span_of_wrong_shape_is_an_error():
    with pytest.raises(FormatError, match=r"line 1: each of \"label\" must be"):
        read_jsonl('{"text": "Paris", "label": [[0, 5]]}\n')


def test_span_with_text_offsets_is_an_error():
    with pytest.raises(FormatError, match="offsets must be integers"):
        read_jsonl('{"text": "Paris", "spans": [{"start": "0", "end": 5, "label": "LOC"}]}\n')


def test_overlapping_jsonl_spans_name_both_spans_and_the_line():
    line = '{"text": "New York City", "label": [[0, 8, "LOC"], [4, 13, "LOC"]]}'
    with pytest.raises(FormatError, match=r"line 2: overlapping spans") as err:
        read_jsonl('{"text": "ok"}\n' + line)
    assert "[0, 8) LOC 'New York'" in str(err.value)
    assert "[4, 13) LOC 'York City'" in str(err.value)


def test_out_of_range_jsonl_span_is_an_error():
    with pytest.raises(FormatError, match="outside the text"):
        read_jsonl('{"text": "Paris", "spans": [{"start": 0, "end": 9, "label": "LOC"}]}')


def test_escaped_lone_surrogate_is_an_error_with_its_line():
    with pytest.raises(FormatError, match=r"line 1: .*surrogate"):
        read_jsonl('{"text": "a\\ud800"}')


def test_escaped_nul_is_an_error_with_its_line():
    with pytest.raises(FormatError, match=r"line 1: .*NUL"):
        read_jsonl('{"text": "a\\u0000b"}')


def test_one_bad_record_rejects_the_whole_jsonl_file():
    with pytest.raises(FormatError, match="line 3"):
        read_jsonl('{"text": "a"}\n{"text": "b"}\n{"text": ""}\n')


def test_jsonl_keeps_unicode_line_separators_inside_text():
    example = make_example("one\u2028two\x85three", [])
    assert read_jsonl(jsonl_text([example])) == [example]


# ------------------------------------------------------------------ plain text


def test_read_text_gives_one_document_per_non_blank_line():
    examples = read_text("  first line \r\n\n   \nsecond\tline\n")
    assert [e.text for e in examples] == ["  first line ", "second\tline"]
    assert all(e.spans == () for e in examples)
    assert [e.meta["line"] for e in examples] == [1, 4]


# ------------------------------------------------------------------ sources and dispatch


def test_sources_may_be_path_bytes_text_or_file_object(tmp_path):
    path = tmp_path / "docs.txt"
    path.write_text("Paris\n", encoding="utf-8")
    expected = [Example("Paris")]
    assert read_text(path) == expected
    assert read_text(str(path)) == expected
    assert read_text(b"Paris\n") == expected
    assert read_text("Paris\n") == expected
    assert read_text(io.BytesIO(b"Paris\n")) == expected


def test_missing_file_is_a_format_error(tmp_path):
    with pytest.raises(FormatError, match="missing.txt: cannot read the file"):
        read_file(tmp_path / "missing.txt")


def test_read_file_guesses_jsonl_from_the_extension(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "Paris", "spans": [{"start": 0, "end": 5, "label": "LOC"}]}\n')
    assert read_file(path)[0].spans == (Span(0, 5, "LOC"),)


def test_read_file_guesses_a_column_file_from_its_content(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("Paris B-LOC\nis O\n\nAda B-PER\n")
    assert [e.text for e in read_file(path)] == ["Paris is", "Ada"]


def test_read_file_guesses_plain_text_from_its_content(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Ada Lovelace met Babbage.\nShe wrote notes O\n")
    assert [e.text for e in read_file(path)] == ["Ada Lovelace met Babbage.", "She wrote notes O"]


def test_read_file_uses_the_given_format(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("Paris B-LOC\n")
    assert read_file(path, fmt="column")[0].spans == (Span(0, 5, "LOC"),)


def test_read_file_rejects_an_unknown_format(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("x\n")
    with pytest.raises(FormatError, match="unknown format 'xml'"):
        read_file(path, fmt="xml")


# ------------------------------------------------------------------ round trips

PIECES = ["Paris", "Ada", "-", "I-PER", "O", "👩‍👩‍👧", "👍🏽", "e\u0301", "Cafe\u0301", "שלום",
          "مرحبا", "a.b", "x"]
WORD_CHARS = st.characters(exclude_categories=("Cs", "Zs", "Zl", "Zp"), exclude_characters="\x00")


# The writer cuts around these (one token per character), so they cannot sit inside a word.
CJK = re.compile("[\u3000-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
                 "\uff00-\uffef\U00020000-\U0002fa1f]")


def is_column_token(token):
    return (not any(ch.isspace() for ch in token) and token != "-DOCSTART-"
            and CJK.search(token) is None)


words = st.one_of(st.sampled_from(PIECES), st.text(WORD_CHARS, min_size=1, max_size=5)).filter(
    is_column_token)
cjk_chars = st.sampled_from("北京天安门我爱中国上海人民日报东京、。")
LABELS = st.sampled_from([None, None, "PER", "LOC", "B-X", "SUB-TYPE"])


@st.composite
def tokenized_examples(draw, token, joiner):
    """Examples whose text is tokens joined by ``joiner``, with spans aligned to the tokens."""
    examples = []
    for _ in range(draw(st.integers(1, 3))):
        tokens = draw(st.lists(token, min_size=1, max_size=8))
        starts = [sum(len(t) + len(joiner) for t in tokens[:k]) for k in range(len(tokens))]
        spans, i = [], 0
        while i < len(tokens):
            j = min(len(tokens), i + draw(st.integers(1, 3)))
            label = draw(LABELS)
            if label:
                spans.append(Span(starts[i], starts[j - 1] + len(tokens[j - 1]), label))
            i = j
        examples.append(make_example(joiner.join(tokens), spans))
    return examples


@pytest.mark.parametrize("scheme", ["BIO", "BIOES"])
@settings(max_examples=40, deadline=None)
@given(examples=tokenized_examples(words, " "))
def test_column_export_then_import_gives_the_same_texts_and_spans(scheme, examples):
    assert read_column(column_text(examples, scheme)) == examples


@settings(max_examples=30, deadline=None)
@given(examples=tokenized_examples(cjk_chars, ""))
def test_char_level_column_export_then_import_gives_the_same_texts_and_spans(examples):
    assert read_column(column_text(examples, "BIOES")) == examples


ANY_CHAR = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
any_texts = st.lists(
    st.one_of(st.sampled_from(PIECES + ["\n", "\r\n", "\t", "\u2028", "北京", "  "]),
              st.text(ANY_CHAR, min_size=1, max_size=5)),
    min_size=1, max_size=10,
).map("".join).filter(str.strip)
meta_values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(ANY_CHAR, max_size=5))


@st.composite
def any_examples(draw):
    """Any storable text, any valid spans over it, and some metadata."""
    text = draw(any_texts)
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=6)))
    spans = [Span(a, b, draw(st.text(ANY_CHAR, min_size=1, max_size=6).filter(str.strip)))
             for a, b in zip(cuts[::2], cuts[1::2]) if text[a:b].strip()]
    meta = draw(st.dictionaries(st.text(ANY_CHAR, max_size=4).filter(
        lambda k: k not in ("text", "spans")), meta_values, max_size=3))
    return make_example(text, spans, meta=meta)


@settings(max_examples=60, deadline=None)
@given(examples=st.lists(any_examples(), max_size=3))
def test_jsonl_write_then_read_is_the_identity(examples):
    read = read_jsonl(jsonl_text(examples))
    assert read == examples
    assert [e.meta for e in read] == [e.meta for e in examples]
