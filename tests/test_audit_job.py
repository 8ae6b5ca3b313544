"""The label-noise audit as a worker job (services/audit.py): queued, run by the worker with the
project's settings, its findings stored most suspicious first; on both back ends."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.conftest import FAST_TRAINING, make_corpus

import worker
from db import jobs, repo
from db.session import data_home, write_session
from services import SeqLabError

TRAINING = {**FAST_TRAINING, "epochs": 8}  # enough for the tiny BERT to learn the templates from 20 sentences


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py


@pytest.fixture()
def svc(training_svc):
    return training_svc


@pytest.fixture()
def noisy_project(svc, tiny_base):
    """40 corrections; documents 5 and 17 have their first span's label flipped."""
    flips = {"LOC": "PER", "PER": "ORG", "ORG": "LOC"}
    docs = list({d.text: d for d in make_corpus(44, seed=5)}.values())  # no duplicate texts
    docs = [replace(d, spans=(replace(d.spans[0], label=flips[d.spans[0].label]), *d.spans[1:])) if i in (5, 17) else d
            for i, d in enumerate(docs)]
    project = svc.create_project("Noisy", ["PER", "LOC", "ORG"], base_model=tiny_base)
    with write_session(svc.factory) as s:
        repo.add_documents(s, project.id, docs, split="train")
    with svc.factory() as s:
        ids = [repo.find_document(s, project.id, docs[i].text).id for i in (5, 17)]
    return project, set(ids)


def run_next(svc):
    with write_session(svc.factory) as s:
        job = jobs.claim_next(s, "test")
    return worker.run_job(svc.factory, job, data_home())


def test_an_audit_job_stores_the_planted_flips_first(svc, noisy_project):
    project, planted = noisy_project
    job, created = svc.start_audit(project.id, folds=2, **TRAINING)
    assert created and svc.start_audit(project.id, folds=2, **TRAINING) == (job, False)

    done = run_next(svc)

    n = svc.training_summary(project.id).train_docs + svc.training_summary(project.id).dev_docs
    assert done.state == "succeeded" and done.message.startswith(f"audit of {n} corrections (2 folds): ")
    assert done.step == done.total == 2
    latest, count = svc.latest_audit(project.id)
    assert latest.id == job.id and count >= len(planted)
    findings = svc.audit_findings(job.id)
    assert [f.rank for f in findings] == list(range(len(findings)))
    assert [f.score for f in findings] == sorted((f.score for f in findings), reverse=True)
    assert planted <= {f.document_id for f in findings[: 2 * len(planted)]}
    assert {f.signal for f in findings} <= {"surface", "folds"}
    assert svc.versions(project.id) == []  # an audit makes no model version


def test_an_audit_without_folds_trains_nothing(svc, noisy_project):
    project, planted = noisy_project
    svc.start_audit(project.id, folds=0)

    done = run_next(svc)

    assert done.state == "succeeded" and done.total == 0
    assert planted <= {f.document_id for f in svc.audit_findings(done.id)}


def test_a_project_without_corrections_cannot_be_audited(svc):
    project = svc.create_project("Empty", ["PER"])

    with pytest.raises(SeqLabError, match="no corrections to audit"):
        svc.start_audit(project.id)


def test_a_fold_count_of_one_is_refused(svc, noisy_project):
    with pytest.raises(SeqLabError, match="at least 2"):
        svc.start_audit(noisy_project[0].id, folds=1)
