"""The training-job queue: ``(session, ...) -> JobInfo``; the background worker's side and the app's.

States: ``queued -> running -> succeeded | failed | cancelled`` (a queued job may also go straight to
``cancelled``). The caller owns the session and should use :func:`db.session.write_session` for every
function that writes (on SQLite that transaction begins IMMEDIATE, so two workers queue for the lock).
Every state change is also a conditional ``UPDATE ... WHERE state = <expected>`` whose row count is
checked, so a transition that lost a race never silently overwrites the winner on other databases.

``loss_history`` holds ``[step, loss]`` pairs and ``dev_history`` ``[step, dev_f1]`` pairs, so the
x-axis stays right after the loss history is thinned (it keeps at most :data:`MAX_LOSS_POINTS`, evenly
spaced, see :func:`append_point`; the dev history keeps the last :data:`MAX_DEV_POINTS`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tagger.spans import SeqLabError

from .models import JOB_STATES, TrainingJob, utcnow
from .repo import NotFound, _project

ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("succeeded", "failed", "cancelled")
MAX_LOSS_POINTS = 500
MAX_DEV_POINTS = 500
assert set(ACTIVE_STATES + FINAL_STATES) == set(JOB_STATES)


@dataclass(frozen=True)
class JobInfo:
    id: int
    project_id: int
    state: str
    config: dict[str, Any]
    fingerprint: str | None
    worker: str | None
    step: int
    total: int
    eta_s: float | None
    tokens_per_s: float | None
    loss_history: tuple[tuple[int, float | None], ...]
    dev_history: tuple[tuple[int, float | None], ...]
    message: str | None
    cancel_requested: bool
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def progress(self) -> float:
        """0..1 (0 when the total is not known yet)."""
        return min(1.0, self.step / self.total) if self.total > 0 else 0.0


# ----------------------------------------------------------------------------- the app's side


def enqueue(session: Session, project_id: int, config: dict[str, Any], fingerprint: str) -> tuple[JobInfo, bool]:
    """Queue a job; ``(job, created)``. A queued or running job of the project with the same
    fingerprint and config is returned instead (``created=False``): two clicks, one job."""
    _project(session, project_id)  # NotFound for an unknown project
    config = _canonical(config)
    rows = session.scalars(
        select(TrainingJob)
        .where(TrainingJob.project_id == project_id, TrainingJob.state.in_(ACTIVE_STATES),
               TrainingJob.fingerprint == fingerprint)
        .order_by(TrainingJob.id)
    ).all()
    for row in rows:
        if _canonical(row.config or {}) == config:
            return _info(row), False
    row = TrainingJob(project_id=project_id, state="queued", config=config, fingerprint=fingerprint,
                      created_at=utcnow())
    session.add(row)
    session.flush()
    return _info(row), True


def request_cancel(session: Session, job_id: int) -> JobInfo:
    """A queued job is cancelled at once; a running one is flagged and its worker finishes it."""
    for _ in range(3):  # the job may change state between the read and the conditional update
        row = _job(session, job_id)
        if row.state == "queued":
            now = utcnow()
            if _transition(session, job_id, "queued", state="cancelled", cancel_requested=True,
                           finished_at=now, message="cancelled before it started"):
                return get_job(session, job_id)
        elif row.state == "running":
            if _transition(session, job_id, "running", cancel_requested=True):
                return get_job(session, job_id)
        else:
            raise SeqLabError(f"job {job_id} already {row.state}")
    raise SeqLabError(f"job {job_id} is changing state; try again")


def get_job(session: Session, job_id: int) -> JobInfo:
    return _info(_job(session, job_id))


def job_state(session: Session, job_id: int) -> str | None:
    """The job's state, or None when there is no such job."""
    return session.scalar(select(TrainingJob.state).where(TrainingJob.id == job_id))


def active_job(session: Session, project_id: int) -> JobInfo | None:
    """The project's newest queued or running job, if any."""
    row = session.scalar(
        select(TrainingJob).where(TrainingJob.project_id == project_id, TrainingJob.state.in_(ACTIVE_STATES))
        .order_by(TrainingJob.created_at.desc(), TrainingJob.id.desc()).limit(1)
    )
    return _info(row) if row else None


def training_now(session: Session) -> bool:
    """Whether a job of any project is running."""
    return session.scalar(select(TrainingJob.id).where(TrainingJob.state == "running").limit(1)) is not None


def list_jobs(session: Session, project_id: int, limit: int = 50) -> list[JobInfo]:
    """The project's jobs, newest first."""
    rows = session.scalars(
        select(TrainingJob).where(TrainingJob.project_id == project_id)
        .order_by(TrainingJob.created_at.desc(), TrainingJob.id.desc()).limit(limit)
    ).all()
    return [_info(r) for r in rows]


# ----------------------------------------------------------------------------- the worker's side


def claim_next(session: Session, worker: str) -> JobInfo | None:
    """Take the oldest queued job (queued -> running) for ``worker``; None when there is none.

    Call it inside :func:`write_session`. The UPDATE is conditional on ``state = 'queued'`` and its
    row count checked, so on a database without IMMEDIATE transactions a job another worker took
    in between is skipped, never taken twice.
    """
    skipped: set[int] = set()
    while True:
        query = (select(TrainingJob.id).where(TrainingJob.state == "queued")
                 .order_by(TrainingJob.created_at, TrainingJob.id).limit(1))
        if skipped:
            query = query.where(TrainingJob.id.not_in(skipped))
        job_id = session.scalar(query)
        if job_id is None:
            return None
        now = utcnow()
        if _transition(session, job_id, "queued", state="running", worker=worker, started_at=now,
                       heartbeat_at=now, step=0, message=None):
            return get_job(session, job_id)
        skipped.add(job_id)


