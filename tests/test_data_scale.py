"""The Data page at scale (issue 10, item 4): the document table paged and counted in the
database, exports built on demand from batches, bulk imports that keep add_documents' rules,
the queue and the Train page's summary from indexed queries. Correctness only: the timings are
in bench/data_page.py."""

from __future__ import annotations

import io

import pytest
import streamlit as st
from sqlalchemy import inspect, text
from streamlit.testing.v1 import AppTest
from tests.apptest import PAGES, TIMEOUT
from tests.conftest import make_corpus

import services.core
from db import repo
from db.models import SCHEMA_VERSION
from db.session import make_engine, write_session
from db.training_data import training_data, training_summary
from services import EXAMPLE_TEXTS, Services
from tagger import formats
from tagger.spans import Example, SeqLabError, Span

LABELS = ["PER", "ORG", "LOC"]
INDEXES = {"ix_documents_project_status", "ix_documents_project_split", "ix_documents_project_status_split"}


@pytest.fixture()
def project(svc):
    """30 documents: labelled ones (corrected) and plain ones (new), in every split, one text over 80 characters."""
    project = svc.create_project("Scale", LABELS)
    corpus = make_corpus(40, seed=11)
    labelled = list({e.text: e for e in corpus}.values())[:20]
    plain = [Example(f"plain text number {i} " + "word " * (i * 3)) for i in range(10)]
    with write_session(svc.factory) as s:
        repo.add_documents(s, project.id, labelled[:12])
        repo.add_documents(s, project.id, plain, split="dev")
        repo.add_documents(s, project.id, labelled[12:], split="test")
    return project


def documents(svc, project_id, **filters) -> list[repo.DocumentInfo]:
    with svc.factory() as s:
        return repo.list_documents(s, project_id, **filters)


# ---------------------------------------------------------------------- the paged table


@pytest.mark.parametrize("filters", [{}, {"status": "corrected"}, {"status": "new"}, {"split": "dev"},
                                     {"status": "corrected", "split": "test"}, {"status": "reviewed"}])
