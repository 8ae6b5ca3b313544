"""The background worker: a job run in-process, a real ``python -m worker``, kill -9 mid-training,
cancel, and starting a worker only when none is alive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.conftest import FAST_TRAINING, add_labelled_project
from sqlalchemy import func, select, text

import worker
from db import jobs, repo
from db.models import Document, History, SpanRow
from db.session import data_home, write_session

ROOT = Path(__file__).resolve().parents[1]
SENTENCE = "Alice went to Paris ."
# Thousands of steps: long enough to kill or cancel a job while it trains.
LONG_TRAINING = {**FAST_TRAINING, "epochs": 400}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py


@pytest.fixture()
def svc(training_svc):
    return training_svc


@pytest.fixture()
def project(svc, tiny_base):
    return add_labelled_project(svc, tiny_base, n=60)


@pytest.fixture()
def processes():
    """Worker processes a test starts (directly or through ensure_worker), all killed at the end."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in started + worker._spawned:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    worker._spawned.clear()


def claim(svc, name="test"):
    with write_session(svc.factory) as s:
        return jobs.claim_next(s, name)


def train_now(svc, project_id, **overrides):
    """Queue a job and run it in this process as the worker would; the finished job."""
    svc.start_training(project_id, **{**FAST_TRAINING, **overrides})
    return worker.run_job(svc.factory, claim(svc), data_home())


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"waited {timeout} s for {what}")


def worker_env(svc) -> dict[str, str]:
    return {**os.environ, "SEQLAB_DB_URL": str(svc.engine.url), "SEQLAB_HOME": str(data_home()),
            "OMP_NUM_THREADS": "1", "SEQLAB_WORKER_THREADS": "1", "PYTHONPATH": str(ROOT)}


def start_worker(svc, processes, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "worker", "--poll", "0.2", *args], cwd=ROOT,
                            env=worker_env(svc), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    processes.append(proc)
    return proc


def model_folders(project_id) -> list[str]:
    folder = data_home() / "models" / f"project-{project_id}"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ----------------------------------------------------------------------------- in-process


def test_a_job_saves_a_version_that_is_activated_and_predicts(svc, project):
    done = train_now(svc, project.id)
    assert done.state == "succeeded" and done.step == done.total > 0
    assert done.message.startswith("v1: dev F1 ") and done.message.endswith(", activated")
    assert len(done.dev_history) == FAST_TRAINING["epochs"] and done.loss_history
    version = svc.active_version(project.id)
    assert version.job_id == done.id and version.parent_id is None
    assert Path(version.path) == data_home() / "models" / f"project-{project.id}" / f"job-{done.id}"
    assert {"precision", "recall", "f1", "per_label", "train_seconds", "tokens_per_s"} <= set(version.metrics)
    assert version.config["epochs"] == 3 and version.config["warm_start"] == "base"
    data = svc.training_documents(project.id)
    assert version.data["train_doc_ids"] == list(data.train_ids) and version.data["dev_docs"] == len(data.dev)
    spans = svc.load_tagger(version).predict([SENTENCE])[0]
    assert [(s.start, s.end) for s in spans] == [(0, 5), (14, 19)]
    assert model_folders(project.id) == [f"job-{done.id}"]


def test_a_worse_version_is_kept_but_not_activated(svc, project):
    good = train_now(svc, project.id)
    worse = train_now(svc, project.id, epochs=1, lr=1e-6, head_lr=1e-6, warm_start="base")
    active = svc.active_version(project.id)
    newest = svc.versions(project.id)[0]
    assert active.job_id == good.id and newest.job_id == worse.id and newest.parent_id == active.id
    assert newest.f1 < active.f1
    assert worse.state == "succeeded" and worse.message.endswith(f"not activated (v1 has {active.f1:.3f})")


def test_without_auto_activate_a_new_version_waits_for_the_user(svc, project):
    with write_session(svc.factory) as s:
        repo.update_project(s, project.id, auto_activate=False)
    done = train_now(svc, project.id)
    assert svc.active_version(project.id) is None and len(svc.versions(project.id)) == 1
    assert done.message.endswith("; activate it on the Models page")


@pytest.mark.parametrize(
    "auto, new, active, has_active, expected",
    [(True, 0.8, None, False, True), (True, None, None, False, True), (True, 0.8, 0.8, True, True),
     (True, 0.79, 0.8, True, False), (True, None, 0.8, True, False), (True, 0.5, None, True, True),
     (False, 0.9, 0.1, True, False), (False, 0.9, None, False, False)],
)
def test_the_auto_activation_rule(auto, new, active, has_active, expected):
    assert worker.should_activate(auto, new, active, has_active) is expected


