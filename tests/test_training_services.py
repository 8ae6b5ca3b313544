"""The job side of the services: queueing without duplicates, refusing empty projects, the
training documents, running jobs, cancelling, comparing versions."""

from __future__ import annotations

import math

import pytest
from tests.conftest import FAST_TRAINING, add_labelled_project, make_corpus

from db import repo, versions
from db.session import write_session
from services.training import NothingToTrain
from tagger.spans import Example, SeqLabError, Span


@pytest.fixture()
def svc(training_svc):
    return training_svc


@pytest.fixture()
def project(svc, tiny_base):
    return add_labelled_project(svc, tiny_base, n=40)


def test_two_clicks_queue_one_job(svc, project):
    first, created = svc.start_training(project.id, **FAST_TRAINING)
    again, created_again = svc.start_training(project.id, **FAST_TRAINING)
    assert created and not created_again and again.id == first.id
    assert [j.id for j in svc.jobs(project.id)] == [first.id]


def test_other_options_or_a_new_correction_make_a_new_job(svc, project):
    first, _ = svc.start_training(project.id, **FAST_TRAINING)
    other, created = svc.start_training(project.id, **{**FAST_TRAINING, "epochs": 4})
    assert created and other.id != first.id
    doc = svc.training_documents(project.id).train_ids[0]
    with write_session(svc.factory) as s:
        text = repo.get_document(s, doc).text
        repo.save_spans(s, doc, [Span(0, len(text.split()[0]), "ORG")], annotator="ann")
    changed, created = svc.start_training(project.id, **FAST_TRAINING)
    assert created and changed.id not in (first.id, other.id)


def test_a_project_without_checked_documents_is_refused_with_a_clear_message(svc, tiny_base):
    project = svc.create_project("empty", ["PER"], base_model=tiny_base)
    with write_session(svc.factory) as s:  # plain text: new documents, nobody checked them
        repo.add_documents(s, project.id, [Example("Alice went to Paris ."), Example("Bob went home .")])
    with pytest.raises(NothingToTrain, match="nothing to train on yet.*Annotate page.*Data page"):
        svc.start_training(project.id)
    assert svc.jobs(project.id) == [] and svc.running_job(project.id) is None


def test_checked_documents_without_any_span_are_refused_too(svc, tiny_base):
    project = svc.create_project("no spans", ["PER"], base_model=tiny_base)
    with write_session(svc.factory) as s:
        repo.add_documents(s, project.id, [Example("nobody here .")], status="corrected", split="train")
    with pytest.raises(NothingToTrain, match="1 checked documents, none in the train split with spans"):
        svc.start_training(project.id)


def test_an_unknown_option_is_refused_before_anything_is_queued(svc, project):
    with pytest.raises(SeqLabError, match="unknown training option epoch"):
        svc.start_training(project.id, epoch=3)
    with pytest.raises(SeqLabError, match="warm_start must be one of base, active"):
        svc.start_training(project.id, warm_start="yesterday")
    assert svc.jobs(project.id) == []


def test_training_defaults_say_what_a_job_without_options_would_use(svc, project):
    import worker

    train_docs = len(svc.training_documents(project.id).train)
    assert svc.training_defaults(project.id) == {**worker.auto_schedule(train_docs), "warm_start": "active"}


def test_running_job_is_the_newest_queued_or_running_one(svc, project):
    assert svc.running_job(project.id) is None
    job, _ = svc.start_training(project.id, **FAST_TRAINING)
    assert svc.running_job(project.id) == job
    cancelled = svc.cancel_training(job.id)
    assert cancelled.state == "cancelled" and svc.job(job.id) == cancelled
    assert svc.running_job(project.id) is None


