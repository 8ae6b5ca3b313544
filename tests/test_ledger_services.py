"""The correction ledger in the store and the worker (services/ledger.py, db/ledger.py, worker.py),
on both back ends: a real tiny training job scores every correction, made-up versions give each
outcome, pins refuse an auto-activation and the job's message names the correction."""

from __future__ import annotations

import pytest
from tests.conftest import FAST_TRAINING, add_labelled_project

import worker
from db import jobs, ledger, versions
from db.session import data_home, write_session
from services import SeqLabError
from services import ledger as ledger_service
from tagger.spans import Span


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py


@pytest.fixture()
def svc(training_svc):
    return training_svc


@pytest.fixture()
def project(svc, tiny_base):
    return add_labelled_project(svc, tiny_base, n=60)


def train_now(svc, project_id, **overrides):
    svc.start_training(project_id, **{**FAST_TRAINING, **overrides})
    with write_session(svc.factory) as s:
        job = jobs.claim_next(s, "test")
    return worker.run_job(svc.factory, job, data_home())


class Fake:
    """A tagger answering from text -> spans (nothing for other texts)."""

    def __init__(self, answers):
        self.answers = answers

    def predict(self, texts):
        return [list(self.answers.get(t, [])) for t in texts]


class Breaking:
    """Another tagger's predictions, except that it finds nothing in ``text``."""

    def __init__(self, inner, text):
        self.inner, self.text = inner, text

    def predict(self, texts):
        return [[] if t == self.text else spans for t, spans in zip(texts, self.inner.predict(texts))]


def corrections(svc, project_id):
    with svc.factory() as s:
        return ledger.corrections_after(s, project_id, 0, 10_000)


def fake_version(svc, project_id, path="/nowhere", active=False):
    with write_session(svc.factory) as s:
        info = versions.create_version(s, project_id, path, metrics={"f1": 0.5})
        return versions.activate(s, info.id) if active else info


def made_up_pair(svc, project_id):
    """Old and new fake versions over the project's first four corrections: 0 learned, 1 regressed,
    2 unchanged right, 3 still wrong; every other correction still wrong (neither finds anything)."""
    docs = corrections(svc, project_id)
    (a, _, ea), (b, _, eb), (c, _, ec), (d, _, ed) = docs[:4]
    old = Fake({eb.text: list(eb.spans), ec.text: list(ec.spans)})
    new = Fake({ea.text: list(ea.spans), ec.text: list(ec.spans), ed.text: [Span(0, 1, "ORG")]})
    return (a, b, c, d), old, new, len(docs)


# ----------------------------------------------------------------------------- made-up versions


def test_score_version_stores_each_outcome_of_a_made_up_pair(svc, project):
    (a, b, c, d), old, new, total = made_up_pair(svc, project.id)
    version = fake_version(svc, project.id)

    scored = ledger_service.score_version(svc.factory, project.id, version.id, new, old, batch=3)

    assert scored == total
    def ids(outcome):
        return [e.document_id for e in svc.ledger_entries(version.id, outcome, limit=10_000)]
    assert ids("learned") == [a] and ids("regressed") == [b] and ids("unchanged_right") == [c]
    assert d in ids("still_wrong") and len(ids("still_wrong")) == total - 3


def test_an_entry_keeps_the_correction_and_both_versions_spans(svc, project):
    (a, b, _, _), old, new, _ = made_up_pair(svc, project.id)
    version = fake_version(svc, project.id)
    ledger_service.score_version(svc.factory, project.id, version.id, new, old)

    entry = svc.ledger_entry(version.id, b)

    stored = svc.document(b)
    assert entry.text == stored.text and entry.gold == stored.spans
    assert entry.previous == stored.spans and entry.predicted == ()
    assert entry.outcome == "regressed" and entry.split == stored.split


def test_the_ledger_is_every_checked_train_and_dev_document_only(svc, project):
    svc.save_for_correction(project.id, "Dave went to Berlin .")  # waits for correction: not a correction
    docs = corrections(svc, project.id)

    data = svc.training_documents(project.id)
    assert [doc_id for doc_id, _, _ in docs] == sorted(data.train_ids + data.dev_ids)  # not the test split
    assert "Dave went to Berlin ." not in {e.text for _, _, e in docs}


def test_rescoring_a_version_replaces_its_entries(svc, project):
    _, old, new, total = made_up_pair(svc, project.id)
    version = fake_version(svc, project.id)
    for _ in range(2):
        ledger_service.score_version(svc.factory, project.id, version.id, new, old)
    with write_session(svc.factory) as s:
        summary = ledger.save_summary(s, version.id, None)

    assert sum(summary.counts.values()) == total


def test_scoring_stops_between_batches_when_the_job_is_cancelled(svc, project):
    _, old, new, _ = made_up_pair(svc, project.id)
    version = fake_version(svc, project.id)
    calls = iter([False, True])

    with pytest.raises(ledger_service.ScoringCancelled):
        ledger_service.score_version(svc.factory, project.id, version.id, new, old, batch=5,
                                     should_cancel=lambda: next(calls))


# ----------------------------------------------------------------------------- pins and the gate


