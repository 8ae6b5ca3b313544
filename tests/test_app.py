"""The Streamlit app through AppTest: first start, the Data page's import, table and export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import ui
from services import EXAMPLE_TEXTS, Services
from tests.apptest import unmd

CONLL = b"Alice B-PER\nwent O\nto O\nParis B-LOC\n. O\n\nBob B-PER\nSmith I-PER\nworks O\n"
SCRIPT = "<script>alert(1)</script>"
TIMEOUT = 30
ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
DATA_PAGE = str(ROOT / "pages" / "data.py")


@pytest.fixture()
def db_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("SEQLAB_DB_URL", url)
    st.cache_resource.clear()
    yield url
    st.cache_resource.clear()


def data_page() -> AppTest:
    return AppTest.from_file(DATA_PAGE, default_timeout=TIMEOUT).run()


def markdown_sources(at: AppTest) -> list[str]:
    """The markdown the page sent (what Streamlit renders)."""
    return [e.value for kind in (at.markdown, at.caption, at.error, at.success, at.warning) for e in kind]


def markdown_texts(at: AppTest) -> list[str]:
    """That markdown as a person reads it."""
    return [unmd(t) for t in markdown_sources(at)]


RAW_TAG = re.compile(r"(?<!\\)<")  # a "<" that markdown could read as the start of HTML


def test_app_starts_on_an_empty_data_folder_with_the_default_project(db_url):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.selectbox(key="project_picker").options == ["English NER"]
    assert at.title[0].value == "Tag"


def test_data_page_shows_import_documents_and_export(db_url):
    at = data_page()
    assert not at.exception
    assert at.file_uploader(key="upload") is not None
    assert at.selectbox(key="import_scheme").options[0] == "Detect"
    assert len(at.dataframe) == 1
    assert len(at.dataframe[0].value) == len(EXAMPLE_TEXTS)
    assert at.download_button(key="export_jsonl") is not None
    assert at.download_button(key="export_column") is not None
    assert at.radio(key="export_scheme").options == ["BIO", "BIOES"]


def test_uploaded_file_is_previewed_then_imported_into_the_table(db_url):
    at = data_page()
    at.file_uploader(key="upload").set_value(("people.conll", CONLL, "text/plain")).run()
    assert not at.exception
    preview = at.dataframe[0].value
    assert list(preview["text"]) == ["Alice went to Paris .", "Bob Smith works"]
    assert preview["spans"][0] == "Alice [PER], Paris [LOC]"
    at.button(key="import_button").click().run()
    assert not at.exception
    assert at.success[0].value == "Imported 2 documents (0 duplicates skipped)"
    table = at.dataframe[-1].value
    assert "Alice went to Paris ." in set(table["text"])
    assert len(table) == len(EXAMPLE_TEXTS) + 2


def test_reimport_counts_duplicates(db_url):
    at = data_page()
    at.file_uploader(key="upload").set_value(("people.conll", CONLL, "text/plain")).run()
    at.button(key="import_button").click().run()
    at.button(key="import_button").click().run()
    assert at.success[0].value == "Imported 0 documents (2 duplicates skipped)"


def test_documents_imported_through_services_show_after_rerun(db_url):
    at = data_page()
    svc = Services(db_url)
    project = svc.ensure_default_project()
    svc.import_file(project.id, "people.conll", CONLL)
    svc.close()
    at.run()
    assert "Bob Smith works" in set(at.dataframe[0].value["text"])


def test_status_filter_narrows_the_table(db_url):
    at = data_page()
    at.selectbox(key="filter_status").select("corrected").run()
    assert not at.exception
    assert len(at.dataframe[0].value) == 0


def test_malformed_file_is_an_error_naming_file_and_line(db_url):
    at = data_page()
    bad = b"Alice B-PER\nwent O\nto\n"
    at.file_uploader(key="upload").set_value(("bad.conll", bad, "text/plain"))
    at.selectbox(key="import_scheme").select("IOB2").run()
    assert not at.exception
    assert at.error, "a bad file must show st.error"
    assert "bad.conll" in unmd(at.error[0].value) and "line 3" in at.error[0].value


def test_unknown_label_is_rejected_and_nothing_stored(db_url):
    at = data_page()
    record = json.dumps({"text": "Alice sings", "spans": [{"start": 0, "end": 5, "label": "SINGER"}]})
    at.file_uploader(key="upload").set_value(("x.jsonl", record.encode(), "application/json")).run()
    at.checkbox(key="import_add_labels").uncheck().run()  # offered by default; refused here
    at.button(key="import_button").click().run()
    assert not at.exception
    assert "SINGER" in at.error[0].value
    assert len(at.dataframe[-1].value) == len(EXAMPLE_TEXTS)


def test_md_makes_markdown_syntax_literal():
    shown = ui.md("[x](https://evil.example) *bold* <b>")
    assert unmd(shown) == "[x](https://evil.example) *bold* <b>"  # shown as typed, no entity
    assert "](" not in shown and r"\*bold\*" in shown and not RAW_TAG.search(shown)


def test_escape_leaves_no_raw_angle_brackets():
    escaped = ui.escape("<img src=x onerror=alert(1)>")
    assert "<" not in escaped and ">" not in escaped
    assert ui.escape('"a" & \'b\'') == "&quot;a&quot; &amp; &#x27;b&#x27;"


def test_project_name_is_escaped_on_the_page(db_url):
    # the store refuses < and > in names, so the name shows the other escaped characters
    svc = Services(db_url)
    svc.ensure_default_project()
    odd = svc.create_project('Tom & "Jerry"', ["PER"])
    svc.close()
    at = AppTest.from_file(DATA_PAGE, default_timeout=TIMEOUT)
    at.session_state["project_id"] = odd.id
    at.run()
    assert not at.exception
    assert at.selectbox(key="project_picker").value == odd.id
    assert any('Tom & "Jerry"' in t for t in markdown_texts(at))
    assert not any("&amp;" in t or "&quot;" in t for t in markdown_texts(at))


def test_file_name_and_text_with_html_are_escaped(db_url):
    at = data_page()
    name = "<img src=x onerror=alert(1)>.jsonl"
    record = json.dumps({"text": f"{SCRIPT} Alice", "spans": []})
    at.file_uploader(key="upload").set_value((name, record.encode(), "application/json")).run()
    at.button(key="import_button").click().run()
    assert not at.exception
    assert not any(RAW_TAG.search(t) for t in markdown_sources(at))
    assert any("<img src=x onerror=alert(1)>.jsonl" in t for t in markdown_texts(at))
    # tables are not HTML: the text is stored and shown verbatim
    assert any(t.startswith(SCRIPT) for t in at.dataframe[-1].value["text"])


def test_one_document_is_counted_in_the_singular(db_url):
    at = data_page()
    one = b"Alice B-PER\nwent O\n\n"
    at.file_uploader(key="upload").set_value(("one.conll", one, "text/plain")).run()
    assert "of 1 document" in at.caption[0].value and "1 documents" not in at.caption[0].value
    at.button(key="import_button").click().run()
    assert at.success[0].value == "Imported 1 document (0 duplicates skipped)"
    at.button(key="import_button").click().run()
    assert at.success[0].value == "Imported 0 documents (1 duplicate skipped)"


def test_counted():
    from ui.text import counted

    assert [counted(n, "document") for n in (0, 1, 2)] == ["0 documents", "1 document", "2 documents"]
    assert counted(1, "entry", "entries") == "1 entry" and counted(3, "entry", "entries") == "3 entries"
