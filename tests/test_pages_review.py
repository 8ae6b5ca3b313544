"""The Review page through AppTest: a reviewer assigns, adjudicates two annotators' corrections
and reads the agreement; names with markdown are shown as text."""

from __future__ import annotations

import json
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


# ----------------------------------------------------------------------------- frames projects

SRL_TEXT = "Dave said Bob visited Paris"


def _frames_team(svc):
    """A frames project of one document (the model's frames on it), both annotators assigned."""
    from db import repo
    from db.session import write_session
    from tagger.spans import Frame

    project = svc.create_project("Team SRL", ["ARG0", "ARG1"], task_kind="frames")
    for name in ("rev", LINK_NAME, BOLD_NAME):
        svc.add_member(project.id, name)
    doc = svc.save_for_correction(project.id, SRL_TEXT)
    said, visited = Span(5, 9, "say.01"), Span(14, 21, "visit.01")
    model = (Frame(said, (Span(0, 4, "ARG0"),)), Frame(visited, (Span(10, 13, "ARG0"), Span(22, 27, "ARG1"))))
    with write_session(svc.factory) as s:
        repo.save_frames(s, doc.id, model, annotator="model", source="model", status="predicted")
    svc.assign(doc.id, [LINK_NAME, BOLD_NAME])
    return project, svc.document(doc.id), model


def test_a_reviewer_adopts_one_annotators_frames_and_reads_their_agreement(team):
    from tagger.spans import Frame

    svc, _ = team
    project, doc, model = _frames_team(svc)
    other = (model[0], Frame(model[1].predicate, (model[1].arguments[0], Span(22, 27, "ARG0"))))
    svc.submit_frames_annotation(doc.id, model, annotator=LINK_NAME)
    svc.submit_frames_annotation(doc.id, other, annotator=BOLD_NAME)
    at = as_person(svc, "rev", "review", project_id=project.id)
    assert not at.exception
    texts = shown(at)
    assert f"**{LINK_NAME}** (2 predicates, 3 arguments)" in texts
    html = "".join(h.proto.body for h in at.get("html"))
    assert html.count('class="seqlab-frame"') == 6  # two annotators and the gold, two predicates each
    assert any("“Paris” [22, 27) ARG0 of “visited”" in t and BOLD_NAME in t for t in texts)
    assert any("“Paris” [22, 27) ARG1 of “visited”" in t and LINK_NAME in t for t in texts)
    table = at.dataframe[0].value
    assert table[table["label"] == "V"].iloc[0]["exact F1"] == 1.0
    assert table[table["label"] == "ARG1"].iloc[0]["exact F1"] == 0.0
    at.button(key=f"review_adopt_{doc.id}_{BOLD_NAME}").click().run()
    assert not at.exception
    gold = svc.document(doc.id)
    assert gold.status == "reviewed" and gold.frames == other
    assert svc.adjudications(doc.id)[-1].adopted_from == BOLD_NAME


def test_a_reviewer_merges_frames_predicate_by_predicate(team):
    from tagger.spans import Frame

    LEAVE_OUT = "(leave it out)"

    def merge_frames_key(doc, where):  # pages/review.py's (importing the page would run it)
        return f"review_frames_merge_{doc.id}_{doc.version}_{where[0]}_{where[1]}"

    svc, _ = team
    project, doc, model = _frames_team(svc)
    theirs = Frame(model[1].predicate, (Span(10, 13, "ARG1"),))  # only "visited", another reading of it
    svc.submit_frames_annotation(doc.id, model, annotator=LINK_NAME)
    svc.submit_frames_annotation(doc.id, (theirs,), annotator=BOLD_NAME)
    at = as_person(svc, "rev", "review", project_id=project.id)
    assert not at.exception
    doc = svc.document(doc.id)
    said, visited = (model[0].predicate.start, model[0].predicate.end), (theirs.predicate.start, theirs.predicate.end)
    assert at.selectbox(key=merge_frames_key(doc, said)).options == [LINK_NAME, LEAVE_OUT]
    assert at.selectbox(key=merge_frames_key(doc, visited)).options == [LINK_NAME, BOLD_NAME, LEAVE_OUT]
    at.selectbox(key=merge_frames_key(doc, visited)).set_value(BOLD_NAME).run()
    at.button(key=f"review_frames_save_{doc.id}").click().run()
    assert not at.exception
    gold = svc.document(doc.id)
    assert gold.status == "reviewed" and gold.frames == (model[0], theirs)  # "said" from one, "visited" from the other
    assert svc.adjudications(doc.id)[-1].adopted_from is None
    # the page now reads the new version; leaving a predicate out drops its frame
    at.selectbox(key=merge_frames_key(gold, said)).set_value(LEAVE_OUT).run()
    at.button(key=f"review_frames_save_{doc.id}").click().run()
    assert not at.exception and svc.document(doc.id).frames == (model[1],)


def test_an_annotators_frames_accept_in_an_assigned_queue_keeps_their_own(team):
    from tests.test_tasks_app import _editors, _send

    svc, _ = team
    project, doc, model = _frames_team(svc)
    at = as_person(svc, BOLD_NAME, "annotate", project_id=project.id)
    assert not at.exception and at.session_state["annotate_doc"] == doc.id
    assert len(_editors(at)) == 2
    units = json.loads(_editors(at)[0].proto.json)["units"]
    at = _send(at, 0, "accept", [(units.index("Dave"), units.index("Dave") + 1, "ARG1")])  # Dave: ARG1 here
    assert not at.exception
    [mine] = svc.annotations_of(doc.id)
    assert mine.annotator == BOLD_NAME and mine.frames[0].arguments == (Span(0, 4, "ARG1"),)
    assert mine.frames[1] == model[1]  # the other row as it was
    assert svc.document(doc.id).frames == model  # shared for review: the gold waits for the reviewer
