"""Assignment, per-annotator corrections, adjudication and agreement (services/review.py), on both
back ends, and every new rule of services/policy.py called as the wrong person."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

import services.accounts as accounts
from services import PermissionDenied, SeqLabError, Services
from tagger.spans import Span

PASSWORD = "correct horse battery"
TEXT = "Alice met Bob in Paris"
ALICE, BOB, PARIS = Span(0, 5, "PER"), Span(10, 13, "PER"), Span(17, 22, "LOC")


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    monkeypatch.setattr(accounts, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture()
def team(svc):
    """A project of 20 documents, and an admin, a reviewer and three annotators, all its members;
    one more annotator ("eve") who is a member of another project only."""
    project, other = svc.create_project("Ours", ["PER", "LOC"]), svc.create_project("Theirs", ["PER"])
    docs = [svc.save_for_correction(project.id, f"{TEXT} {i}") for i in range(20)]
    world = {"project": project, "other": other, "docs": docs}
    for name, role in (("admin", "admin"), ("rev", "reviewer"), ("ann", "annotator"), ("ben", "annotator"),
                       ("cat", "annotator"), ("eve", "annotator")):
        svc.add_account(name, role, PASSWORD)
        svc.add_member(other.id if name == "eve" else project.id, name)
        world[name] = svc.as_user(svc.sign_in(name, PASSWORD))
    return world


def _shared(svc, team):
    """A document assigned to ann and ben by hand."""
    doc = team["docs"][0]
    team["rev"].assign(doc.id, ["ann", "ben"])
    return doc


def test_round_robin_with_overlap_is_deterministic_and_covers_every_document(svc, team):
    result = team["rev"].assign_documents(team["project"].id, ["ann", "ben", "cat"], overlap=0.1, seed=7)
    assert result.documents == 20 and result.overlapped == 2
    assert sum(result.per_annotator.values()) == 22
    assigned = svc.assignments(team["project"].id)
    assert sorted(assigned) == [d.id for d in team["docs"]]
    assert sorted(len(people) for people in assigned.values()) == [1] * 18 + [2] * 2
    assert team["rev"].assign_documents(team["project"].id, ["ann", "ben", "cat"]).documents == 0  # nothing left


def test_the_same_seed_gives_the_same_assignment(svc, team, tmp_path):
    other = Services(f"sqlite:///{tmp_path / 'copy.db'}")
    project = other.create_project("Ours", ["PER", "LOC"])
    for i in range(20):
        other.save_for_correction(project.id, f"{TEXT} {i}")
    other.assign_documents(project.id, ["ann", "ben", "cat"], overlap=0.1, seed=7)
    team["rev"].assign_documents(team["project"].id, ["ann", "ben", "cat"], overlap=0.1, seed=7)
    first = svc.assignments(team["project"].id)
    second = other.assignments(project.id)
    assert [first[k] for k in sorted(first)] == [second[k] for k in sorted(second)]
    other.close()


def test_assigning_to_a_non_member_is_refused(team):
    with pytest.raises(SeqLabError, match="not members of this project: eve"):
        team["rev"].assign_documents(team["project"].id, ["ann", "eve"])
    with pytest.raises(SeqLabError, match="overlap needs at least two"):
        team["rev"].assign_documents(team["project"].id, ["ann"], overlap=0.5)


def test_each_annotators_correction_is_their_own_and_the_gold_waits(svc, team):
    doc = _shared(svc, team)
    team["ann"].submit_annotation(doc.id, [ALICE, BOB, PARIS], annotator="ben")  # stored as ann, not ben
    stored = team["ben"].submit_annotation(doc.id, [ALICE, Span(17, 22, "PER")], annotator="ben",
                                           expected_version=doc.version)
    assert stored.status == doc.status and stored.spans == doc.spans and stored.version == doc.version
    mine = {a.annotator: a.spans for a in svc.annotations_of(doc.id)}
    assert mine == {"ann": (ALICE, BOB, PARIS), "ben": (ALICE, Span(17, 22, "PER"))}
    assert doc.id not in svc.training_documents(team["project"].id).train_ids + \
        svc.training_documents(team["project"].id).dev_ids


def test_a_document_with_one_assignee_takes_the_correction_as_gold(svc, team):
    doc = team["docs"][1]
    team["rev"].assign(doc.id, ["cat"])
    saved = team["cat"].submit_annotation(doc.id, [ALICE], annotator="cat", expected_version=doc.version)
    assert saved.status == "corrected" and saved.spans == (ALICE,)
    assert svc.annotations_of(doc.id)[0].document_version == doc.version  # the version it was made on
    assert svc.history(doc.id)[-1].annotator == "cat"


def test_an_annotator_cannot_submit_on_a_document_not_assigned_to_them(svc, team):
    doc = _shared(svc, team)
    with pytest.raises(PermissionDenied, match="not assigned to cat"):
        team["cat"].submit_annotation(doc.id, [ALICE], annotator="cat")
    with pytest.raises(PermissionDenied, match="not a member"):
        team["eve"].submit_annotation(doc.id, [ALICE], annotator="eve")
    assert svc.annotations_of(doc.id) == []


def test_an_annotator_cannot_save_the_gold_of_a_document_under_review(svc, team):
    doc = _shared(svc, team)
    for who in ("ann", "cat"):
        with pytest.raises(PermissionDenied, match="assigned for review"):
            team[who].save_correction(doc.id, [ALICE], annotator=who)
    assert svc.document(doc.id).spans == doc.spans
    free = team["docs"][5]  # nobody assigned: as before
    assert team["ann"].save_correction(free.id, [ALICE], annotator="ann").status == "corrected"


def test_adjudication_makes_the_gold_used_for_training_and_keeps_the_history(svc, team):
    doc = _shared(svc, team)
    team["ann"].submit_annotation(doc.id, [ALICE, BOB, PARIS], annotator="ann")
    team["ben"].submit_annotation(doc.id, [ALICE, Span(17, 22, "PER")], annotator="ben")
    [item] = team["rev"].review_queue(team["project"].id)
    assert (item.document_id, item.annotators, item.agree, item.adjudicated) == (doc.id, ("ann", "ben"), False, False)
    gold = team["rev"].adjudicate(doc.id, [ALICE, BOB, PARIS], reviewer="admin", adopted_from="ann")
    assert gold.status == "reviewed" and gold.spans == (ALICE, BOB, PARIS)
    assert svc.history(doc.id)[-1].annotator == "rev" and svc.history(doc.id)[-1].before == doc.spans
    [record] = svc.adjudications(doc.id)
    assert (record.reviewer, record.adopted_from) == ("rev", "ann")
    data = svc.training_documents(team["project"].id)
    assert doc.id in data.train_ids + data.dev_ids
    assert team["rev"].review_queue(team["project"].id)[0].adjudicated
    assert len(svc.annotations_of(doc.id)) == 2  # the annotators' own corrections stay


def test_adopting_someone_who_did_not_correct_it_is_refused(svc, team):
    doc = _shared(svc, team)
    team["ann"].submit_annotation(doc.id, [ALICE], annotator="ann")
    with pytest.raises(SeqLabError, match="cat has no correction"):
        team["rev"].adjudicate(doc.id, [ALICE], reviewer="rev", adopted_from="cat")


def test_an_annotators_queue_holds_only_their_open_assignments(svc, team):
    project = team["project"]
    team["rev"].assign(team["docs"][3].id, ["ann"])
    team["rev"].assign(team["docs"][4].id, ["ann", "ben"])
    assert team["ann"].has_assignments(project.id)
    assert team["ann"].next_assigned(project.id, annotator="x").id == team["docs"][3].id
    assert team["ann"].next_assigned(project.id, annotator="x", after_id=team["docs"][3].id).id == team["docs"][4].id
    team["ann"].submit_annotation(team["docs"][4].id, [ALICE], annotator="ann")
    assert team["ann"].next_assigned(project.id, annotator="ann", after_id=team["docs"][3].id).id == team["docs"][3].id
    assert team["ann"].assigned_progress(project.id, annotator="ann").done == 1
    assert team["cat"].next_assigned(project.id, annotator="cat") is None
    assert team["ben"].next_assigned(project.id, annotator="ben").id == team["docs"][4].id


def test_agreement_of_a_team_of_three_with_overlap(svc, team):
    project = team["project"]
    team["rev"].assign_documents(project.id, ["ann", "ben", "cat"], overlap=0.25, seed=1)
    for doc_id, people in svc.assignments(project.id).items():
        for k, who in enumerate(people):
            spans = [ALICE, BOB, PARIS] if k == 0 or doc_id % 2 else [ALICE, Span(17, 22, "PER")]
            team[who].submit_annotation(doc_id, spans, annotator=who)
    figures = team["rev"].agreement(project.id)
    assert figures.documents == 5
    assert {(p.a, p.b) for p in figures.pairs} <= {("ann", "ben"), ("ann", "cat"), ("ben", "cat")}
    disagreeing = [d for d in svc.assignments(project.id) if len(svc.assignments(project.id)[d]) == 2 and not d % 2]
    assert sorted(figures.disagreeing) == sorted(disagreeing)
    assert figures.alpha is None or figures.alpha <= 1


@pytest.mark.parametrize("who", ["ann", "eve"])
def test_annotators_cannot_assign_review_adjudicate_or_read_agreement(svc, team, who):
    doc, project = _shared(svc, team), team["project"]
    acting = team[who]
    for call in (lambda: acting.assign_documents(project.id, ["ann"], overlap=0),
                 lambda: acting.assign(doc.id, ["ann"]), lambda: acting.unassign(doc.id, "ann"),
                 lambda: acting.assignments(project.id), lambda: acting.review_queue(project.id),
                 lambda: acting.annotations_of(doc.id), lambda: acting.adjudicate(doc.id, [], reviewer=who),
                 lambda: acting.adjudications(doc.id), lambda: acting.agreement(project.id)):
        with pytest.raises(PermissionDenied, match="needs the role admin or reviewer"):
            call()


def test_a_reviewer_of_another_project_reaches_none_of_its_review(svc, team):
    doc, project = _shared(svc, team), team["project"]
    svc.add_account("rex", "reviewer", PASSWORD)
    svc.add_member(team["other"].id, "rex")
    rex = svc.as_user(svc.sign_in("rex", PASSWORD))
    for call in (lambda: rex.assign_documents(project.id, ["ann"], overlap=0), lambda: rex.assign(doc.id, ["ann"]),
                 lambda: rex.review_queue(project.id), lambda: rex.annotations_of(doc.id),
                 lambda: rex.adjudicate(doc.id, [], reviewer="rex"), lambda: rex.agreement(project.id),
                 lambda: rex.next_assigned(project.id, annotator="rex"),
                 lambda: rex.submit_annotation(doc.id, [], annotator="rex")):
        with pytest.raises(PermissionDenied, match="not a member of this project"):
            call()
    assert svc.document(doc.id).status == doc.status


SRL_TEXT = "Dave said Bob visited Paris"
SAID, VISITED = Span(5, 9, "say.01"), Span(14, 21, "visit.01")
DAVE, BOB_, PARIS_ = Span(0, 4, "ARG0"), Span(10, 13, "ARG0"), Span(22, 27, "ARG1")


def _frames_project(svc, team):
    from tagger.spans import Frame

    project = svc.create_project("Frames", ["ARG0", "ARG1"], task_kind="frames")
    for name in ("rev", "ann", "ben", "cat"):
        svc.add_member(project.id, name)
    doc = svc.save_for_correction(project.id, SRL_TEXT)
    ann = (Frame(SAID, (DAVE,)), Frame(VISITED, (BOB_, PARIS_)))
    ben = (Frame(SAID, (DAVE,)), Frame(VISITED, (BOB_, Span(22, 27, "ARG0"))))  # Paris's role differs
    return project, doc, ann, ben


def test_a_frames_project_is_assigned_corrected_by_two_and_adjudicated(svc, team):
    project, doc, ann, ben = _frames_project(svc, team)
    team["rev"].assign_documents(project.id, ["ann", "ben"], overlap=1.0)
    assert svc.assignees(doc.id) == ["ann", "ben"]
    team["ann"].submit_frames_annotation(doc.id, ann, annotator="ben")  # stored as ann's
    kept = team["ben"].submit_frames_annotation(doc.id, ben, annotator="ben", expected_version=doc.version)
    assert kept.frames == () and kept.status == doc.status  # the gold waits for the reviewer
    assert {a.annotator: a.frames for a in svc.annotations_of(doc.id)} == {"ann": ann, "ben": ben}
    [item] = team["rev"].review_queue(project.id)
    assert (item.document_id, item.annotators, item.agree) == (doc.id, ("ann", "ben"), False)
    figures = team["rev"].agreement(project.id)
    [pair] = figures.pairs
    by_label = {la.label: la for la in pair.labels}
    assert by_label["V"].exact_f1 == 1.0 and by_label["ARG1"].exact_f1 == 0.0
    assert pair.exact_f1 == pytest.approx(0.8)  # 4 of each one's 5 marks (2 predicates, 3 arguments) shared
    assert pair.kappa is None and figures.alpha is None and figures.disagreeing == (doc.id,)
    gold = team["rev"].adjudicate_frames(doc.id, ann, reviewer="rev", adopted_from="ann")
    assert gold.status == "reviewed" and gold.frames == ann
    assert svc.history(doc.id)[-1].after_frames == ann and svc.adjudications(doc.id)[0].adopted_from == "ann"
    assert doc.id in set(svc.training_documents(project.id).train_ids + svc.training_documents(project.id).dev_ids)


def test_frames_review_refuses_the_wrong_person_and_the_wrong_kind(svc, team):
    project, doc, ann, _ = _frames_project(svc, team)
    team["rev"].assign(doc.id, ["ann", "ben"])
    with pytest.raises(PermissionDenied, match="not assigned to cat"):
        team["cat"].submit_frames_annotation(doc.id, ann, annotator="cat")
    with pytest.raises(PermissionDenied, match="not a member"):
        team["eve"].submit_frames_annotation(doc.id, ann, annotator="eve")
    with pytest.raises(PermissionDenied, match="needs the role admin or reviewer"):
        team["ann"].adjudicate_frames(doc.id, ann, reviewer="ann")
    with pytest.raises(PermissionDenied, match="assigned for review"):
        team["ann"].save_frames_correction(doc.id, ann, annotator="ann")
    with pytest.raises(SeqLabError, match="a frames document takes frames"):
        team["ann"].submit_annotation(doc.id, [DAVE], annotator="ann")
    with pytest.raises(SeqLabError, match="a spans document takes spans"):
        team["ann"].submit_frames_annotation(team["docs"][0].id, ann, annotator="ann")
    assert svc.annotations_of(doc.id) == [] and svc.document(doc.id).frames == ()


def test_a_frames_document_with_one_assignee_takes_the_correction_as_gold(svc, team):
    project, doc, ann, _ = _frames_project(svc, team)
    team["rev"].assign(doc.id, ["cat"])
    saved = team["cat"].submit_frames_annotation(doc.id, ann, annotator="cat", expected_version=doc.version)
    assert saved.status == "corrected" and saved.frames == ann and svc.history(doc.id)[-1].annotator == "cat"


def test_a_team_of_three_with_overlap_then_review_gives_training_the_adjudicated_gold(svc, team):
    project, rev = team["project"], team["rev"]
    rev.assign_documents(project.id, ["ann", "ben", "cat"], overlap=0.2, seed=3)
    for who in ("ann", "ben", "cat"):  # each works through their own queue
        acting = team[who]
        while (doc := acting.next_assigned(project.id, annotator=who)) is not None:
            spans = [ALICE, PARIS] if who != "cat" else [ALICE, Span(17, 22, "PER")]
            acting.submit_annotation(doc.id, spans, annotator=who, expected_version=doc.version)
        assert acting.assigned_progress(project.id, annotator=who).fraction == 1.0
    shared = [d for d, people in svc.assignments(project.id).items() if len(people) == 2]
    assert len(shared) == 4
    trainable = {d.id for d in team["docs"] if d.split != "test"}  # the test split never trains
    data = svc.training_documents(project.id)
    assert set(data.train_ids + data.dev_ids) == trainable - set(shared)
    assert sorted(item.document_id for item in rev.review_queue(project.id)) == sorted(shared)
    figures = rev.agreement(project.id)
    assert figures.documents == 4
    for item in rev.review_queue(project.id):
        rev.adjudicate(item.document_id, [ALICE, PARIS], reviewer="rev")
    data = svc.training_documents(project.id)
    assert set(data.train_ids + data.dev_ids) == trainable
    gold = {svc.document(d).spans for d in shared}
    assert gold == {(ALICE, PARIS)}
