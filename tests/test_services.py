"""Services on a real SQLite file: first start, tagging, the correction queue, import and export."""

from __future__ import annotations

import json

import pytest

import services
from db import repo
from tagger.formats import FormatError
from tagger.spans import SeqLabError, Span, TextError

SENTENCE = "Alice went to Paris ."
ALICE = Span(0, len("Alice"), "PER")
PARIS = Span(len("Alice went to "), len("Alice went to Paris"), "LOC")
CONLL = b"Alice B-PER\nwent O\nto O\nParis B-LOC\n. O\n\nBob B-PER\nSmith I-PER\nworks O\n"


@pytest.fixture()
def project(svc):
    return svc.create_project("Test NER", ["PER", "ORG", "LOC"])


@pytest.fixture(scope="module")
def tagger(trained_dir):
    from tagger.predict import Tagger

    return Tagger.load(trained_dir)


def keys(spans):
    return [s.key() for s in spans]


def texts_and_spans(svc, project_id):
    with svc.factory() as s:
        return [(d.text, keys(d.spans)) for d in repo.list_documents(s, project_id)]


# ---------------------------------------------------------------------- first start


def test_first_start_creates_one_default_project_with_example_documents(svc):
    project = svc.ensure_default_project()
    assert project.name == "English NER"
    assert project.label_names == ["PER", "ORG", "LOC", "MISC"]
    assert project.base_model == "default"
    assert [p.name for p in svc.projects()] == ["English NER"]
    frame = svc.documents_frame(project.id)
    assert len(frame) == len(services.EXAMPLE_TEXTS)
    assert set(frame["status"]) == {"new"}


def test_first_start_is_idempotent(svc):
    first = svc.ensure_default_project()
    again = svc.ensure_default_project()
    assert again == first
    assert len(svc.projects()) == 1
    assert svc.queue_progress(first.id).total == len(services.EXAMPLE_TEXTS)


def test_project_by_name_or_id(svc, project):
    assert svc.project("Test NER") == project
    assert svc.project(project.id) == project
    with pytest.raises(SeqLabError, match="no project"):
        svc.project("Nope")


# ---------------------------------------------------------------------- tagging


def test_tag_text_finds_alice_and_paris(svc, tagger):
    spans = svc.tag_text(tagger, SENTENCE)
    assert keys(spans) == [ALICE.key(), PARIS.key()]
    assert all(0 < s.score <= 1 for s in spans)


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("  \n\t ", "empty or only whitespace"),
    ("Alice\x00Paris", "NUL"),
    ("Alice \ud800 Paris", "lone surrogate"),
    ("a" * 101, "limit is 100"),
])
def test_tag_text_refuses_bad_text_with_a_clear_message(svc, text, message):
    with pytest.raises(TextError, match=message):
        svc.tag_text(None, text, max_chars=100)


def test_tag_text_without_a_model_says_so(svc):
    with pytest.raises(services.NoModel, match="no trained model"):
        svc.tag_text(None, SENTENCE)


# ---------------------------------------------------------------------- correcting


def test_save_for_correction_then_correct_keeps_both_in_history(svc, project, tagger):
    suggested = svc.tag_text(tagger, SENTENCE)
    doc = svc.save_for_correction(project.id, SENTENCE, suggested)
    assert (doc.text, doc.status, set(doc.sources)) == (SENTENCE, "predicted", {"model"})
    assert svc.next_document(project.id) == doc
    corrected = svc.save_correction(doc.id, [ALICE], annotator="ann")
    assert (keys(corrected.spans), corrected.status, corrected.sources) == ([ALICE.key()], "corrected", ("human",))
    log = svc.history(doc.id)
    assert [h.source for h in log] == ["model", "human"]
    assert keys(log[1].before) == keys(suggested) and keys(log[1].after) == [ALICE.key()]
    assert svc.next_document(project.id) is None
    assert (svc.queue_progress(project.id).done, svc.queue_progress(project.id).total) == (1, 1)


def test_saving_the_same_text_twice_returns_the_stored_document(svc, project):
    first = svc.save_for_correction(project.id, SENTENCE, [ALICE])
    second = svc.save_for_correction(project.id, SENTENCE, [PARIS])
    assert second.id == first.id and keys(second.spans) == [ALICE.key()]
    assert svc.queue_progress(project.id).total == 1


