"""Readers against odd, broken and hostile files (issue 10 items 3, 7, 12, 13, 15; issue 18).

Each test is a probe that once gave a traceback, a wrong line number or junk documents.
"""

import pytest

from tagger.formats import FormatError, guess_format, read, read_column, read_jsonl, read_text

# ------------------------------------------------------------------ odd JSON (item 3)


def test_jsonl_nested_100000_levels_is_an_error_naming_the_line():
    data = b'{"text": "Paris"}\n{"text": "Ada", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"

    with pytest.raises(FormatError, match=r"^deep\.jsonl, line 2: the record is nested more than 100 levels"):
        read_jsonl(data, name="deep.jsonl")


def test_jsonl_nested_a_little_deeper_than_the_limit_is_refused():
    data = b'{"text": "Ada", "x": ' + b"[" * 150 + b"]" * 150 + b"}\n"

    with pytest.raises(FormatError, match="line 1: the record is nested more than 100 levels"):
        read_jsonl(data, name="deep.jsonl")


def test_jsonl_span_offset_with_5000_digits_is_an_error_naming_the_line():
    data = b'{"text": "Ada", "spans": [{"start": ' + b"9" * 5000 + b', "end": 3, "label": "PER"}]}\n'

    with pytest.raises(FormatError, match=r"^big\.jsonl, line 1: a number has more than \d+ digits"):
        read_jsonl(data, name="big.jsonl")


def test_jsonl_metadata_number_with_5000_digits_is_an_error_naming_the_line():
    data = b'\n{"text": "Ada", "n": ' + b"1" * 5000 + b"}\n"

    with pytest.raises(FormatError, match=r"^big\.jsonl, line 2: a number has more than"):
        read_jsonl(data, name="big.jsonl")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_jsonl_non_finite_numbers_are_errors_naming_the_line(number):
    # Python's json reads these; the database's JSON columns (PostgreSQL) cannot store them
    data = f'{{"text": "Ada", "score": {number}}}\n'.encode()

    with pytest.raises(FormatError, match=r"^n\.jsonl, line 1: invalid JSON"):
        read_jsonl(data, name="n.jsonl")


def test_jsonl_offset_of_4000_digits_gives_a_short_message():
    data = b'{"text": "Ada", "spans": [{"start": "' + b"9" * 4000 + b'", "end": 3, "label": "PER"}]}\n'

    with pytest.raises(FormatError) as info:
        read_jsonl(data, name="big.jsonl")
    assert len(str(info.value)) < 200


# ------------------------------------------------------------------ the format from the content (item 7)


@pytest.mark.parametrize("content", [
    # MultiCoNER: a "# id ..." comment line before each short sentence
    "# id 1\tdomain=en\nPeter _ _ B-PER\nlives _ _ O\n\n# id 2\tdomain=en\nBerlin _ _ B-LOC\n",
    # a stray U+FEFF line (as in WNUT-17's dev file)
    "Peter B-PER\n\ufeff\nlives O\n",
])
def test_column_content_in_a_txt_file_is_read_as_column(content):
    assert guess_format("people.txt", content) == "column"


def test_tab_separated_tokens_in_a_txt_file_are_read_as_column():
    # UD-style "token<TAB>UPOS": not entity tags, but a column file, never plain-text documents
    assert guess_format("pos.txt", "From\tADP\nthe\tDET\nAP\tPROPN\n\nI\tPRON\n") == "column"


def test_jsonl_content_with_a_bom_in_a_txt_file_is_read_as_jsonl():
    assert guess_format("records.txt", '\ufeff{"text": "Peter lives in Berlin"}\n') == "jsonl"


def test_jsonl_content_in_a_conll_file_is_read_as_jsonl():
    assert guess_format("records.conll", '{"text": "Peter lives in Berlin"}\n') == "jsonl"


def test_plain_text_with_a_tab_on_one_line_stays_plain_text():
    assert guess_format("notes.txt", "first\tline\n") == "text"


