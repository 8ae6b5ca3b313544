"""The training-job queue on a real SQLite file: states, dedupe, claiming, cancel, stale workers."""

from __future__ import annotations

import multiprocessing as mp
import time
from datetime import UTC, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import text

from db import jobs, repo
from db.models import TrainingJob, utcnow
from db.session import make_engine, session_factory, write_session
from tagger.spans import SeqLabError

CONFIG = {"epochs": 3, "lr": 0.001, "decoder": "crf"}


@pytest.fixture()
def project_id(factory):
    with write_session(factory) as s:
        return repo.create_project(s, "NER", ["PER", "LOC"]).id


def _enqueue(factory, project_id, config=CONFIG, fingerprint="fp"):
    with write_session(factory) as s:
        return jobs.enqueue(s, project_id, config, fingerprint)


def _claim(factory, worker="w1"):
    with write_session(factory) as s:
        return jobs.claim_next(s, worker)


def _running(factory, project_id, fingerprint="fp"):
    job, _ = _enqueue(factory, project_id, fingerprint=fingerprint)
    claimed = _claim(factory)
    assert claimed.id == job.id
    return claimed


# ----------------------------------------------------------------------------- state machine


def test_a_new_job_is_queued_with_utc_timestamps(factory, project_id):
    job, created = _enqueue(factory, project_id)
    assert created and job.state == "queued" and job.config == CONFIG and job.fingerprint == "fp"
    with factory() as s:
        again = jobs.get_job(s, job.id)
    assert again.created_at.tzinfo is not None and again.created_at.utcoffset() == timedelta(0)
    assert (again.started_at, again.finished_at, again.heartbeat_at, again.worker) == (None, None, None, None)
    assert again.loss_history == () and again.cancel_requested is False


@pytest.mark.parametrize("final", ["succeeded", "failed", "cancelled"])
def test_queued_running_finished(factory, project_id, final):
    job = _running(factory, project_id)
    assert job.state == "running" and job.worker == "w1"
    assert job.started_at is not None and job.heartbeat_at is not None
    assert job.started_at.tzinfo is not None
    with write_session(factory) as s:
        done = jobs.finish(s, job.id, final, message="done")
    assert (done.state, done.message) == (final, "done")
    assert done.finished_at is not None and done.finished_at >= done.started_at
    with factory() as s:
        assert jobs.get_job(s, job.id).state == final


def test_illegal_transitions_raise(factory, project_id):
    queued, _ = _enqueue(factory, project_id)
    with pytest.raises(ValueError, match="not running"), write_session(factory) as s:
        jobs.finish(s, queued.id, "succeeded")  # never claimed
    running = _claim(factory)
    with pytest.raises(ValueError, match="finishes as one of"), write_session(factory) as s:
        jobs.finish(s, running.id, "queued")
    with pytest.raises(ValueError), write_session(factory) as s:
        jobs.finish(s, running.id, "running")
    with write_session(factory) as s:
        jobs.finish(s, running.id, "succeeded")
    with pytest.raises(ValueError, match="succeeded, not running"), write_session(factory) as s:
        jobs.finish(s, running.id, "failed")  # finished jobs stay finished
    with factory() as s:
        assert jobs.get_job(s, running.id).state == "succeeded"
    # a programming error, not a user error
    with pytest.raises(ValueError) as info, write_session(factory) as s:
        jobs.finish(s, running.id, "failed")
    assert not isinstance(info.value, SeqLabError)


def test_unknown_jobs_and_projects_are_not_found(factory, project_id):
    with factory() as s:
        with pytest.raises(repo.NotFound):
            jobs.get_job(s, 999)
        with pytest.raises(repo.NotFound):
            jobs.request_cancel(s, 999)
        with pytest.raises(repo.NotFound):
            jobs.enqueue(s, 999, CONFIG, "fp")


# ----------------------------------------------------------------------------- enqueue dedupe


def test_two_clicks_queue_one_job(factory, project_id):
    first, created1 = _enqueue(factory, project_id)
    second, created2 = _enqueue(factory, project_id, config=dict(reversed(list(CONFIG.items()))))
    assert (created1, created2) == (True, False) and first.id == second.id
    _claim(factory)  # still the same job while running
    third, created3 = _enqueue(factory, project_id)
    assert (created3, third.id, third.state) == (False, first.id, "running")
    with factory() as s:
        assert len(jobs.list_jobs(s, project_id)) == 1


def test_a_finished_job_does_not_block_a_new_one(factory, project_id):
    job = _running(factory, project_id)
    with write_session(factory) as s:
        jobs.finish(s, job.id, "succeeded")
    again, created = _enqueue(factory, project_id)
    assert created and again.id != job.id and again.state == "queued"