def test_save_for_correction_keeps_the_exact_text_and_needs_no_spans(svc, project):
    text = "  Alice\twent to  Paris .\n"
    doc = svc.save_for_correction(project.id, text)
    assert (doc.text, doc.status, doc.spans) == (text, "new", ())


def test_html_in_a_text_is_stored_verbatim(svc, project):
    text = "<img src=x onerror=alert(1)>"
    doc = svc.save_for_correction(project.id, text)
    assert svc.document(doc.id).text == text
    assert svc.documents_frame(project.id)["text"].tolist() == [text]


def test_a_correction_with_an_unknown_label_is_refused_and_nothing_changes(svc, project):
    doc = svc.save_for_correction(project.id, SENTENCE, [ALICE])
    with pytest.raises(SeqLabError, match="unknown label 'MISC'"):
        svc.save_correction(doc.id, [Span(0, 5, "MISC")], annotator="ann")
    assert svc.document(doc.id) == doc


# ---------------------------------------------------------------------- import


def test_import_conll_file(svc, project):
    result = svc.import_file(project.id, "train.conll", CONLL)
    assert (result.added, result.duplicates) == (2, 0)
    assert texts_and_spans(svc, project.id) == [
        (SENTENCE, [ALICE.key(), PARIS.key()]),
        ("Bob Smith works", [(0, len("Bob Smith"), "PER")]),
    ]


def test_every_sentence_of_a_column_file_is_a_correction_even_without_entities(svc, project):
    svc.import_file(project.id, "train.conll", CONLL + b"\nNothing O\nhere O\n")
    frame = svc.documents_frame(project.id)
    assert set(frame["status"]) == {"corrected"} and len(frame) == 3
    assert svc.training_documents(project.id).train or svc.training_documents(project.id).dev


def test_jsonl_records_and_text_lines_without_spans_wait_for_annotation(svc, project):
    svc.import_file(project.id, "a.jsonl", b'{"text": "Alice sings", "spans": []}\n')
    svc.import_file(project.id, "b.txt", b"Bob dances\n")
    assert set(svc.documents_frame(project.id)["status"]) == {"new"}


def test_import_jsonl_file_counts_duplicates(svc, project):
    records = [{"text": SENTENCE, "spans": [ALICE.to_dict()]}, {"text": "Nothing here ."},
               {"text": SENTENCE, "label": [[0, 5, "PER"]]}]
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    result = svc.import_file(project.id, "data.jsonl", data)
    assert (result.added, result.duplicates) == (2, 1)
    again = svc.import_file(project.id, "data.jsonl", data)
    assert (again.added, again.duplicates) == (0, 3)


def test_import_plain_text_file_one_document_per_line(svc, project):
    result = svc.import_file(project.id, "notes.txt", b"First line .\n\nSecond line .\n")
    assert result.added == 2
    assert svc.queue_progress(project.id).total == 2


@pytest.mark.parametrize("filename, data, message", [
    ("bad.conll", b"Alice B-PER\nwent\nto O\n", r"bad\.conll, line 2: expected 'token tag'"),
    ("bad.conll", b"Alice B-PER\nwent O\nParis \xff-LOC\n", r"bad\.conll, line 3: not valid UTF-8"),
    ("bad.jsonl", b'{"text": "ok"}\n{"text": "a\\u0000b"}\n', r"bad\.jsonl, line 2: .*NUL"),
    ("bad.txt", b"fine\nnot\x00fine\n", r"bad\.txt, line 2: NUL"),
    ("bad.jsonl", b'{"text": "ok"}\n\n{"text": "Bob", "spans": [{"start": 0, "end": 3, "label": "XYZ"}]}\n',
     r"bad\.jsonl, line 3: unknown label 'XYZ'"),
    ("bad.conll", b"Alice B-PER\n\nBob B-MISC\n", r"bad\.conll, line 3: unknown label 'MISC'"),
])
def test_a_bad_file_stores_nothing_and_names_the_line(svc, project, filename, data, message):
    with pytest.raises(FormatError, match=message):
        svc.import_file(project.id, filename, data)
    assert svc.queue_progress(project.id).total == 0