def report_progress(session: Session, job_id: int, *, step: int, total: int, loss: float | None = None,
                    eta_s: float | None = None, tokens_per_s: float | None = None,
                    dev_f1: float | None = None) -> bool:
    """Record progress and beat the heart; True means stop (cancel requested, or the job is no
    longer running, e.g. :func:`fail_stale` gave up on it)."""
    row = _job(session, job_id)
    if row.state != "running":
        return True
    values: dict[str, Any] = {"step": int(step), "total": int(total), "heartbeat_at": utcnow(),
                              "eta_s": _finite(eta_s), "tokens_per_s": _finite(tokens_per_s)}
    if loss is not None:
        values["loss_history"] = append_point(row.loss_history or [], [int(step), _finite(loss)], MAX_LOSS_POINTS)
    if dev_f1 is not None:
        values["dev_history"] = [*_pairs(row.dev_history), [int(step), _finite(dev_f1)]][-MAX_DEV_POINTS:]
    if not _transition(session, job_id, "running", **values):
        return True
    return bool(session.scalar(select(TrainingJob.cancel_requested).where(TrainingJob.id == job_id)))


def heartbeat(session: Session, job_id: int) -> bool:
    """Beat the heart; True means stop (as for :func:`report_progress`)."""
    _job(session, job_id)
    if not _transition(session, job_id, "running", heartbeat_at=utcnow()):
        return True
    return bool(session.scalar(select(TrainingJob.cancel_requested).where(TrainingJob.id == job_id)))


def finish(session: Session, job_id: int, state: str, message: str | None = None) -> JobInfo:
    """running -> succeeded | failed | cancelled. Anything else is a programming error (ValueError)."""
    if state not in FINAL_STATES:
        raise ValueError(f"a job finishes as one of {FINAL_STATES}, not {state!r}")
    row = _job(session, job_id)
    if row.state != "running" or not _transition(session, job_id, "running", state=state, message=message,
                                                 finished_at=utcnow()):
        current = session.scalar(select(TrainingJob.state).where(TrainingJob.id == job_id))
        raise ValueError(f"job {job_id} is {current}, not running; it cannot become {state}")
    return get_job(session, job_id)


def fail_stale(session: Session, older_than_s: float = 60.0, now: datetime | None = None) -> list[JobInfo]:
    """Mark running jobs whose heartbeat is older than ``older_than_s`` failed (their worker died)."""
    now = _aware(now) or utcnow()
    cutoff = now - timedelta(seconds=older_than_s)
    failed = []
    for row in session.scalars(select(TrainingJob).where(TrainingJob.state == "running").order_by(TrainingJob.id)).all():
        last = _aware(row.heartbeat_at) or _aware(row.started_at)
        if last is not None and last >= cutoff:
            continue
        since = last.isoformat(timespec="seconds") if last else "it started"
        if _transition(session, row.id, "running", state="failed", finished_at=now,
                       message=f"the worker running this job stopped (no heartbeat since {since})"):
            failed.append(get_job(session, row.id))
    return failed


# ----------------------------------------------------------------------------- helpers


def append_point(history: list, point: list, limit: int = MAX_LOSS_POINTS) -> list:
    """``history + [point]``, kept even and bounded: the first point, a grid of points evenly spaced
    in steps, and the newest point. Over ``limit`` the grid is halved (every other point) and
    the grid spacing doubles; a newest point off the grid is replaced by the next one."""
    limit = max(limit, 4)
    points = [list(p) for p in history]
    if len(points) >= 3:
        gap = points[1][0] - points[0][0]
        if points[-1][0] - points[-2][0] < gap:  # the previous newest point is off the grid
            points.pop()
    points.append(list(point))
    if len(points) > limit:
        points = points[:-1][::2] + [points[-1]]
    return points


def _transition(session: Session, job_id: int, expected: str, **values: Any) -> bool:
    """``UPDATE training_jobs SET ... WHERE id = job_id AND state = expected``; True when it hit."""
    result = session.execute(
        update(TrainingJob).where(TrainingJob.id == job_id, TrainingJob.state == expected).values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _job(session: Session, job_id: int) -> TrainingJob:
    row = session.get(TrainingJob, job_id, populate_existing=True)
    if row is None:
        raise NotFound(f"no training job {job_id}")
    return row


def _canonical(config: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise SeqLabError("a training config is a mapping of option names to values")
    try:
        return json.loads(json.dumps(config, sort_keys=True))
    except (TypeError, ValueError) as exc:
        raise SeqLabError(f"the training config cannot be stored: {exc}") from None


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _pairs(history: list | None) -> list:
    return [list(p) for p in (history or [])]


def _aware(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back: they were stored as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _info(row: TrainingJob) -> JobInfo:
    return JobInfo(
        id=row.id, project_id=row.project_id, state=row.state, config=dict(row.config or {}),
        fingerprint=row.fingerprint, worker=row.worker, step=row.step or 0, total=row.total or 0,
        eta_s=row.eta_s, tokens_per_s=row.tokens_per_s,
        loss_history=tuple(tuple(p) for p in (row.loss_history or [])),
        dev_history=tuple(tuple(p) for p in (row.dev_history or [])),
        message=row.message, cancel_requested=bool(row.cancel_requested),
        created_at=_aware(row.created_at), started_at=_aware(row.started_at),
        finished_at=_aware(row.finished_at), heartbeat_at=_aware(row.heartbeat_at),
    )