def test_different_config_or_fingerprint_or_project_is_a_new_job(factory, project_id):
    with write_session(factory) as s:
        other_project = repo.create_project(s, "Other", ["X"]).id
    a, _ = _enqueue(factory, project_id)
    b, created_b = _enqueue(factory, project_id, config={**CONFIG, "epochs": 4})
    c, created_c = _enqueue(factory, project_id, fingerprint="fp2")
    d, created_d = _enqueue(factory, other_project)
    assert created_b and created_c and created_d
    assert len({a.id, b.id, c.id, d.id}) == 4


def test_list_jobs_newest_first_with_limit(factory, project_id):
    ids = [_enqueue(factory, project_id, fingerprint=f"fp{i}")[0].id for i in range(5)]
    with factory() as s:
        assert [j.id for j in jobs.list_jobs(s, project_id)] == ids[::-1]
        assert [j.id for j in jobs.list_jobs(s, project_id, limit=2)] == ids[:2:-1][:2]


# ----------------------------------------------------------------------------- claiming


def test_claim_takes_the_oldest_first_and_none_when_empty(factory, project_id):
    assert _claim(factory) is None
    ids = [_enqueue(factory, project_id, fingerprint=f"fp{i}")[0].id for i in range(3)]
    claimed = [_claim(factory, f"w{i}") for i in range(3)]
    assert [j.id for j in claimed] == ids
    assert [j.worker for j in claimed] == ["w0", "w1", "w2"]
    assert _claim(factory) is None


def test_claim_skips_cancelled_jobs(factory, project_id):
    first, _ = _enqueue(factory, project_id, fingerprint="a")
    second, _ = _enqueue(factory, project_id, fingerprint="b")
    with write_session(factory) as s:
        jobs.request_cancel(s, first.id)
    assert _claim(factory).id == second.id
    assert _claim(factory) is None


# ----------------------------------------------------------------------------- cancel


def test_cancel_a_queued_job_at_once(factory, project_id):
    job, _ = _enqueue(factory, project_id)
    with write_session(factory) as s:
        cancelled = jobs.request_cancel(s, job.id)
    assert cancelled.state == "cancelled" and cancelled.finished_at is not None
    with pytest.raises(SeqLabError, match=f"job {job.id} already cancelled"), write_session(factory) as s:
        jobs.request_cancel(s, job.id)


def test_cancel_a_running_job_through_its_worker(factory, project_id):
    job = _running(factory, project_id)
    with write_session(factory) as s:
        assert jobs.report_progress(s, job.id, step=1, total=10, loss=2.0) is False
        assert jobs.heartbeat(s, job.id) is False
    with write_session(factory) as s:
        flagged = jobs.request_cancel(s, job.id)
    assert flagged.state == "running" and flagged.cancel_requested
    with write_session(factory) as s:
        assert jobs.report_progress(s, job.id, step=2, total=10, loss=1.5) is True
        assert jobs.heartbeat(s, job.id) is True
        done = jobs.finish(s, job.id, "cancelled", "cancelled by the user")
    assert done.state == "cancelled" and done.step == 2
    with pytest.raises(SeqLabError, match="already cancelled"), write_session(factory) as s:
        jobs.request_cancel(s, job.id)


def test_a_finished_job_cannot_be_cancelled(factory, project_id):
    job = _running(factory, project_id)
    with write_session(factory) as s:
        jobs.finish(s, job.id, "succeeded")
    with pytest.raises(SeqLabError, match=f"job {job.id} already succeeded"), write_session(factory) as s:
        jobs.request_cancel(s, job.id)


# ----------------------------------------------------------------------------- progress


def test_progress_is_persisted(factory, project_id):
    job = _running(factory, project_id)
    with write_session(factory) as s:
        jobs.report_progress(s, job.id, step=5, total=20, loss=0.7, eta_s=12.5, tokens_per_s=900.0, dev_f1=0.4)
        jobs.report_progress(s, job.id, step=6, total=20, loss=float("nan"))
    with factory() as s:
        now = jobs.get_job(s, job.id)
    assert (now.step, now.total, now.eta_s, now.tokens_per_s) == (6, 20, None, None)
    assert now.loss_history == ((5, 0.7), (6, None))
    assert now.dev_history == ((5, 0.4),)
    assert now.heartbeat_at >= job.heartbeat_at and now.progress == pytest.approx(0.3)