def test_read_guesses_column_content_of_a_txt_upload():
    reading = read(b"# id 1\tdomain=en\nPeter _ _ B-PER\nlives _ _ O\n", name="people.txt")

    assert reading.fmt == "column"
    assert [ex.text for ex in reading.examples] == ["Peter lives"]


# ------------------------------------------------------------------ invisible lines and other quirks (item 15)


def test_line_of_only_u_feff_is_a_blank_line_with_a_warning_naming_it():
    reading = read(b"Peter B-PER\n\xef\xbb\xbf\nlives O\n", name="dev.txt", fmt="column")

    assert [ex.text for ex in reading.examples] == ["Peter", "lives"]
    [warning] = reading.warnings
    assert str(warning) == ("dev.txt: 1 line holding only invisible characters was read as blank: "
                            "line 2 (U+FEFF)")


@pytest.mark.parametrize("invisible", ["\u200b", "\u200e", "\u2060\ufeff", " \u200b\t"])
def test_lines_of_invisible_format_characters_are_blank_in_every_reader(invisible):
    column = read(f"Ada B-PER\n{invisible}\nParis B-LOC\n", fmt="column", name="a.conll")
    jsonl = read(f'{{"text": "Ada"}}\n{invisible}\n', fmt="jsonl", name="a.jsonl")
    text = read(f"Ada\n{invisible}\nParis\n", fmt="text", name="a.txt")

    assert len(column.examples) == 2 and len(jsonl.examples) == 1 and len(text.examples) == 2
    assert all("line 2" in str(r.warnings[0]) for r in (column, jsonl, text))


def test_ideographic_space_line_is_a_blank_line():
    assert [e.text for e in read_column("北 B-LOC\n京 I-LOC\n\u3000\n我 O\n")] == ["北京", "我"]


def test_docstart_with_extra_columns_is_dropped():
    examples = read_column("-DOCSTART- -X- -X- O\n\nPeter NNP B-NP B-PER\n")
    assert [e.text for e in examples] == ["Peter"]


def test_crlf_and_trailing_tabs_are_ignored():
    [example] = read_column("Peter\tB-PER\t\r\nlives\tO\t\r\n")
    assert example.text == "Peter lives" and example.spans[0].label == "PER"


def test_doubled_tabs_between_columns_are_one_separator():
    # Universal Propositions' "Good<TAB><TAB>B-V": an empty middle column
    [example] = read_column("Good\t\tB-V\nfood\t-\tO\n")
    assert example.text == "Good food" and example.spans[0].label == "V"


def test_a_token_with_a_space_in_a_tab_separated_file_stays_one_token():
    [example] = read_column("in\tO\nNew York\tB-LOC\n")
    assert example.text == "in New York"
    assert example.text[example.spans[0].start:example.spans[0].end] == "New York"


def test_multiconer_comment_lines_are_skipped():
    examples = read_column("# id 1\tdomain=en\nPeter _ _ B-PER\n\n# id 2\tdomain=en\nBerlin _ _ B-LOC\n")
    assert [e.text for e in examples] == ["Peter", "Berlin"]


def test_a_hash_token_with_a_tag_is_a_token_not_a_comment():
    [example] = read_column("# O\nPeter B-PER\n")
    assert example.text == "# Peter"


# ------------------------------------------------------------------ line numbers (item 12)


def test_line_number_after_a_bom_and_a_blank_line_is_two():
    reading = read(b'\xef\xbb\xbf\n{"text": "Ada"}\n\n{"text": "Bob"}\n', name="a.jsonl")
    assert reading.lines == (2, 4)


def test_error_after_a_bom_and_a_blank_line_names_line_two():
    for fmt, body in (("jsonl", b"[1]"), ("column", b"Peter"), ("text", b"\x00")):
        with pytest.raises(FormatError, match="line 2:"):
            read(b"\xef\xbb\xbf\n" + body + b"\n", fmt=fmt, name="a")