def test_a_pinned_correction_shows_in_the_entries_and_can_be_unpinned(svc, project):
    (a, b, _, _), old, new, _ = made_up_pair(svc, project.id)
    version = fake_version(svc, project.id)
    ledger_service.score_version(svc.factory, project.id, version.id, new, old)

    svc.pin_correction(b, "ann")

    assert [p.document_id for p in svc.pinned_corrections(project.id)] == [b]
    assert svc.ledger_entry(version.id, b).pinned and not svc.ledger_entry(version.id, a).pinned
    assert svc.broken_pins(version) == [b]
    svc.unpin_correction(b)
    assert svc.pinned_corrections(project.id) == [] and svc.broken_pins(version) == []


def test_a_document_without_a_correction_cannot_be_pinned(svc, project):
    doc = svc.save_for_correction(project.id, "Dave went to Berlin .")

    with pytest.raises(SeqLabError, match="no correction to pin"):
        svc.pin_correction(doc.id, "ann")


def test_the_gate_refuses_a_version_that_breaks_a_pin_and_names_it(svc, project):
    (_, b, _, _), old, new, _ = made_up_pair(svc, project.id)
    fake_version(svc, project.id, active=True)
    version = fake_version(svc, project.id)
    ledger_service.score_version(svc.factory, project.id, version.id, new, old)
    svc.pin_correction(b, "ann")

    with write_session(svc.factory) as s:
        summary = ledger.save_summary(s, version.id, None, broken_pins=ledger_service.broken_pins(s, version.id))
        message = worker._activate_if_due(s, version, summary)

    text = svc.document(b).text
    assert "not activated: it breaks 1 pinned correction" in message and f"#{b} {text!r}" in message
    assert not svc.version(version.id).active


def test_a_broken_correction_that_is_not_pinned_does_not_stop_activation(svc, project):
    _, old, new, _ = made_up_pair(svc, project.id)
    fake_version(svc, project.id, active=True)
    version = fake_version(svc, project.id)
    ledger_service.score_version(svc.factory, project.id, version.id, new, old)

    with write_session(svc.factory) as s:
        summary = ledger.save_summary(s, version.id, None, broken_pins=ledger_service.broken_pins(s, version.id))
        message = worker._activate_if_due(s, version, summary)

    assert message.endswith(", activated") and svc.version(version.id).active


# ----------------------------------------------------------------------------- real training


def test_a_first_job_scores_every_correction_against_nothing(svc, project):
    done = train_now(svc, project.id, epochs=6)

    version = svc.active_version(project.id)
    summary = svc.ledger_summary(version.id)
    assert summary.previous_id is None and summary.error is None
    assert summary.counts["regressed"] == summary.counts["unchanged_right"] == 0
    data = svc.training_documents(project.id)
    assert summary.counts["learned"] + summary.counts["still_wrong"] == len(data.train_ids + data.dev_ids)
    assert summary.counts["learned"] > 0  # the tiny model learns the templated sentences
    assert f"(corrections: learned {summary.counts['learned']}, still wrong" in done.message
    assert done.message.endswith(", activated")
    learned = svc.ledger_entries(version.id, "learned", limit=1)[0]
    assert {s.key() for s in learned.predicted} == {s.key() for s in learned.gold}


def test_a_retrain_that_breaks_a_pinned_correction_is_not_activated(svc, project, monkeypatch):
    train_now(svc, project.id, epochs=6)
    first = svc.active_version(project.id)
    right = svc.ledger_entries(first.id, "learned", limit=1)[0]
    svc.pin_correction(right.document_id, "ann")
    real = ledger_service.score_version
    monkeypatch.setattr(ledger_service, "score_version",  # the new version forgets the pinned sentence
                        lambda factory, pid, vid, new, old, **kw: real(factory, pid, vid, Breaking(new, right.text), old, **kw))

    done = train_now(svc, project.id, epochs=4)

    assert done.state == "succeeded"
    assert svc.active_version(project.id).id == first.id
    second = svc.versions(project.id)[0]
    assert svc.ledger_summary(second.id).broken_pins == (right.document_id,)
    assert svc.ledger_summary(second.id).previous_id == first.id
    assert f"not activated: it breaks 1 pinned correction: #{right.document_id} {right.text!r}" in done.message


def test_a_ledger_that_cannot_be_scored_keeps_the_version_and_says_why(svc, project, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(ledger_service, "score_version", fail)

    done = train_now(svc, project.id)

    version = svc.active_version(project.id)
    assert version is not None and svc.ledger_summary(version.id).error == "disk on fire"
    assert "(corrections: could not be scored: disk on fire)" in done.message


def test_a_job_cancelled_while_scoring_leaves_no_version(svc, project, monkeypatch):
    def cancel(*args, **kwargs):
        raise ledger_service.ScoringCancelled("cancelled")
    monkeypatch.setattr(ledger_service, "score_version", cancel)

    done = train_now(svc, project.id)

    assert done.state == "cancelled" and svc.versions(project.id) == []
    assert not any((data_home() / "models" / f"project-{project.id}").glob("job-*"))