def test_an_upload_over_the_size_limit_is_refused(svc, project, monkeypatch):
    monkeypatch.setattr(services.core, "MAX_UPLOAD_BYTES", len(CONLL) - 1)
    with pytest.raises(FormatError, match=r"train\.conll: .*uploads are limited to"):
        svc.import_file(project.id, "train.conll", CONLL)
    with pytest.raises(FormatError, match="limited"):
        svc.preview_file("train.conll", CONLL)
    assert svc.queue_progress(project.id).total == 0


def test_an_empty_file_is_refused(svc, project):
    with pytest.raises(FormatError, match=r"empty\.txt: no documents"):
        svc.import_file(project.id, "empty.txt", b"\n  \n")


def test_the_format_is_guessed_from_the_content_when_the_name_says_nothing(svc, project):
    assert svc.import_file(project.id, "upload", CONLL).added == 2
    assert texts_and_spans(svc, project.id)[0] == (SENTENCE, [ALICE.key(), PARIS.key()])


def test_preview_parses_without_storing(svc, project):
    examples = svc.preview_file("C:\\Users\\me\\train.conll", CONLL, limit=1)
    assert [(ex.text, keys(ex.spans)) for ex in examples] == [(SENTENCE, [ALICE.key(), PARIS.key()])]
    assert examples[0].meta["source"] == "train.conll"
    assert svc.queue_progress(project.id).total == 0


# ---------------------------------------------------------------------- export


def test_export_jsonl_then_import_into_a_new_project_reproduces_texts_spans_and_splits(svc, project):
    svc.import_file(project.id, "train.conll", CONLL)
    for text in ["  Odd  spacing\tand a tab  ", "Ünïcödé café in Zürich 🙂 .", "<b>Acme</b> & co", "line one\nline two"]:
        svc.save_for_correction(project.id, text)
    doc = svc.save_for_correction(project.id, "Zürich 🙂 hosts Acme Corp .", [Span(0, 6, "LOC")])
    svc.save_correction(doc.id, [Span(0, 6, "LOC"), Span(len("Zürich 🙂 hosts "), len("Zürich 🙂 hosts Acme Corp"), "ORG")],
                        annotator="ann")
    exported = svc.export_jsonl(project.id)
    copy = svc.create_project("Copy", ["PER", "ORG", "LOC"])
    result = svc.import_file(copy.id, "export.jsonl", exported.encode("utf-8"))
    assert (result.added, result.duplicates) == (7, 0)
    assert texts_and_spans(svc, copy.id) == texts_and_spans(svc, project.id)
    splits = lambda pid: svc.documents_frame(pid)["split"].tolist()
    assert splits(copy.id) == splits(project.id)
    assert svc.export_jsonl(copy.id) == exported


@pytest.mark.parametrize("scheme", ["BIO", "BIOES"])
def test_export_column_then_import_reproduces_simple_texts(svc, project, scheme):
    svc.import_file(project.id, "train.conll", CONLL)
    svc.save_for_correction(project.id, "Carol Smith works at Acme Corp in New York .",
                            [Span(0, 11, "PER"), Span(21, 30, "ORG"), Span(34, 42, "LOC")])
    exported = svc.export_column(project.id, scheme)
    if scheme == "BIOES":
        assert "S-PER" in exported and "E-LOC" in exported
    copy = svc.create_project("Copy", ["PER", "ORG", "LOC"])
    assert svc.import_file(copy.id, f"export.{scheme.lower()}", exported.encode()).added == 3
    assert texts_and_spans(svc, copy.id) == texts_and_spans(svc, project.id)


def test_export_of_an_unknown_project_is_an_error(svc):
    with pytest.raises(SeqLabError, match="no project 99"):
        svc.export_jsonl(99)


# ---------------------------------------------------------------------- tables


def test_documents_frame_columns_and_filters(svc, project):
    svc.save_for_correction(project.id, "x" * 200)
    doc = svc.save_for_correction(project.id, SENTENCE, [ALICE])
    svc.save_correction(doc.id, [ALICE, PARIS], annotator="ann")
    frame = svc.documents_frame(project.id)
    assert list(frame.columns) == ["id", "text", "split", "status", "spans", "updated"]
    assert len(frame.loc[0, "text"]) == 80
    assert frame["spans"].tolist() == [0, 2]
    corrected = svc.documents_frame(project.id, status="corrected")
    assert corrected["id"].tolist() == [doc.id]
    assert svc.documents_frame(project.id, status="reviewed").empty
