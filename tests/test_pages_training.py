"""The Train and Models pages through AppTest: a job's live progress, cancel, history; versions,
per-label metrics, activation and rollback, comparison. The worker is not started here
(SEQLAB_WORKER=off): the job's row is driven through db.jobs the way the worker drives it."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from db import jobs
from db.session import write_session
from tests.apptest import PAGES, TIMEOUT, page, shown, unmd


@pytest.fixture()
def svc(page_svc):
    return page_svc


@pytest.fixture()
def project(svc, corpus):
    """English NER with the templated corpus imported as corrected train/dev documents."""
    project = svc.ensure_default_project()
    lines = [json.dumps({"text": ex.text, "split": "dev" if i % 5 == 0 else "train",
                         "spans": [{"start": s.start, "end": s.end, "label": s.label} for s in ex.spans]})
             for i, ex in enumerate(corpus[:40])]
    svc.import_file(project.id, "gold.jsonl", "\n".join(lines).encode())
    return project


def test_train_page_summarises_the_data_and_queues_one_job_for_two_clicks(svc, project):
    at = page("train")
    assert not at.exception
    assert any("corrected train documents" in t for t in shown(at))
    at.button(key="train_start").click().run()
    assert not at.exception
    queued = svc.running_job(project.id)
    assert queued is not None and queued.state == "queued"
    assert any(f"Job #{queued.id} is queued" in t for t in shown(at))
    at.button(key="train_start").click().run()
    assert len(svc.jobs(project.id)) == 1
    assert any("already queued" in t for t in shown(at))


def test_train_page_refuses_a_project_with_nothing_to_train_on(svc):
    empty = svc.create_project("Empty", ["PER"])
    at = AppTest.from_file(str(PAGES / "train.py"), default_timeout=TIMEOUT)
    at.session_state["project_id"] = empty.id
    at.run()
    assert not at.exception
    assert at.button(key="train_start").disabled
    assert any("Nothing to train on" in t for t in shown(at))


def test_train_page_shows_a_running_jobs_progress_and_cancels_it(svc, project):
    job, _ = svc.start_training(project.id, epochs=2)
    with write_session(svc.factory) as s:
        jobs.claim_next(s, "test-worker")
        for step in range(1, 6):
            jobs.report_progress(s, job.id, step=step, total=20, loss=2.0 / step, eta_s=75, tokens_per_s=1234,
                                 dev_f1=0.5 if step in (3, 5) else None)
    at = page("train")
    assert not at.exception
    bar = at.get("progress")[0]
    assert bar.value == 25 or bar.value == 0.25
    assert "step 5 / 20" in bar.proto.text and "1 min 15 s left" in bar.proto.text
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert len(charts) == 2  # loss and dev F1
    at.button(key=f"train_cancel_{job.id}").click().run()
    assert not at.exception
    assert svc.job(job.id).cancel_requested
    assert any("Cancelling" in t for t in shown(at))


def test_train_page_lists_finished_jobs_with_their_message(svc, project):
    job, _ = svc.start_training(project.id)
    with write_session(svc.factory) as s:
        jobs.claim_next(s, "test-worker")
        jobs.finish(s, job.id, "failed", "out of memory <b>boom</b>")
    at = page("train")
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["state"]) == ["failed"]
    assert "out of memory <b>boom</b>" in unmd(at.error[0].value).replace("&lt;", "<").replace("&gt;", ">")
    assert "<b>" not in at.error[0].value


def test_models_page_without_versions_says_how_to_get_one(svc, project):
    at = page("models")
    assert not at.exception
    assert any("No model versions yet" in t for t in shown(at))


def test_models_page_lists_versions_activates_rolls_back_and_compares(svc, project, trained_dir,
                                                                      trained_softmax_dir):
    v1 = svc.register_version(project.id, trained_dir, activate=True)
    v2 = svc.register_version(project.id, trained_softmax_dir)
    at = page("models")
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["version"]) == ["v2", "v1"] and list(table["active"]) == ["", "✓"]
    assert table["dev F1"][1] == pytest.approx(v1.f1, abs=1e-4)
    per_label = at.dataframe[1].value
    assert set(per_label["label"]) == {"PER", "LOC", "ORG"}
    at.button(key="models_activate").click().run()  # v2 is picked first (newest)
    assert not at.exception
    assert svc.active_version(project.id).id == v2.id
    at.selectbox(key="models_pick").select(v1.id).run()
    assert at.button(key="models_activate").label == "Roll back to v1"
    at.button(key="models_activate").click().run()
    assert svc.active_version(project.id).id == v1.id
    compare = at.dataframe[-1].value
    assert "overall" in set(compare.iloc[:, 0])
