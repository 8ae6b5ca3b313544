"""The Review page through AppTest: a reviewer assigns, adjudicates two annotators' corrections
and reads the agreement; names with markdown are shown as text."""

from __future__ import annotations

import time

import pytest
import streamlit as st
from argon2 import PasswordHasher

import services.accounts as accounts
from services import Services
from tagger.spans import Span
from tests.apptest import page, shown
from tests.test_escaping import rendered
from ui.text import md
from ui.signin import ACTOR, CHECKED, SEEN

PASSWORD = "correct horse battery"
LINK_NAME = "[x](javascript:alert(1))"
BOLD_NAME = "**ben**"
TEXT = "Alice met Bob in Paris"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    monkeypatch.setattr(accounts, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture()
def team(tmp_path, monkeypatch):
    """Team mode: a project of six documents, a reviewer and two annotators with markdown names."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    for key, value in {"SEQLAB_DB_URL": url, "SEQLAB_HOME": str(tmp_path), "SEQLAB_WORKER": "off",
                       "SEQLAB_AUTH": "on"}.items():
        monkeypatch.setenv(key, value)
    st.cache_resource.clear()
    svc = Services(url)
    project = svc.create_project("Team NER", ["PER", "LOC"])
    for i in range(6):
        svc.save_for_correction(project.id, f"{TEXT} {i}")
    for name, role in (("rev", "reviewer"), (LINK_NAME, "annotator"), (BOLD_NAME, "annotator")):
        svc.add_account(name, role, PASSWORD)
        svc.add_member(project.id, name)
    yield svc, project
    svc.close()
    st.cache_resource.clear()


def as_person(svc, name: str, page_name: str, **state):
    now = time.monotonic()
    actor = svc.sign_in(name, PASSWORD)
    return page(page_name, **{ACTOR: actor, SEEN: now, CHECKED: now, **state})


def test_a_reviewer_assigns_with_overlap_from_the_page(team):
    svc, project = team
    at = as_person(svc, "rev", "review", project_id=project.id)
    assert not at.exception
    assert set(at.multiselect(key="review_annotators").value) == {LINK_NAME, BOLD_NAME}  # annotators, not rev
    at.slider(key="review_overlap").set_value(50).run()
    at.button(key="review_assign").click().run()
    assert not at.exception
    assigned = svc.assignments(project.id)
    assert len(assigned) == 6 and sum(len(v) == 2 for v in assigned.values()) == 3
    assert any("Assigned 6 documents (3 to two people)" in text for text in shown(at))


def test_a_reviewer_adopts_one_correction_and_reads_the_agreement(team):
    svc, project = team
    doc = svc.documents_frame(project.id)["id"].min()
    doc = svc.document(int(doc))
    svc.assign(doc.id, [LINK_NAME, BOLD_NAME])
    svc.submit_annotation(doc.id, [Span(0, 5, "PER"), Span(17, 22, "LOC")], annotator=LINK_NAME)
    svc.submit_annotation(doc.id, [Span(0, 5, "PER"), Span(17, 22, "PER")], annotator=BOLD_NAME)
    at = as_person(svc, "rev", "review", project_id=project.id)
    assert not at.exception
    texts = shown(at)
    assert f"**{LINK_NAME}** (2 spans)" in texts and f"**{BOLD_NAME}** (2 spans)" in texts
    heads = [rendered(e.value) for e in at.markdown if e.value.endswith(md("(2 spans)"))]
    assert {h.strong for h in heads} == {(LINK_NAME,), (BOLD_NAME,)}  # the names in bold, as typed
    assert all(h.tags <= {"p", "strong"} and not h.autolinked for h in heads)
    assert any("“Paris” [17, 22) LOC" in text and LINK_NAME in text for text in texts)
    [frame] = at.dataframe
    table = frame.value
    row = table[(table["label"] == "LOC")].iloc[0]
    assert row["exact F1"] == 0.0 and row["documents disagreeing"] == 1
    assert at.selectbox(key=f"review_disagree_doc_{at.selectbox(key='review_disagree_figure').value}").value == doc.id
    at.button(key=f"review_adopt_{doc.id}_{LINK_NAME}").click().run()
    assert not at.exception
    gold = svc.document(doc.id)
    assert gold.status == "reviewed" and gold.spans == (Span(0, 5, "PER"), Span(17, 22, "LOC"))
    assert svc.adjudications(doc.id)[-1].adopted_from == LINK_NAME
    assert doc.id in svc.training_documents(project.id).train_ids + svc.training_documents(project.id).dev_ids


def test_an_annotators_queue_is_their_assignments_and_accept_keeps_their_own(team):
    svc, project = team
    ids = sorted(int(i) for i in svc.documents_frame(project.id)["id"])
    svc.assign(ids[2], [BOLD_NAME, LINK_NAME])
    at = as_person(svc, BOLD_NAME, "annotate", project_id=project.id)
    assert not at.exception
    assert at.session_state["annotate_doc"] == ids[2]  # not the first of the project: the first assigned to them


def test_a_reviewer_assigns_one_document_by_hand(team):
    svc, project = team
    doc_id = max(int(i) for i in svc.documents_frame(project.id)["id"])
    at = as_person(svc, "rev", "review", project_id=project.id)
    at.number_input(key="review_hand_doc").set_value(doc_id)
    at.multiselect(key="review_hand_people").set_value([BOLD_NAME])
    at.button(key="review_hand_assign").click().run()
    assert not at.exception
    assert svc.assignees(doc_id) == [BOLD_NAME]
    assert f"Document #{doc_id} is assigned to {BOLD_NAME}." in shown(at)


def test_an_annotator_with_nothing_assigned_is_told_so(team):
    svc, project = team
    ids = sorted(int(i) for i in svc.documents_frame(project.id)["id"])
    svc.assign(ids[0], [LINK_NAME])
    at = as_person(svc, BOLD_NAME, "annotate", project_id=project.id)
    assert not at.exception
    assert at.session_state["annotate_doc"] is None
    assert any("Nothing assigned to you is left to correct" in text for text in shown(at))