def test_pages_hold_the_filtered_documents_in_order_each_once(svc, project, filters):
    expected = [d.id for d in documents(svc, project.id, **filters)]
    first = svc.documents_page(project.id, page=1, page_size=7, **filters)
    assert first.total == len(expected)
    assert first.pages == max(1, -(-len(expected) // 7))
    seen = []
    for number in range(1, first.pages + 1):
        page = svc.documents_page(project.id, page=number, page_size=7, **filters)
        assert page.page == number and len(page.frame) <= 7
        seen += page.frame["id"].tolist()
    assert seen == expected


def test_a_page_shows_what_the_whole_table_shows_for_those_rows(svc, project):
    whole = svc.documents_frame(project.id)
    page = svc.documents_page(project.id, page=2, page_size=10)
    assert list(page.frame.columns) == ["id", "text", "split", "status", "spans", "updated"]
    assert page.frame.to_dict("records") == whole.iloc[10:20].to_dict("records")


def test_table_rows_carry_the_start_of_the_text_and_the_span_count(svc, project):
    docs = {d.id: d for d in documents(svc, project.id)}
    frame = svc.documents_frame(project.id)
    for row in frame.to_dict("records"):
        doc = docs[row["id"]]
        assert row["spans"] == len(doc.spans)
        assert (row["split"], row["status"]) == (doc.split, doc.status)
        short = doc.text if len(doc.text) <= 80 else doc.text[:79] + "…"
        assert row["text"] == short
    assert any(t.endswith("…") and len(t) == 80 for t in frame["text"])


def test_a_page_past_the_end_shows_the_last_one_and_an_empty_filter_shows_page_one_of_one(svc, project):
    total = len(documents(svc, project.id))
    last = svc.documents_page(project.id, page=10_000, page_size=8)
    assert (last.page, last.pages, last.total) == (-(-total // 8), -(-total // 8), total)
    assert len(last.frame) == total - 8 * (last.pages - 1)
    assert svc.documents_page(project.id, page=0, page_size=8).page == 1
    empty = svc.documents_page(project.id, status="reviewed")
    assert (empty.page, empty.pages, empty.total, len(empty.frame)) == (1, 1, 0, 0)


def test_counts_match_the_documents_for_every_filter(svc, project):
    with svc.factory() as s:
        for status in (None, "new", "corrected", "reviewed"):
            for split in (None, "train", "dev", "test"):
                expected = len(repo.list_documents(s, project.id, status=status, split=split))
                assert repo.count_matching(s, project.id, status=status, split=split) == expected


# ---------------------------------------------------------------------- exports on demand


def _export_at_once(svc, project_id, with_split: bool, scheme: str | None = None) -> str:
    """The export as it was built before it was read in batches: every document in one list."""
    examples = [Example(d.text, d.spans, {**d.meta, "split": d.split} if with_split else dict(d.meta))
                for d in documents(svc, project_id)]
    out = io.StringIO()
    if scheme is None:
        formats.write_jsonl(examples, out)
    else:
        formats.write_column(examples, out, scheme)
    return out.getvalue()


def test_exports_read_in_batches_equal_the_export_built_at_once_byte_for_byte(svc, project, monkeypatch):
    monkeypatch.setattr(services.core, "EXPORT_BATCH", 4)  # 30 documents: eight batches, the last one short
    assert svc.export_jsonl(project.id) == _export_at_once(svc, project.id, with_split=True)
    for scheme in ("BIO", "BIOES"):
        assert svc.export_column(project.id, scheme) == _export_at_once(svc, project.id, False, scheme)


def test_iter_documents_reads_every_document_once_in_order(svc, project):
    with svc.factory() as s:
        assert [d.id for d in repo.iter_documents(s, project.id, batch=3)] == [d.id for d in repo.list_documents(
            s, project.id)]


def test_export_then_import_reproduces_the_project_when_read_in_batches(svc, project, monkeypatch):
    monkeypatch.setattr(services.core, "EXPORT_BATCH", 7)
    exported = svc.export_jsonl(project.id)
    copy = svc.create_project("Scale copy", LABELS)
    result = svc.import_file(copy.id, "scale.jsonl", exported.encode())
    assert (result.added, result.duplicates) == (len(documents(svc, project.id)), 0)
    assert svc.export_jsonl(copy.id) == exported


# ---------------------------------------------------------------------- bulk import


def _thousand(bad_at: int | None = None, bad: Example | None = None) -> list[Example]:
    examples = [Example(f"Alice number {i} went to Paris .", (Span(0, 5, "PER"),)) for i in range(1000)]
    if bad_at is not None:
        examples[bad_at - 1] = bad
    return examples


@pytest.mark.parametrize("bad", [
    Example("Bob went home .", (Span(0, 3, "SINGER"),)),  # unknown label
    Example("Bob went home .", (Span(4, 40, "PER"),)),  # past the end
    Example("   "),  # only white space
    Example("Bob went home .", meta={"split": "holdout"}),  # not a split
], ids=["label", "offsets", "blank", "split"])
def test_one_bad_record_in_a_thousand_stores_nothing(svc, project, bad):
    before = len(documents(svc, project.id))
    with pytest.raises(SeqLabError):
        with write_session(svc.factory) as s:
            repo.add_documents(s, project.id, _thousand(731, bad))
    assert len(documents(svc, project.id)) == before


def test_a_bad_record_is_named_by_its_number(svc, project):
    with pytest.raises(SeqLabError, match="document 731"):
        with write_session(svc.factory) as s:
            repo.add_documents(s, project.id, _thousand(731, Example("Bob", (Span(0, 3, "SINGER"),))))


def test_duplicates_of_stored_texts_and_within_the_import_are_counted_across_batches(svc, project):
    stored = documents(svc, project.id)[0].text
    examples = [Example(f"line {i % 1200}") for i in range(2500)] + [Example(stored)]  # 1,200 distinct, new
    with write_session(svc.factory) as s:
        result = repo.add_documents(s, project.id, examples)
    assert (result.added, result.duplicates) == (1200, 1301)
    with write_session(svc.factory) as s:
        again = repo.add_documents(s, project.id, examples[:1500])
    assert (again.added, again.duplicates) == (0, 1500)


def test_bulk_import_keeps_splits_statuses_spans_and_history(svc, project):
    spans = (Span(0, len("Zed"), "PER"), Span(len("Zed went to "), len("Zed went to Oslo"), "LOC"))
    with write_session(svc.factory) as s:
        repo.add_documents(s, project.id, [Example("Zed went to Oslo .", spans, {"split": "dev", "line": 1}),
                                           Example("no entities here", meta={"source": "x.txt"})],
                           annotator="importer")
    with svc.factory() as s:
        labelled = repo.find_document(s, project.id, "Zed went to Oslo .")
        plain = repo.find_document(s, project.id, "no entities here")
        assert (labelled.split, labelled.status, labelled.spans, labelled.sources) == (
            "dev", "corrected", spans, ("import", "import"))
        assert labelled.meta == {"split": "dev", "line": 1}
        assert (plain.status, plain.spans, plain.split) == ("new", (), repo.stable_split(repo.content_hash(plain.text)))
        [entry] = repo.history(s, labelled.id)
        assert (entry.annotator, entry.source, entry.before, entry.after) == ("importer", "import", (), spans)
        assert repo.history(s, plain.id) == []
        assert (labelled.version, plain.version) == (2, 1)  # as if save_spans had stored the import's spans


# ---------------------------------------------------------------------- other pages' queries


def test_next_in_queue_is_the_oldest_new_or_predicted_document_after_the_given_one(svc):
    project = svc.create_project("Queue", LABELS)
    with write_session(svc.factory) as s:
        repo.add_documents(s, project.id, [Example("checked one", (Span(0, 7, "PER"),))])
        repo.add_documents(s, project.id, [Example("predicted one")], status="predicted")
        repo.add_documents(s, project.id, [Example("new one")])
        repo.add_documents(s, project.id, [Example("checked two", (Span(0, 7, "PER"),))])
        repo.add_documents(s, project.id, [Example("predicted two")], status="predicted")
    ids = {d.text: d.id for d in documents(svc, project.id)}
    order = []
    after = 0
    while (doc := svc.next_document(project.id, after_id=after)) is not None:
        order.append(doc.text)
        after = doc.id
    assert order == ["predicted one", "new one", "predicted two"]
    assert svc.next_document(project.id, after_id=ids["predicted two"]) is None


@pytest.mark.parametrize("with_dev", [True, False], ids=["dev split", "held out"])
def test_training_summary_counts_what_training_data_holds(svc, with_dev):
    project = svc.create_project("Summary", LABELS)
    corpus = make_corpus(80, seed=4)
    with write_session(svc.factory) as s:
        repo.add_documents(s, project.id, corpus[:50], split="train")
        repo.add_documents(s, project.id, [Example(e.text) for e in corpus[50:60]], split="train")  # unchecked
        repo.add_documents(s, project.id, [Example(e.text) for e in corpus[60:70]], split="dev")  # unchecked
        repo.add_documents(s, project.id, corpus[70:], split="dev" if with_dev else "test")
    with svc.factory() as s:
        data, summary = training_data(s, project.id), training_summary(s, project.id)
    assert data.dev_holdout is (not with_dev) and data.dev
    assert (summary.train_docs, summary.dev_docs, summary.train_spans, summary.dev_holdout) == (
        len(data.train), len(data.dev), data.train_spans, data.dev_holdout)


def test_migration_to_v3_adds_the_document_indexes(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    with engine.begin() as c:  # make it a schema-2 database, as SeqLab left it before
        for name in INDEXES:
            c.execute(text(f"DROP INDEX {name}"))
        c.execute(text("UPDATE schema_info SET version = 2"))
    engine.dispose()
    engine = make_engine(url)
    try:
        assert INDEXES <= {ix["name"] for ix in inspect(engine).get_indexes("documents")}
        with engine.connect() as c:
            assert c.execute(text("SELECT version FROM schema_info")).scalar() == SCHEMA_VERSION
    finally:
        engine.dispose()


# ---------------------------------------------------------------------- the page


@pytest.fixture()
def page_db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("SEQLAB_DB_URL", url)
    st.cache_resource.clear()
    service = Services(url)
    default = service.ensure_default_project()
    with write_session(service.factory) as s:
        repo.add_documents(s, default.id, [Example(f"document number {i}") for i in range(250)])
    yield service
    service.close()
    st.cache_resource.clear()


def test_data_page_shows_page_two_of_the_table(page_db):
    at = AppTest.from_file(str(PAGES / "data.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    total = len(EXAMPLE_TEXTS) + 250
    assert at.number_input(key="documents_page").max == -(-total // services.core.PAGE_SIZE)
    assert len(at.dataframe[-1].value) == services.core.PAGE_SIZE
    at.number_input(key="documents_page").set_value(2).run()
    assert not at.exception
    ids = at.dataframe[-1].value["id"].tolist()
    everything = page_db.documents_frame(page_db.ensure_default_project().id)["id"].tolist()
    assert ids == everything[100:200]
    assert f"Documents 101–200 of {total}" in [c.value for c in at.caption]


def test_a_filter_that_shrinks_the_table_moves_the_page_back_into_range(page_db):
    at = AppTest.from_file(str(PAGES / "data.py"), default_timeout=TIMEOUT).run()
    at.number_input(key="documents_page").set_value(3).run()
    at.selectbox(key="filter_split").select("dev").run()
    assert not at.exception
    dev = page_db.documents_frame(page_db.ensure_default_project().id, split="dev")["id"].tolist()
    assert at.number_input(key="documents_page").value == 1 and at.dataframe[-1].value["id"].tolist() == dev[:100]


def test_an_ordinary_run_of_the_data_page_builds_no_export(page_db, monkeypatch):
    built = []
    monkeypatch.setattr(Services, "export_jsonl", lambda self, *a, **k: built.append("jsonl") or "")
    monkeypatch.setattr(Services, "export_column", lambda self, *a, **k: built.append("column") or "")
    at = AppTest.from_file(str(PAGES / "data.py"), default_timeout=TIMEOUT).run()
    at.radio(key="export_scheme").set_value("BIOES").run()
    assert not at.exception
    assert at.download_button(key="export_jsonl") is not None and at.download_button(key="export_column") is not None
    assert built == []