def test_without_dev_documents_the_version_says_it_held_some_out(svc, tiny_base):
    project = add_labelled_project(svc, tiny_base, n=60, split="train")
    train_now(svc, project.id)
    version = svc.versions(project.id)[0]
    assert version.data["dev_holdout"] is True and version.data["dev_docs"] >= 1
    with svc.factory() as s:  # every checked document went in, on one side or the other
        assert version.data["train_docs"] + version.data["dev_docs"] == len(repo.list_documents(s, project.id))
    assert not set(version.data["train_doc_ids"]) & set(version.data["dev_doc_ids"])


def test_warm_start_from_the_active_version(svc, project):
    first = train_now(svc, project.id)
    second = train_now(svc, project.id, epochs=1, warm_start="active")
    newest = svc.versions(project.id)[0]
    assert second.state == "succeeded" and newest.config["warm_start"] == "active"
    assert newest.parent_id == svc.versions(project.id)[1].id and first.state == "succeeded"


def test_by_default_a_job_continues_from_the_active_version(svc, project):
    train_now(svc, project.id)
    train_now(svc, project.id, epochs=1)
    first, second = svc.versions(project.id)[::-1]
    assert first.config["warm_start"] == "base"  # nothing to continue from yet
    assert second.config["warm_start"] == "active" and second.parent_id == first.id


def test_an_active_warm_start_does_not_ignore_a_new_base_model(svc, project, tiny_base, tmp_path):
    import shutil

    train_now(svc, project.id)
    other = shutil.copytree(tiny_base, tmp_path / "other-bert")
    with write_session(svc.factory) as s:
        repo.update_project(s, project.id, base_model=str(other))
    done = train_now(svc, project.id, warm_start="active")
    newest = svc.versions(project.id)[0]
    assert done.state == "succeeded"
    assert newest.config["warm_start"] == "base" and newest.config["base_model"] == str(other)


@pytest.mark.parametrize("docs, epochs", [(1, 20), (50, 20), (100, 12), (200, 6), (500, 4), (1999, 4)])
def test_small_data_gets_enough_steps_in_small_batches_with_frozen_embeddings(docs, epochs):
    schedule = worker.auto_schedule(docs)
    assert schedule == {"epochs": epochs, "batch_size": worker.SMALL_BATCH, "freeze_embeddings": True,
                        "length_chunk": worker.SMALL_LENGTH_CHUNK}
    steps_per_epoch = -(-docs // worker.SMALL_BATCH)
    assert epochs * steps_per_epoch >= min(worker.MIN_STEPS, worker.MAX_EPOCHS * steps_per_epoch)


def test_large_data_keeps_the_train_config_defaults():
    from tagger.train import TrainConfig

    default = TrainConfig()
    assert worker.auto_schedule(14041) == {"epochs": default.epochs, "batch_size": default.batch_size,
                                           "freeze_embeddings": default.freeze_embeddings,
                                           "length_chunk": default.length_chunk}


def test_a_job_that_sets_epochs_keeps_them_and_gets_the_rest_of_the_schedule(svc, project):
    config, warm = worker.job_config(project, {"epochs": 2, "warm_start": "active"}, train_docs=200)
    assert (config.epochs, config.batch_size, config.freeze_embeddings, warm) == (2, 8, True, "active")
    config, _ = worker.job_config(project, {}, train_docs=200)
    assert (config.epochs, config.batch_size) == (6, 8)


@pytest.mark.parametrize("docs, scored", [(10, 100), (200, 100), (1000, 500), (14041, 7021)])
def test_each_epoch_is_scored_on_half_as_many_dev_documents_as_training_ones(docs, scored):
    assert worker.epoch_dev_docs(docs) == scored


def test_a_job_scores_epochs_on_a_dev_sample_and_its_version_on_all_dev(svc, project, monkeypatch):
    monkeypatch.setattr(worker, "EPOCH_DEV_MIN", 3)
    monkeypatch.setattr(worker, "EPOCH_DEV_SHARE", 0.0)
    done = train_now(svc, project.id)
    version = svc.versions(project.id)[0]
    data = svc.training_documents(project.id)
    assert len(data.dev) > 3 and version.data["epoch_dev_docs"] == 3
    assert version.metrics["support"] == sum(len(e.spans) for e in data.dev)
    assert len(done.dev_history) == FAST_TRAINING["epochs"]
    assert 0 <= version.metrics["eval_seconds"] <= version.metrics["train_seconds"]


def test_a_failing_job_is_failed_with_its_message_and_leaves_no_folder(svc, project):
    with write_session(svc.factory) as s:
        repo.update_project(s, project.id, base_model=str(data_home() / "no-such-model"))
    done = train_now(svc, project.id)
    assert done.state == "failed" and "no-such-model" in done.message
    assert svc.versions(project.id) == [] and model_folders(project.id) == []


def test_cancel_stops_a_running_job_within_5_seconds(svc, project):
    svc.start_training(project.id, **LONG_TRAINING)
    job = claim(svc)
    result = {}
    runner = threading.Thread(target=lambda: result.update(done=worker.run_job(svc.factory, job, data_home())))
    runner.start()
    try:
        wait_for(lambda: svc.job(job.id).step > 0, 60, "training to start")
        svc.cancel_training(job.id)
        asked = time.monotonic()
        wait_for(lambda: svc.job(job.id).state == "cancelled", 5, "the job to be cancelled")
        assert time.monotonic() - asked < 5
    finally:
        runner.join(timeout=60)
    assert result["done"].state == "cancelled"
    assert svc.versions(project.id) == [] and model_folders(project.id) == []


def test_the_heartbeat_sees_a_cancel_even_when_no_step_ends(svc, project):
    svc.start_training(project.id, **FAST_TRAINING)
    job = claim(svc)
    with worker._Reporter(svc.factory, job.id, heartbeat_s=0.1) as reporter:
        svc.cancel_training(job.id)
        wait_for(reporter.should_cancel, 5, "the heartbeat to see the cancel")
    assert svc.job(job.id).heartbeat_at > job.heartbeat_at


def test_leftover_folders_of_finished_jobs_are_removed(svc, project):
    done = train_now(svc, project.id)
    folder = data_home() / "models" / f"project-{project.id}"
    (folder / ".job-900.tmp-abc").mkdir()  # a save killed half-way (no such job any more)
    (folder / "job-901").mkdir()  # saved, killed before the version row
    svc.start_training(project.id, **LONG_TRAINING)
    running = claim(svc)
    (folder / f".job-{running.id}.tmp-xyz").mkdir()  # another worker saving right now: keep
    removed = worker.remove_leftovers(svc.factory, data_home())
    assert sorted(p.name for p in removed) == [".job-900.tmp-abc", "job-901"]
    assert model_folders(project.id) == [f".job-{running.id}.tmp-xyz", f"job-{done.id}"]


# ----------------------------------------------------------------------------- real processes


def test_a_worker_process_runs_a_job_end_to_end(svc, project, processes):
    job, _ = svc.start_training(project.id, **FAST_TRAINING)
    proc = start_worker(svc, processes, "--once")
    output, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, output
    done = svc.job(job.id)
    assert done.state == "succeeded", (done.message, output)
    assert done.worker.endswith(f":{proc.pid}")
    assert svc.load_tagger(svc.active_version(project.id)).predict([SENTENCE])[0]


def _counts(svc) -> tuple[int, int, int]:
    with svc.factory() as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in (Document, SpanRow, History))


