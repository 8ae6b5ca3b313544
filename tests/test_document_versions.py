"""Optimistic saves and drafts: a page saves the document it shows, never over a newer version,
and what a person entered but did not accept is kept (issue 10, item 1)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from db.session import make_engine
from services import Services, Span, StaleDocument

TEXT = "Alice met Bob in Paris."
ALICE, BOB, PARIS = Span(0, 5, "PER"), Span(10, 13, "PER"), Span(17, 22, "LOC")


@pytest.fixture()
def doc(svc):
    project = svc.create_project("NER", ["PER", "LOC"])
    return svc.save_for_correction(project.id, TEXT)


def keys(spans):
    return [(s.start, s.end, s.label) for s in spans]


def test_every_change_of_the_spans_moves_the_version_on(svc, doc):
    first = svc.save_correction(doc.id, [ALICE], annotator="a", expected_version=doc.version)
    second = svc.save_correction(doc.id, [ALICE, BOB], annotator="a", expected_version=first.version)
    assert doc.version < first.version < second.version
    assert svc.document(doc.id).version == second.version


def test_a_save_from_an_older_version_is_refused_and_writes_nothing(svc, doc):
    # two tabs opened the same version; tab A saves first
    svc.save_correction(doc.id, [ALICE], annotator="tab-a", expected_version=doc.version)
    with pytest.raises(StaleDocument, match=r"document #\d+ was changed by 'tab-a'.*not saved"):
        svc.save_correction(doc.id, [BOB], annotator="tab-b", expected_version=doc.version)
    stored = svc.document(doc.id)
    assert keys(stored.spans) == keys([ALICE])
    assert [h.annotator for h in svc.history(doc.id)] == ["tab-a"]


def test_a_save_without_an_expected_version_still_works(svc, doc):
    saved = svc.save_correction(doc.id, [PARIS], annotator="script")
    assert keys(saved.spans) == keys([PARIS]) and saved.status == "corrected"


def test_renaming_a_label_makes_open_copies_stale(svc, doc):
    svc.save_correction(doc.id, [ALICE], annotator="a")
    shown = svc.document(doc.id)
    svc.rename_label(shown.project_id, "PER", "PERSON")
    with pytest.raises(StaleDocument):
        svc.save_correction(doc.id, [Span(0, 5, "PERSON")], annotator="a", expected_version=shown.version)


def test_two_savers_at_once_from_the_same_version_one_wins(tmp_path, doc, svc):
    url = str(svc.engine.url)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def save(name: str, spans: list[Span]) -> None:
        other = Services(url)
        try:
            barrier.wait()
            other.save_correction(doc.id, spans, annotator=name, expected_version=doc.version)
            outcomes.append("saved")
        except StaleDocument:
            outcomes.append("refused")
        finally:
            other.close()

    threads = [threading.Thread(target=save, args=("a", [ALICE])), threading.Thread(target=save, args=("b", [BOB]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "saved"]
    assert len(svc.history(doc.id)) == 1


def test_a_draft_is_kept_per_annotator_replaced_and_gone_after_accept(svc, doc):
    assert svc.draft(doc.id, "ann") is None
    svc.save_draft(doc.id, "ann", [ALICE], base_version=doc.version)
    svc.save_draft(doc.id, "ann", [ALICE, PARIS], base_version=doc.version)
    svc.save_draft(doc.id, "other", [BOB], base_version=doc.version)
    draft = svc.draft(doc.id, "ann")
    assert keys(draft.spans) == keys([ALICE, PARIS]) and draft.base_version == doc.version
    assert svc.document(doc.id).status == doc.status  # a draft is not a correction
    svc.save_correction(doc.id, draft.spans, annotator="ann", expected_version=draft.base_version)
    assert svc.draft(doc.id, "ann") is None
    assert keys(svc.draft(doc.id, "other").spans) == keys([BOB])


def test_a_refused_save_leaves_the_draft_in_place(svc, doc):
    svc.save_draft(doc.id, "tab-b", [BOB], base_version=doc.version)
    svc.save_correction(doc.id, [ALICE], annotator="tab-a", expected_version=doc.version)
    with pytest.raises(StaleDocument):
        svc.save_correction(doc.id, [BOB], annotator="tab-b", expected_version=doc.version)
    assert keys(svc.draft(doc.id, "tab-b").spans) == keys([BOB])


def test_a_draft_is_checked_like_a_save(svc, doc):
    from tagger.spans import SeqLabError

    with pytest.raises(SeqLabError, match="overlap"):
        svc.save_draft(doc.id, "ann", [Span(0, 5, "PER"), Span(3, 9, "PER")], base_version=doc.version)
    with pytest.raises(SeqLabError, match="unknown label"):
        svc.save_draft(doc.id, "ann", [Span(0, 5, "ORG")], base_version=doc.version)
    assert svc.draft(doc.id, "ann") is None


def test_a_version_1_database_gets_the_version_column(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    svc = Services(url)
    project = svc.create_project("NER", ["PER"])
    svc.save_for_correction(project.id, TEXT)
    svc.close()
    engine = make_engine(url)
    with engine.begin() as conn:  # make it look like a database written by schema 1
        conn.execute(text("ALTER TABLE documents DROP COLUMN version"))
        conn.execute(text("DROP TABLE drafts"))
        conn.execute(text("UPDATE schema_info SET version = 1"))
    engine.dispose()
    svc = Services(url)
    try:
        doc = svc.next_document(project.id)
        assert doc.version == 1
        saved = svc.save_correction(doc.id, [ALICE], annotator="a", expected_version=1)
        assert saved.version == 2
        svc.save_draft(doc.id, "a", [ALICE], base_version=2)
    finally:
        svc.close()
