"""The worker training a job on several processes (``--processes 2``, gloo on CPU): the version it
saves, progress, cancel, and a training process that dies, before the group forms and during training.

The ranks never touch the database (they train from the job's pickled plan), so one back end is
enough here; tests/test_worker.py runs the rest of the worker on both.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from tests.conftest import FAST_TRAINING
from tests.test_worker import LONG_TRAINING, SENTENCE, claim, model_folders, start_worker, wait_for
from tests.test_worker import processes, project, svc  # noqa: F401 (fixtures)

import worker
from db.session import data_home

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'seqlab.db'}"


def ranks_of(job_id: int) -> dict[int, int]:
    """rank -> pid of the training processes of ``job_id`` alive now (from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            env = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"--rank" in args and any(f"/.job-{job_id}.ranks-".encode() in a for a in args) and state != "Z":
            rank = next(int(v[5:]) for v in env if v.startswith(b"RANK="))
            found[rank] = int(entry.name)
    return found


def run_in_thread(svc, job) -> tuple[threading.Thread, dict]:
    result = {}
    runner = threading.Thread(target=lambda: result.update(
        done=worker.run_job(svc.factory, job, data_home(), processes=2)))
    runner.start()
    return runner, result


def stop(svc, job, runner: threading.Thread) -> None:
    """Cancel ``job`` if a failed test left it training, and wait for its runner."""
    if runner.is_alive() and svc.job(job.id).state == "running":
        svc.cancel_training(job.id)
    runner.join(timeout=60)


def test_a_worker_trains_a_job_on_two_processes(svc, project, processes):
    job, _ = svc.start_training(project.id, **FAST_TRAINING)
    proc = start_worker(svc, processes, "--once", "--processes", "2")
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    done = svc.job(job.id)
    assert done.state == "succeeded", (done.message, output)
    assert done.step == done.total > 0 and done.loss_history  # rank 0's progress reached the job
    assert len(done.dev_history) == FAST_TRAINING["epochs"]
    version = svc.active_version(project.id)
    assert version.job_id == job.id and version.config["world_size"] == 2
    assert {"f1", "per_label", "train_seconds", "tokens_per_s"} <= set(version.metrics)
    meta = json.loads((Path(version.path) / "seqlab.json").read_text())
    assert meta["train_config"]["world_size"] == 2 and meta["job_id"] == job.id
    assert meta["data"]["train_doc_ids"] == version.data["train_doc_ids"]
    spans = svc.load_tagger(version).predict([SENTENCE])[0]
    assert [(s.start, s.end) for s in spans] == [(0, 5), (14, 19)]
    assert model_folders(project.id) == [f"job-{job.id}"]  # the ranks' folder is gone
    assert "training on 2 processes" in output


def test_cancel_stops_every_training_process(svc, project):
    svc.start_training(project.id, **LONG_TRAINING)
    job = claim(svc)
    runner, result = run_in_thread(svc, job)
    try:
        wait_for(lambda: svc.job(job.id).step > 0, 120, "training to start")
        assert sorted(ranks_of(job.id)) == [0, 1]
        svc.cancel_training(job.id)
        wait_for(lambda: svc.job(job.id).state == "cancelled", 5, "the job to be cancelled")
    finally:
        runner.join(timeout=60)
    assert result["done"].state == "cancelled"
    assert ranks_of(job.id) == {}
    assert svc.versions(project.id) == [] and model_folders(project.id) == []


def test_a_training_process_killed_mid_training_fails_the_job(svc, project):
    svc.start_training(project.id, **LONG_TRAINING)
    job = claim(svc)
    runner, result = run_in_thread(svc, job)
    try:
        wait_for(lambda: svc.job(job.id).step > 0, 120, "training to start")
        os.kill(ranks_of(job.id)[1], signal.SIGKILL)
        runner.join(timeout=30)
    finally:
        stop(svc, job, runner)
    done = result["done"]
    assert done.state == "failed"
    assert done.message.startswith("training process 1 of 2 failed: killed by SIGKILL"), done.message
    assert ranks_of(job.id) == {}
    assert svc.versions(project.id) == [] and model_folders(project.id) == []


def test_a_training_process_that_dies_before_the_group_forms_does_not_leave_rank_0_waiting(svc, project):
    """Rank 0 would wait 30 minutes (gloo's rendezvous timeout) for a rank that never comes."""
    svc.start_training(project.id, **FAST_TRAINING)
    job = claim(svc)
    runner, result = run_in_thread(svc, job)
    try:
        pid = wait_for(lambda: ranks_of(job.id).get(1), 30, "rank 1 to start")
        os.kill(pid, signal.SIGKILL)  # still importing torch: long before init_process_group
        asked = time.monotonic()
        runner.join(timeout=30)
        assert not runner.is_alive() and time.monotonic() - asked < 30
    finally:
        stop(svc, job, runner)
    assert result["done"].state == "failed" and "training process 1 of 2 failed" in result["done"].message
    assert ranks_of(job.id) == {}


def test_a_worker_killed_with_9_takes_its_training_processes_with_it(svc, project, processes):
    job, _ = svc.start_training(project.id, **LONG_TRAINING)
    proc = start_worker(svc, processes, "--processes", "2")
    wait_for(lambda: svc.job(job.id).step > 0 or proc.poll() is not None, 120, "training to start")
    assert sorted(ranks_of(job.id)) == [0, 1]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    wait_for(lambda: ranks_of(job.id) == {}, 10, "the ranks to die with their worker")


def test_a_job_that_fails_on_every_process_says_why(svc, project):
    from db import repo
    from db.session import write_session

    with write_session(svc.factory) as s:
        repo.update_project(s, project.id, base_model=str(data_home() / "no-such-model"))
    svc.start_training(project.id, **FAST_TRAINING)
    done = worker.run_job(svc.factory, claim(svc), data_home(), processes=2)
    assert done.state == "failed" and done.message.startswith("training process 0 of 2 failed: "), done.message
    assert "no-such-model" in done.message
    assert svc.versions(project.id) == [] and model_folders(project.id) == []


@pytest.mark.parametrize("args, error", [
    (["--processes", "0"], "--processes must be at least 1"),
    (["--device", "tpu"], "--device must be cpu or cuda"),
])
def test_the_worker_refuses_a_placement_it_cannot_give(args, error, capsys):
    with pytest.raises(SystemExit) as exit_:
        worker.main(args)
    assert exit_.value.code == 2 and error in capsys.readouterr().err


def test_the_worker_refuses_cuda_without_a_gpu(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(SystemExit):
        worker.main(["--device", "cuda"])
    assert "no CUDA device here" in capsys.readouterr().err