def test_loss_history_thins_evenly_keeping_first_and_last(factory, project_id):
    job = _running(factory, project_id)
    n = 1300
    with write_session(factory) as s:
        for step in range(n):
            jobs.report_progress(s, job.id, step=step, total=n, loss=1.0 / (step + 1))
            hist = jobs.get_job(s, job.id).loss_history
            assert len(hist) <= jobs.MAX_LOSS_POINTS
    steps = [p[0] for p in hist]
    assert steps[0] == 0 and steps[-1] == n - 1
    assert steps == sorted(set(steps))
    assert len(hist) > jobs.MAX_LOSS_POINTS // 4
    gaps = {b - a for a, b in pairwise(steps[:-1])}
    assert len(gaps) == 1  # evenly spaced (apart from the newest point)


@pytest.mark.parametrize("limit", [4, 7, 50])
@pytest.mark.parametrize("every", [1, 3])
def test_append_point_stays_bounded_and_even(limit, every):
    history: list = []
    for step in range(0, 2000, every):
        history = jobs.append_point(history, [step, 1.0], limit)
        assert len(history) <= limit
        assert history[0][0] == 0 and history[-1][0] == step
        grid = [p[0] for p in history[:-1]]
        assert len({b - a for a, b in pairwise(grid)}) <= 1


def test_progress_on_a_job_that_is_no_longer_running_says_stop(factory, project_id):
    job = _running(factory, project_id)
    with write_session(factory) as s:
        jobs.fail_stale(s, older_than_s=0, now=utcnow() + timedelta(seconds=1))
    with write_session(factory) as s:
        assert jobs.report_progress(s, job.id, step=3, total=10, loss=1.0) is True
        assert jobs.heartbeat(s, job.id) is True
        assert jobs.get_job(s, job.id).step == 0  # nothing written to a failed job


# ----------------------------------------------------------------------------- stale workers


def test_fail_stale_marks_only_stale_running_jobs(factory, project_id):
    stale = _running(factory, project_id, fingerprint="stale")
    fresh = _running(factory, project_id, fingerprint="fresh")
    queued, _ = _enqueue(factory, project_id, fingerprint="queued")
    now = utcnow()
    with write_session(factory) as s:  # the stale worker's last beat was two minutes ago
        s.get(TrainingJob, stale.id).heartbeat_at = now - timedelta(seconds=120)
    with write_session(factory) as s:
        jobs.heartbeat(s, fresh.id)
        failed = jobs.fail_stale(s, older_than_s=60, now=now)
    assert [j.id for j in failed] == [stale.id]
    assert failed[0].state == "failed" and failed[0].message.startswith(
        "the worker running this job stopped (no heartbeat since ")
    assert failed[0].finished_at is not None
    with factory() as s:
        assert jobs.get_job(s, fresh.id).state == "running"
        assert jobs.get_job(s, queued.id).state == "queued"
        assert jobs.get_job(s, stale.id).state == "failed"
    with write_session(factory) as s:
        assert jobs.fail_stale(s, older_than_s=60, now=now) == []


def test_fail_stale_accepts_naive_utc_now(factory, project_id):
    job = _running(factory, project_id)
    later = (utcnow() + timedelta(minutes=5)).astimezone(UTC).replace(tzinfo=None)
    with write_session(factory) as s:
        assert [j.id for j in jobs.fail_stale(s, now=later)] == [job.id]


# ----------------------------------------------------------------------------- two workers


def _claimer(url: str, who: str, barrier, results, errors) -> None:
    factory = session_factory(make_engine(url))
    claimed = []
    try:
        barrier.wait(timeout=120)
        while True:
            with write_session(factory) as s:
                job = jobs.claim_next(s, who)
            if job is None:
                break
            claimed.append(job.id)
            with write_session(factory) as s:
                jobs.report_progress(s, job.id, step=1, total=1, loss=0.1)
                jobs.finish(s, job.id, "succeeded")
            time.sleep(0.002)  # the training, outside any transaction
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the test
        errors.put(f"{who}: {exc!r}")
    results.put((who, claimed))


def test_two_workers_claim_every_job_exactly_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    factory = session_factory(make_engine(url))
    with write_session(factory) as s:
        pid = repo.create_project(s, "busy").id
        ids = {jobs.enqueue(s, pid, {"n": i}, f"fp{i}")[0].id for i in range(200)}
    ctx = mp.get_context("spawn")
    barrier, results, errors = ctx.Barrier(2), ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(url, who, barrier, results, errors)) for who in ("a", "b")]
    for p in procs:
        p.start()
    got = dict(results.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert errors.empty(), errors.get()
    every = got["a"] + got["b"]
    assert len(every) == len(set(every)) == 200 and set(every) == ids
    with factory() as s:
        finished = jobs.list_jobs(s, pid, limit=1000)
        assert {j.state for j in finished} == {"succeeded"}
        assert {j.id for j in finished if j.worker == "a"} == set(got["a"])
        assert s.execute(text("PRAGMA integrity_check")).scalar() == "ok"