# ------------------------------------------------------------------ one reading policy (issue 18)


def test_read_repairs_invalid_sequences_with_one_warning_naming_the_lines():
    reading = read("Alice B-PER\nwent O\nParis I-LOC\n\nBob O\nI-X I-PER\n", name="t.conll")

    [warning] = reading.warnings
    assert str(warning) == ("t.conll: 2 tag sequences were repaired as conlleval does: "
                            "line 3: tag 'I-LOC' follows 'O' in IOB2; line 6: tag 'I-PER' follows "
                            "'O' in IOB2 (a strict reading refuses them)")
    assert reading.examples[0].spans[1].label == "LOC"


def test_read_strict_refuses_the_first_invalid_sequence():
    with pytest.raises(FormatError, match=r"^t\.conll, line 3: tag 'I-LOC' follows 'O' in IOB2$"):
        read("Alice B-PER\nwent O\nParis I-LOC\n", name="t.conll", strict=True)


def test_a_warning_lists_five_repaired_lines_and_counts_the_rest():
    reading = read("Ada B-PER\nwent O\nParis I-LOC\n\n" * 8, name="t.conll")
    assert str(reading.warnings[0]).count("line ") == 5 and "and 3 more" in str(reading.warnings[0])


def test_library_readers_log_the_warning(caplog):
    read_text("Ada\n\u200b\n", name="a.txt")
    assert "a.txt: 1 line holding only invisible characters" in caplog.text


# ------------------------------------------------------------------ the app's import (items 3, 12, 13; issue 18)


@pytest.fixture()
def svc(tmp_path):
    from services import Services

    service = Services(f"sqlite:///{tmp_path / 'seqlab.db'}")
    yield service
    service.close()


@pytest.fixture()
def project(svc):
    return svc.create_project("NER", ["PER", "LOC"])


def test_upload_nested_100000_levels_is_an_error_naming_the_line(svc):
    data = b'{"text": "Ada", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"

    with pytest.raises(FormatError, match=r"^deep\.jsonl, line 1: the record is nested"):
        svc.preview_file("deep.jsonl", data)


def test_unknown_label_after_a_bom_and_a_blank_line_names_line_two(svc, project):
    data = b'\xef\xbb\xbf\n{"text": "Ada", "spans": [[0, 3, "FOO"]]}\n'

    with pytest.raises(FormatError, match=r"^a\.jsonl, line 2: unknown label 'FOO'"):
        svc.import_file(project.id, "a.jsonl", data)


def test_unknown_split_is_refused_by_the_preview_naming_file_and_line(svc):
    data = b'{"text": "Ada"}\n{"text": "Bob", "split": "holdout"}\n'

    with pytest.raises(FormatError, match=r"^s\.jsonl, line 2: \"split\" must be one of train, dev, test, got 'holdout'"):
        svc.preview_file("s.jsonl", data)


def test_unknown_split_is_refused_by_the_import_naming_file_and_line(svc, project):
    with pytest.raises(FormatError, match=r"^s\.jsonl, line 1: \"split\""):
        svc.import_file(project.id, "s.jsonl", b'{"text": "Bob", "split": "holdout"}\n')
    assert svc.queue_progress(project.id).total == 0


REPAIRED = b"Alice B-PER\nwent O\nto O\nParis I-LOC\n\nBob B-PER\n"


def test_upload_preview_lists_the_repaired_sequences_as_the_cli_does(svc):
    preview = svc.preview_upload("t.conll", REPAIRED, "IOB2", limit=1)

    assert preview.warnings == ("t.conll: 1 tag sequence was repaired as conlleval does: line 4: "
                                "tag 'I-LOC' follows 'O' in IOB2 (a strict reading refuses it)",)
    assert (len(preview.examples), preview.total) == (1, 2)


def test_import_reads_invalid_sequences_as_conlleval_does(svc, project):
    assert svc.import_file(project.id, "t.conll", REPAIRED, "IOB2").added == 2