def test_training_documents_are_the_checked_train_and_dev_ones(svc, tiny_base):
    project = svc.create_project("splits", ["PER", "LOC", "ORG"], base_model=tiny_base)
    corpus = make_corpus(12, seed=5)
    with write_session(svc.factory) as s:
        repo.add_documents(s, project.id, corpus[:6], split="train")
        repo.add_documents(s, project.id, corpus[6:8], split="dev")
        repo.add_documents(s, project.id, corpus[8:10], split="test")
        repo.add_documents(s, project.id, [Example(e.text) for e in corpus[10:]], split="train")  # unchecked
    data = svc.training_documents(project.id)
    assert [e.text for e in data.train] == [e.text for e in corpus[:6]]
    assert [e.spans for e in data.dev] == [e.spans for e in corpus[6:8]]
    assert data.dev_holdout is False
    assert data.describe() == {"train_docs": 6, "dev_docs": 2, "dev_holdout": False,
                               "train_doc_ids": list(data.train_ids), "dev_doc_ids": list(data.dev_ids)}


def test_without_dev_documents_a_stable_tenth_of_train_is_held_out(svc, tiny_base):
    project = add_labelled_project(svc, tiny_base, n=200, split="train")
    data = svc.training_documents(project.id)
    assert data.dev_holdout is True
    assert 8 <= len(data.dev) <= 35
    assert len(data.train) + len(data.dev) == len({e.text for e in make_corpus(200, seed=3)})
    assert not set(data.train_ids) & set(data.dev_ids)
    with write_session(svc.factory) as s:  # more documents do not move the ones already held out
        repo.add_documents(s, project.id, make_corpus(50, seed=99), split="train")
    assert set(data.dev_ids) <= set(svc.training_documents(project.id).dev_ids)


def test_a_tiny_project_still_holds_out_one_document(svc, tiny_base):
    project = add_labelled_project(svc, tiny_base, n=3, split="train")
    data = svc.training_documents(project.id)
    assert len(data.dev) == 1 and len(data.train) == 2 and data.dev_holdout


def test_compare_versions_has_a_row_per_label_and_the_f1_delta(svc, project):
    def metrics(f1, per_label):
        return {"precision": f1, "recall": f1, "f1": f1, "support": 10,
                "per_label": {k: {"precision": v, "recall": v, "f1": v, "support": 5} for k, v in per_label.items()}}

    with write_session(svc.factory) as s:
        a = versions.create_version(s, project.id, "/a", metrics=metrics(0.5, {"PER": 0.6, "LOC": 0.4}))
        b = versions.create_version(s, project.id, "/b", metrics=metrics(0.75, {"PER": 0.9, "ORG": 0.3}))
    frame = svc.compare_versions(a.id, b.id).set_index("label")
    assert list(frame.index) == ["overall", "LOC", "ORG", "PER"]
    assert frame.loc["overall", "f1_delta"] == pytest.approx(0.25)
    assert frame.loc["PER", "a_f1"] == 0.6 and frame.loc["PER", "b_f1"] == 0.9
    assert frame.loc["PER", "f1_delta"] == pytest.approx(0.3)
    assert math.isnan(frame.loc["LOC", "b_f1"]) and math.isnan(frame.loc["ORG", "f1_delta"])
    assert {"a_precision", "a_recall", "b_precision", "b_recall"} <= set(frame.columns)
    assert frame.attrs == {"a": "v1", "b": "v2"}


def test_predictions_run_on_one_thread_while_a_job_trains_and_on_all_otherwise(svc, project, trained_dir):
    import torch

    from db import jobs
    from tagger.predict import Tagger

    tagger = Tagger.load(trained_dir)
    texts = ["Anna Smith flew from Paris to Berlin .", "the bank of Rome"]
    idle = svc.predict(tagger, texts)
    all_threads = torch.get_num_threads()
    job, _ = svc.start_training(project.id, **FAST_TRAINING)
    assert svc.predict(tagger, texts) == idle and torch.get_num_threads() == all_threads  # queued only
    with write_session(svc.factory) as s:
        jobs.claim_next(s, "test-worker")
    assert svc.predict(tagger, texts) == idle
    assert svc.tag_text(tagger, texts[0]) == idle[0]
    assert torch.get_num_threads() == 1
    with write_session(svc.factory) as s:
        jobs.finish(s, job.id, "succeeded")
    assert svc.predict(tagger, texts) == idle
    assert torch.get_num_threads() == all_threads