def test_kill_9_mid_training_loses_nothing_and_the_job_is_failed_on_restart(svc, project, processes):
    before = train_now(svc, project.id)
    counts = _counts(svc)
    job, _ = svc.start_training(project.id, **LONG_TRAINING)
    proc = start_worker(svc, processes)
    wait_for(lambda: svc.job(job.id).step > 0 or proc.poll() is not None, 120, "training to start")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert svc.job(job.id).state == "running"  # nobody has noticed yet
    active = svc.active_version(project.id)
    assert active.job_id == before.id and svc.load_tagger(active).predict([SENTENCE])[0]
    time.sleep(1.5)  # let the last heartbeat age past --stale 1
    restart = start_worker(svc, processes, "--once", "--stale", "1")
    output, _ = restart.communicate(timeout=180)
    assert restart.returncode == 0, output
    failed = svc.job(job.id)
    assert failed.state == "failed" and failed.message.startswith(
        "the worker running this job stopped (no heartbeat since "), failed.message
    assert _counts(svc) == counts
    if svc.engine.dialect.name == "sqlite":  # PostgreSQL has no such check; its WAL recovery is its own
        with svc.factory() as s:
            assert s.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    assert model_folders(project.id) == [f"job-{before.id}"]
    assert [v.job_id for v in svc.versions(project.id)] == [before.id]


def test_ensure_worker_starts_one_only_when_none_is_alive(svc, processes, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert not svc.worker_alive()
    assert svc.ensure_worker() is True
    first = worker._spawned[-1]
    assert svc.worker_alive()  # the lock was handed over: alive before the child even runs
    assert svc.ensure_worker() is False and worker._spawned == [first]
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    assert not svc.worker_alive()
    assert svc.ensure_worker() is True and worker._spawned[-1].pid != first.pid
    assert (data_home() / "worker.log").exists()


def test_pages_starting_workers_at_once_start_one(svc, processes, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    barrier, results = threading.Barrier(4), []

    def page_run():
        barrier.wait()
        results.append(svc.ensure_worker())

    threads = [threading.Thread(target=page_run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True] and len(worker._spawned) == 1


def test_a_worker_started_by_hand_counts_as_alive(svc, processes):
    proc = start_worker(svc, processes)
    wait_for(svc.worker_alive, 60, "the worker to take its lock")
    assert svc.ensure_worker() is False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not svc.worker_alive()