def test_conll_content_in_a_txt_upload_becomes_labelled_sentences(svc, project):
    data = b"# id 1\tdomain=en\nPeter _ _ B-PER\nlives _ _ O\n\n# id 2\tdomain=en\nBerlin _ _ B-LOC\n"

    assert svc.import_file(project.id, "people.txt", data).added == 2
    frame = svc.documents_frame(project.id)
    assert sorted(frame["text"]) == ["Berlin", "Peter lives"] and set(frame["status"]) == {"corrected"}


def test_data_page_shows_the_repaired_sequences_as_a_warning(tmp_path, monkeypatch):
    import streamlit as st

    from tests.apptest import page, unmd

    monkeypatch.setenv("SEQLAB_DB_URL", f"sqlite:///{tmp_path / 'app.db'}")
    st.cache_resource.clear()
    try:
        at = page("data")
        at.file_uploader(key="upload").set_value(("t.conll", REPAIRED, "text/plain")).run()
        assert not at.exception
        assert [unmd(w.value) for w in at.warning] == [
            "t.conll: 1 tag sequence was repaired as conlleval does: line 4: tag 'I-LOC' "
            "follows 'O' in IOB2 (a strict reading refuses it)"]
        assert len(at.dataframe[0].value) == 2
    finally:
        st.cache_resource.clear()


def test_data_page_shows_an_error_for_odd_json(tmp_path, monkeypatch):
    import streamlit as st

    from tests.apptest import page, unmd

    monkeypatch.setenv("SEQLAB_DB_URL", f"sqlite:///{tmp_path / 'app.db'}")
    st.cache_resource.clear()
    try:
        at = page("data")
        data = b'{"text": "Ada", "n": ' + b"1" * 5000 + b"}\n"
        at.file_uploader(key="upload").set_value(("big.jsonl", data, "application/json")).run()
        assert not at.exception
        assert unmd(at.error[0].value).startswith("big.jsonl, line 1: a number has more than")
    finally:
        st.cache_resource.clear()


def test_a_bom_before_a_jsonl_record_of_a_joined_file_is_removed_with_a_warning():
    # two files, each saved with a BOM, joined with cat
    reading = read(b'\xef\xbb\xbf{"text": "Ada"}\n\xef\xbb\xbf{"text": "Paris"}\n', name="cat.jsonl")

    assert [e.text for e in reading.examples] == ["Ada", "Paris"]
    assert [str(w) for w in reading.warnings] == [
        "cat.jsonl: 1 line began with a byte-order mark (U+FEFF, left by joining files), removed: line 2"]


def test_column_and_text_files_keep_a_u_feff_that_starts_a_later_line():
    assert [e.text for e in read_text("Ada\n\ufeffParis\n")] == ["Ada", "\ufeffParis"]
    assert [e.text for e in read_column("Ada B-PER\n\n\ufeffParis B-LOC\n")] == ["Ada", "\ufeffParis"]


def test_old_mac_line_ends_in_a_column_file_are_an_error_not_one_junk_sentence():
    with pytest.raises(FormatError, match=r"^mac\.conll, line 1: a carriage return \(CR\) inside the line"):
        read_column(b"Peter B-PER\rlives O\r", name="mac.conll")


def test_cr_cr_lf_line_ends_of_a_file_converted_twice_are_line_ends():
    [example] = read_column(b"Peter B-PER\r\r\nlives O\r\r\n", name="twice.conll")
    assert example.text == "Peter lives" and example.spans[0].label == "PER"


# ------------------------------------------------------------------ the base-model field (item 9)


@pytest.mark.parametrize("folder", ["/etc", "/usr"])
def test_base_model_field_says_a_server_folder_is_not_a_model_folder(svc, project, folder):
    from tagger.store import CheckpointError

    with pytest.raises(CheckpointError, match=f"^{folder} is not a model folder"):
        svc.update_project(project.id, base_model=folder)
    assert svc.project(project.id).base_model == "default"
