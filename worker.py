"""The background training worker: ``python -m worker [--once] [--poll S] [--stale S] [--idle-exit S]
[--processes N] [--device cpu|cuda]``.

It claims queued jobs from the database one at a time, trains each in this process with
:func:`tagger.train.train` (with ``--processes N``, on N child processes with DistributedDataParallel:
:func:`train_on_processes`), saves the model version atomically under
``<data_home>/models/project-<id>/job-<job id>`` and finishes the job. :func:`run_job` is that step
on its own, for a benchmark that wants to run a claimed job exactly as the worker does. A worker
on another machine (a GPU host) serves the same projects when it reaches the same database
(``SEQLAB_DB_URL``) and sees the data folder (``SEQLAB_HOME``) at the same path.

Liveness: every worker holds a *shared* ``fcntl.flock`` on ``<data_home>/worker.lock`` for its whole
life. :func:`worker_alive` tries a non-blocking *exclusive* lock on the same file: it fails while at
least one worker lives, and succeeds once the last one is gone, because the kernel drops a dead
process's locks, SIGKILL included, so a killed worker never looks alive. Shared locks let several
workers run on one folder (they never take the same job: claiming is atomic in the database).
:func:`spawn_worker` (what ``Services.ensure_worker`` calls) does the test while holding
``worker.spawn.lock``, keeps the exclusive lock, turns it shared and hands that very lock to the
child through an inherited descriptor, so two pages starting a worker at once start one.

A job whose worker died (heartbeat older than :data:`STALE_AFTER_S`, or ``SEQLAB_WORKER_STALE_S``)
is marked failed when a worker starts and while one waits for work. Jobs beat their heart every
:data:`HEARTBEAT_S` from a thread, so a cancel is seen within seconds even when a step is slow.

Threads: on a small machine that also runs the Streamlit server, OpenMP's busy-waiting threads
slow training down 10-20x under contention, so :func:`main` sets ``OMP_WAIT_POLICY=PASSIVE``
before torch is imported and ``torch.set_num_threads`` from ``SEQLAB_WORKER_THREADS``
(default: the number of CPUs).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import math
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from db import jobs, ledger, queue, repo, versions
from db.jobs import JobInfo
from db.repo import ProjectInfo
from db.session import data_home, make_engine, session_factory, write_session
from db.training_data import TrainingData, training_data
from db.versions import VersionInfo
from services import audit as audit_service
from services import ledger as ledger_service

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from tagger.train import Progress, TrainConfig, TrainResult

log = logging.getLogger("worker")

LOCK_FILE = "worker.lock"
SPAWN_LOCK_FILE = "worker.spawn.lock"
LOG_FILE = "worker.log"
LOCK_FD_ENV = "SEQLAB_WORKER_LOCK_FD"
STALE_ENV = "SEQLAB_WORKER_STALE_S"
THREADS_ENV = "SEQLAB_WORKER_THREADS"
PROCESSES_ENV = "SEQLAB_WORKER_PROCESSES"
DEVICE_ENV = "SEQLAB_WORKER_DEVICE"
STALE_AFTER_S = 30.0  # 15 missed heartbeats: a busy machine is not a dead worker
HEARTBEAT_S = 2.0
PROGRESS_EVERY_S = 0.5  # progress rows written at most this often (every step would be an fsync each)
POLL_S = 1.0
SPAWNED_IDLE_EXIT_S = 600.0  # a worker the app started goes away when idle; the next page run restarts it
WARM_START_CHOICES = ("base", "active")
# "active" continues from the active version (from the base model when there is none, or when it was
# trained on another base model than the project's): bench/learning_curve.py's figures, where each
# retrain from the active version scored 0.02-0.03 dev F1 higher than from the base model, as fast.
WARM_START_DEFAULT = "active"
# Small-data defaults (auto_schedule) and per-epoch dev scoring (epoch_dev_docs), chosen from the
# figures of bench/learning_curve.py and the runs quoted in auto_schedule's docstring.
SMALL_DATA_DOCS = 2_000  # fewer training documents than this get SMALL_BATCH and frozen embeddings
SMALL_BATCH = 8
# Small-data jobs sort their batches by length within chunks of this many batches, not TrainConfig's
# 4: on 50-1,000 CoNLL sentences in batches of 8 the F1 is the same either way (+0.006 on average
# from the base model, -0.005 from the active one; bench/results/learning_curve-length-chunk-4.json
# against learning_curve.json), and chunks of 50 train 15-25 % faster (less padding).
SMALL_LENGTH_CHUNK = 50
MIN_STEPS = 150  # optimizer steps a job on little data needs (but at least 4 epochs)
MAX_EPOCHS = 20
EPOCH_DEV_SHARE = 0.5  # dev documents scored each epoch: half as many as training documents,
EPOCH_DEV_MIN = 100  # ... but at least this many; the kept epoch is then scored on all of them
MAX_MESSAGE_CHARS = 2000
# train_on_processes: the files in a job's rank folder, and how often the worker looks at its ranks
RANK_PLAN, RANK_RESULT = "plan.pkl", "result.json"
PROGRESS_PREFIX = b"@seqlab-progress "
RANK_POLL_S = 0.2
RANK_GRACE_S = 1.0
ROOT = Path(__file__).resolve().parent

_spawned: list[subprocess.Popen] = []  # workers this process started, to reap when they end
_spawned_lock = threading.Lock()


# ----------------------------------------------------------------------------- liveness


def worker_alive(home: Path | None = None) -> bool:
    """True while at least one worker holds its shared lock on ``<home>/worker.lock``."""
    home = home or data_home()
    if not (home / LOCK_FILE).exists():
        return False
    fd = _open_lock(home / LOCK_FILE)
    try:
        return not _try_lock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)  # closing drops the test lock


def spawn_worker(home: Path | None = None, env: dict[str, str] | None = None,
                 idle_exit_s: float = SPAWNED_IDLE_EXIT_S) -> subprocess.Popen | None:
    """Start a detached ``python -m worker`` unless one is alive or being started; its Popen or None.

    The child gets its own session (a Ctrl-C in the app's terminal does not reach it), appends its
    output to ``<home>/worker.log`` and inherits ``env`` (default: this process's environment).
    """
    _reap()
    home = home or data_home()
    home.mkdir(parents=True, exist_ok=True)
    spawn_fd = _open_lock(home / SPAWN_LOCK_FILE)
    try:
        if not _try_lock(spawn_fd, fcntl.LOCK_EX):
            return None  # another page run is starting one right now
        fd = _open_lock(home / LOCK_FILE)
        try:
            if not _try_lock(fd, fcntl.LOCK_EX):
                return None  # a worker is alive
            fcntl.flock(fd, fcntl.LOCK_SH)  # the child keeps this lock through the inherited descriptor
            child = _popen(home, fd, env, idle_exit_s)
        finally:
            os.close(fd)
    finally:
        os.close(spawn_fd)
    with _spawned_lock:
        _spawned.append(child)
    log.info("started worker pid %d for %s", child.pid, home)
    return child


def _popen(home: Path, fd: int, env: dict[str, str] | None, idle_exit_s: float) -> subprocess.Popen:
    env = dict(os.environ if env is None else env)
    env.update({LOCK_FD_ENV: str(fd), "SEQLAB_HOME": str(home)})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with open(home / LOG_FILE, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "worker", "--idle-exit", str(idle_exit_s)],
                                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, pass_fds=(fd,))


def _reap() -> None:
    """Collect the exit status of workers this process started that have ended (no zombies)."""
    with _spawned_lock:
        _spawned[:] = [p for p in _spawned if p.poll() is None]


def hold_liveness_lock(home: Path) -> int:
    """Take (or keep, when the starter handed one over) this worker's shared lock; the descriptor."""
    handed = os.environ.pop(LOCK_FD_ENV, None)
    fd = int(handed) if handed else _open_lock(home / LOCK_FILE)
    fcntl.flock(fd, fcntl.LOCK_SH)  # blocks only while someone tests for liveness: microseconds
    os.set_inheritable(fd, False)
    return fd


def _open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def _try_lock(fd: int, kind: int) -> bool:
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


# ----------------------------------------------------------------------------- one job


@dataclass(frozen=True)
class JobPlan:
    """What a job trains: the config, where it warm-starts from, and the data."""

    project: ProjectInfo
    config: TrainConfig
    warm_start: str  # "base" or "active": where this job really starts from
    parent: VersionInfo | None  # the active version when the job started
    data: TrainingData


def auto_schedule(train_docs: int) -> dict[str, Any]:
    """Batch size, epochs and embedding freeze for a job on ``train_docs`` documents that does not set them.

    TrainConfig's 4 epochs of 32 suit the 14,041 CoNLL sentences (1,756 steps); 200 corrections
    would get 28 steps. Dev F1 on little data follows the number of steps more than of epochs
    (bench/small_data_sweep.py, the first N CoNLL sentences, scored on the whole dev file): on 200,
    6 epochs of 16 (78 steps) reached 0.58, 6 of 8 (150 steps) 0.67, 10 of 16 (130 steps) 0.68
    for 1.7x the tokens; on 1,000, 4 epochs of 8 (500 steps) 0.83, 10 of 16 0.83-0.84 for 2.5x
    the tokens, 10 of 32 0.82. Runs of one schedule differ by up to 0.02. So: below
    SMALL_DATA_DOCS, batches of 8 and enough epochs for MIN_STEPS steps (at least 4, at most
    MAX_EPOCHS), which keeps a retrain on 200 CoNLL sentences under a minute on 2 cores
    (bench/learning_curve.py); the subword embeddings are frozen there: faster steps (no update
    of the 30,522 x 384 matrix), the same F1 on 200 and on 1,000 sentences; and batches are sorted
    by length within larger chunks (SMALL_LENGTH_CHUNK). From SMALL_DATA_DOCS on, TrainConfig's
    defaults.
    """
    from tagger.train import TrainConfig

    default = TrainConfig()
    if train_docs >= SMALL_DATA_DOCS:
        return {"epochs": default.epochs, "batch_size": default.batch_size, "freeze_embeddings": False,
                "length_chunk": default.length_chunk}
    steps_per_epoch = math.ceil(max(1, train_docs) / SMALL_BATCH)
    epochs = max(default.epochs, min(MAX_EPOCHS, math.ceil(MIN_STEPS / steps_per_epoch)))
    return {"epochs": epochs, "batch_size": SMALL_BATCH, "freeze_embeddings": True, "length_chunk": SMALL_LENGTH_CHUNK}


def epoch_dev_docs(train_docs: int) -> int:
    """Dev documents to score after each epoch: half as many as there are training documents (at
    least EPOCH_DEV_MIN), so the scoring costs under a tenth of an epoch. On 2 cores scoring a CoNLL
    sentence takes ~4 ms, training on one ~25 ms (bench/learning_curve.py); the whole dev set
    after each of the 6 epochs over 200 sentences would more than double the job's time."""
    return max(EPOCH_DEV_MIN, math.ceil(EPOCH_DEV_SHARE * train_docs))


def job_config(project: ProjectInfo, overrides: dict[str, Any], train_docs: int) -> tuple[TrainConfig, str]:
    """The TrainConfig (project settings, :func:`auto_schedule` for ``train_docs`` documents, then
    the job's overrides) and the warm-start choice."""
    from tagger.spans import SeqLabError
    from tagger.train import TrainConfig

    overrides = dict(overrides)
    warm = overrides.pop("warm_start", WARM_START_DEFAULT)
    if warm not in WARM_START_CHOICES:
        raise SeqLabError(f"warm_start must be one of {', '.join(WARM_START_CHOICES)}, got {warm!r}")
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise SeqLabError(f"unknown training option {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    settings = {"base_model": project.base_model, "decoder": project.decoder, "encoder": project.encoder,
                "task": project.task_kind}
    return TrainConfig(**{**settings, **auto_schedule(train_docs), **overrides}), warm


def plan_job(factory: sessionmaker[Session], job: JobInfo) -> JobPlan:
    """Read what ``job`` needs from the database (in one read transaction)."""
    with factory() as s:
        project = repo.get_project(s, job.project_id)
        data = training_data(s, job.project_id)
        parent = versions.active_version(s, job.project_id)
    config, warm = job_config(project, job.config, len(data.train))
    return JobPlan(project, config, warm if continues_from(parent, config) else "base", parent, data)


def continues_from(parent: VersionInfo | None, config: TrainConfig) -> bool:
    """Whether a job asking to warm-start from the active version ``parent`` can: there is one,
    and it was trained on the base model the project now has (else the change would be ignored)."""
    return parent is not None and parent.config.get("base_model", config.base_model) == config.base_model


def run_job(factory: sessionmaker[Session], job: JobInfo, home: Path | None = None, *,
            processes: int = 1, device: str = "cpu") -> JobInfo:
    """Train a claimed (running) job, save its version and finish it, exactly as the worker does.

    ``processes`` > 1: on that many training processes (:func:`train_on_processes`); ``device``:
    where the model trains ("cpu", "cuda"). Cancelled -> ``cancelled``; any error -> ``failed`` with
    its message (traceback in the log); either way no model folder is left behind. Returns the
    finished job.
    """
    from tagger.train import TrainingCancelled

    out = Path(home or data_home()).resolve() / "models" / f"project-{job.project_id}" / f"job-{job.id}"
    try:
        with _Reporter(factory, job.id) as reporter:  # the heart beats through loading and saving too
            if audit_service.is_audit(job):  # a label-noise audit, not a training (services/audit.py)
                message = audit_service.run_audit(factory, job, reporter.should_cancel, reporter.folds)
                return _finish(factory, job.id, "succeeded", message)
            plan = plan_job(factory, job)
            _check_trainable(plan)
            if processes > 1:
                saved = train_on_processes(plan, job.id, out, reporter, processes, device)
            else:
                saved = save_result(plan, job.id, _train(plan, reporter.progress, reporter.should_cancel, device), out)
            return _record(factory, job, plan, saved, out, reporter)
    except TrainingCancelled:
        log.info("job %d cancelled", job.id)
        return _finish(factory, job.id, "cancelled", "cancelled")
    except Exception as exc:
        log.exception("job %d failed", job.id)
        return _finish(factory, job.id, "failed", (str(exc) or type(exc).__name__)[:MAX_MESSAGE_CHARS])
    except BaseException:  # SIGTERM / Ctrl-C: say so rather than leave the job to go stale
        _finish(factory, job.id, "failed", "the worker was stopped while training")
        raise


def _check_trainable(plan: JobPlan) -> None:
    from tagger.spans import SeqLabError

    if not any(e.spans or e.frames for e in plan.data.train):
        raise SeqLabError(f"project {plan.project.name!r} has no training documents with spans")


def _train(plan: JobPlan, progress=None, should_cancel=None, device: str = "cpu") -> TrainResult:
    from tagger.train import train

    warm_start = plan.parent.path if plan.warm_start == "active" else None
    log.info("project %d: training on %d documents (dev %d%s), warm start %s, on %s", plan.project.id,
             len(plan.data.train), len(plan.data.dev), ", held out" if plan.data.dev_holdout else "",
             warm_start or plan.config.base_model, device)
    return train(plan.data.train, plan.data.dev, plan.config, labels=plan.project.label_names,
                 warm_start=warm_start, progress=progress, should_cancel=should_cancel, device=device,
                 epoch_dev=epoch_dev_docs(len(plan.data.train)))


@dataclass(frozen=True)
class Saved:
    """A trained model saved at its version's folder, and what its version row records."""

    data: dict[str, Any]
    metrics: dict[str, Any]
    world_size: int


def save_result(plan: JobPlan, job_id: int, result: TrainResult, out: Path) -> Saved:
    """Save ``result`` atomically at ``out``; what the version will record about it."""
    data = {**plan.data.describe(), "fingerprint": result.fingerprint, "epoch_dev_docs": result.epoch_dev_docs}
    metrics = {**(result.report.to_dict() if result.report else {}), "train_seconds": round(result.seconds, 1),
               "eval_seconds": round(result.eval_seconds, 1), "tokens_per_s": round(result.tokens_per_s, 1)}
    result.save(out, extra_meta={"data": data, "job_id": job_id})
    return Saved(data, metrics, result.world_size)


# ----------------------------------------------------------------------------- several processes


def train_on_processes(plan: JobPlan, job_id: int, out: Path, reporter: _Reporter, processes: int,
                       device: str = "cpu") -> Saved:
    """Train ``plan`` with DistributedDataParallel on ``processes`` child processes of this one
    (``python -m worker --rank PLAN``; gloo on CPU, NCCL on GPUs, tagger.distributed); rank 0
    saves the model at ``out``. This process only watches: it relays rank 0's progress to the
    job, and kills every rank on a cancel, when one of them fails, and when it is stopped itself,
    so a rank that dies (even before the group is formed) never leaves the others waiting.

    The ranks read the plan from a pickle, not from the database, so all of them train on exactly
    the data this job planned; each gets an equal share of the worker's threads.
    """
    from tagger.spans import SeqLabError
    from tagger.train import TrainingCancelled

    out.parent.mkdir(parents=True, exist_ok=True)
    # named like the job's folder, so remove_leftovers clears it after a worker killed with -9
    work = Path(tempfile.mkdtemp(prefix=f".job-{job_id}.ranks-", dir=out.parent))
    ranks: list[subprocess.Popen] = []
    try:
        (work / RANK_PLAN).write_bytes(pickle.dumps({"plan": plan, "job_id": job_id, "out": str(out),
                                                     "device": device, "parent": os.getpid()}))
        threads = str(max(1, worker_threads() // processes))
        env = {**os.environ, "WORLD_SIZE": str(processes), "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(_free_port()), THREADS_ENV: threads, "OMP_NUM_THREADS": threads,
               "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
               "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
        env.pop(LOCK_FD_ENV, None)
        for rank in range(processes):
            with open(work / f"rank-{rank}.log", "wb") as logs:
                ranks.append(subprocess.Popen(
                    [sys.executable, "-m", "worker", "--rank", str(work / RANK_PLAN)], cwd=ROOT,
                    env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)}, stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE if rank == 0 else logs, stderr=logs))
        relay = threading.Thread(target=_relay, args=(ranks[0].stdout, reporter), name=f"ranks-{job_id}", daemon=True)
        relay.start()
        while True:
            if reporter.should_cancel():
                raise TrainingCancelled("training was cancelled")
            codes = [p.poll() for p in ranks]
            if any(c not in (None, 0) for c in codes):
                time.sleep(RANK_GRACE_S)  # let the others' errors land too: the first to exit is not always the cause
                raise SeqLabError(_rank_failures(work, [p.poll() for p in ranks]))
            if all(c == 0 for c in codes):
                break
            time.sleep(RANK_POLL_S)
        relay.join(timeout=10)
        done = json.loads((work / RANK_RESULT).read_text())
        return Saved(done["data"], done["metrics"], processes)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # rank 0 may have saved it after all, or begun to
        for tmp in out.parent.glob(f".{out.name}.tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        for p in ranks:
            if p.poll() is None:
                p.kill()
            p.wait()
            if p.stdout:
                p.stdout.close()
        shutil.rmtree(work, ignore_errors=True)


def _relay(stream, reporter: _Reporter) -> None:
    """Rank 0's progress lines (stdout) -> the job's progress rows, until rank 0 ends."""
    from tagger.train import Progress

    for line in iter(stream.readline, b""):
        if not line.startswith(PROGRESS_PREFIX):
            continue
        try:
            reporter.progress(Progress(**json.loads(line[len(PROGRESS_PREFIX):])))
        except Exception:  # a busy database must not stop the relay; the next row may pass
            log.warning("job %d: progress not recorded", reporter.job_id, exc_info=True)


def _rank_failures(work: Path, codes: list[int | None]) -> str:
    """Why the ranks that ended badly did: each one's error, or its signal and last log line."""
    reasons = []
    for rank, code in enumerate(codes):
        if code in (None, 0):
            continue
        error = work / f"rank-{rank}.error"
        if error.exists():
            why = error.read_text(encoding="utf-8", errors="replace")
        elif code < 0:
            why = f"killed by {signal.Signals(-code).name}"
        else:
            lines = (work / f"rank-{rank}.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()
            why = f"exit {code}" + (f": {lines[-1]}" if lines else "")
        reasons.append(f"training process {rank} of {len(codes)} failed: {why}")
    # a rank whose peer died fails in gloo with a connection error: list the root cause first
    reasons.sort(key=lambda r: "Connection" in r or "connection" in r)
    return "; ".join(reasons)


def run_rank(plan_file: Path) -> int:
    """One training process of :func:`train_on_processes` (``python -m worker --rank PLAN``)."""
    spec = pickle.loads(plan_file.read_bytes())
    _die_with(spec["parent"])
    setup_threads()
    from tagger.distributed import leave, world

    here = world(spec["device"])
    plan: JobPlan = spec["plan"]
    try:
        result = _train(plan, _print_progress if here.main else None, device=spec["device"])
    except BaseException as exc:
        (plan_file.parent / f"rank-{here.rank}.error").write_text(str(exc) or type(exc).__name__, encoding="utf-8")
        leave(here, wait=False)
        raise
    leave(here)  # the others exit now; rank 0 saves alone
    if here.main:
        saved = save_result(plan, spec["job_id"], result, Path(spec["out"]))
        tmp = plan_file.parent / (RANK_RESULT + ".tmp")
        tmp.write_text(json.dumps({"data": saved.data, "metrics": saved.metrics}))
        tmp.rename(plan_file.parent / RANK_RESULT)
    return 0


def _print_progress(p: Progress) -> None:
    sys.stdout.buffer.write(PROGRESS_PREFIX + json.dumps(asdict(p)).encode() + b"\n")
    sys.stdout.buffer.flush()


def _die_with(parent: int) -> None:
    """Be killed when the worker that started this rank dies (SIGKILL included): Linux's
    PR_SET_PDEATHSIG (elsewhere there is none: a rank then outlives a killed worker until gloo
    notices); then make sure it had not died already."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _record(factory: sessionmaker[Session], job: JobInfo, plan: JobPlan, saved: Saved,
            out: Path, reporter: _Reporter | None = None) -> JobInfo:
    """Record the (inactive) version of the model saved at ``out``; score the correction ledger
    (services.ledger); then, in one transaction, the ledger's summary, the activation if due and
    the end of the job. Any failure (a cancel while scoring included) takes the version and the
    folder too; a ledger that cannot be scored is not a failure (see score_ledger)."""
    data, metrics = saved.data, saved.metrics
    config = {**asdict(plan.config), "warm_start": plan.warm_start, "world_size": saved.world_size}
    version = None
    try:
        with write_session(factory) as s:
            version = versions.create_version(s, job.project_id, str(out), metrics=metrics, config=config,
                                              data=data, job_id=job.id,
                                              parent_id=plan.parent.id if plan.parent else None)
        error = score_ledger(factory, version, plan.parent, reporter.should_cancel if reporter else lambda: False)
        with write_session(factory) as s:
            summary = ledger.save_summary(s, version.id, plan.parent.id if plan.parent else None, error=error,
                                          broken_pins=[] if error else ledger_service.broken_pins(s, version.id))
            message = _activate_if_due(s, version, summary)
            done = jobs.finish(s, job.id, "succeeded", message)
    except BaseException:
        if version is not None:
            with write_session(factory) as s:
                versions.delete_version(s, version.id)
        shutil.rmtree(out, ignore_errors=True)
        raise
    log.info("job %d: %s", job.id, message)
    return done


def score_ledger(factory: sessionmaker[Session], version: VersionInfo, previous: VersionInfo | None,
                 should_cancel=lambda: False) -> str | None:
    """Score the project's corrections with ``version`` against ``previous`` (both at the fast
    precision, as the app predicts: the new version's ONNX export is made and cached here, in the
    job, not when the app first loads it); None, or why it could not be done (the version is kept,
    its ledger is not)."""
    from tagger.predict import Tagger
    from tagger.train import TrainingCancelled

    try:
        new = Tagger.load(version.path, quantize=True)
        old = Tagger.load(previous.path, quantize=True) if previous is not None else None
        n = ledger_service.score_version(factory, version.project_id, version.id, new, old,
                                         should_cancel=should_cancel)
    except ledger_service.ScoringCancelled as exc:
        raise TrainingCancelled(str(exc)) from exc
    except Exception as exc:  # the version is still good: keep it, say why its ledger is missing
        log.exception("version %d: scoring the correction ledger failed", version.id)
        with write_session(factory) as s:
            ledger.clear_entries(s, version.id)
        return (str(exc) or type(exc).__name__)[:MAX_MESSAGE_CHARS]
    log.info("version %d: ledger of %d corrections against %s", version.id, n, previous.name if previous else "none")
    return None


def _activate_if_due(session: Session, version: VersionInfo, summary: ledger.SummaryInfo | None = None) -> str:
    """Activate ``version`` when the project auto-activates, it is no worse and breaks no pinned
    correction (nor leaves them unchecked); the job's message."""
    project = repo.get_project(session, version.project_id)
    active = versions.active_version(session, version.project_id)
    score = f"dev F1 {version.f1:.3f}" if version.f1 is not None else "no dev documents to score it"
    score += f" (corrections: {ledger_service.describe(summary)})" if summary is not None else ""
    if project.auto_activate and summary is not None and ledger.pinned_ids(session, version.project_id):
        if summary.broken_pins:
            return (f"{version.name}: {score}, not activated: "
                    f"{ledger_service.broken_message(session, list(summary.broken_pins))}")
        if summary.error:
            return f"{version.name}: {score}, not activated: its pinned corrections could not be checked"
    if should_activate(project.auto_activate, version.f1, active.f1 if active else None, active is not None):
        versions.activate(session, version.id)
        return f"{version.name}: {score}, activated"
    if not project.auto_activate:
        return f"{version.name}: {score}; activate it on the Models page"
    theirs = f"{active.f1:.3f}" if active and active.f1 is not None else "no score"
    return f"{version.name}: {score}, not activated ({active.name} has {theirs})"


def should_activate(auto_activate: bool, new_f1: float | None, active_f1: float | None,
                    has_active: bool) -> bool:
    """The auto-activation rule: on, and no active version yet or a dev F1 at least the active one's."""
    if not auto_activate:
        return False
    if not has_active:
        return True
    if new_f1 is None:
        return False
    return active_f1 is None or new_f1 >= active_f1


def _finish(factory: sessionmaker[Session], job_id: int, state: str, message: str) -> JobInfo:
    """Finish the job unless it is no longer running (e.g. given up as stale); the job either way."""
    try:
        with write_session(factory) as s:
            return jobs.finish(s, job_id, state, message)
    except ValueError as exc:
        log.warning("job %d: %s", job_id, exc)
        with factory() as s:
            return jobs.get_job(s, job_id)


class _Reporter:
    """Progress rows and a heartbeat thread for one running job; knows when the job must stop."""

    def __init__(self, factory: sessionmaker[Session], job_id: int, heartbeat_s: float = HEARTBEAT_S,
                 every_s: float = PROGRESS_EVERY_S):
        self.factory, self.job_id = factory, job_id
        self.heartbeat_s, self.every_s = heartbeat_s, every_s
        self.stop = threading.Event()  # cancel requested, or the job is no longer ours
        self._done = threading.Event()
        self._last = float("-inf")
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    def should_cancel(self) -> bool:
        return self.stop.is_set()

    def progress(self, p: Progress) -> None:
        """Write a progress row: at most every ``every_s``, and always the last step and dev scores."""
        now = time.monotonic()
        if p.dev_f1 is None and p.step < p.total and now - self._last < self.every_s:
            return
        self._last = now
        with write_session(self.factory) as s:
            stop = jobs.report_progress(s, self.job_id, step=p.step, total=p.total, eta_s=p.eta_s,
                                        loss=p.loss if p.dev_f1 is None else None,
                                        tokens_per_s=p.tokens_per_s, dev_f1=p.dev_f1)
        if stop:
            self.stop.set()

    def folds(self, done: int, total: int) -> None:
        """An audit's progress: a step per fold."""
        with write_session(self.factory) as s:
            if jobs.report_progress(s, self.job_id, step=done, total=total):
                self.stop.set()

    def _beat(self) -> None:
        while not self._done.wait(self.heartbeat_s):
            try:
                with write_session(self.factory) as s:
                    if jobs.heartbeat(s, self.job_id):
                        self.stop.set()
            except Exception:  # a busy database must not kill the job; the next beat may pass
                log.warning("job %d: heartbeat failed", self.job_id, exc_info=True)


# ----------------------------------------------------------------------------- the loop


def recover(factory: sessionmaker[Session], stale_s: float, home: Path) -> None:
    """Fail the jobs of dead workers and remove model folders no version owns."""
    with write_session(factory) as s:
        for job in jobs.fail_stale(s, older_than_s=stale_s):
            log.warning("job %d: %s", job.id, job.message)
    remove_leftovers(factory, home)


def remove_leftovers(factory: sessionmaker[Session], home: Path) -> list[Path]:
    """Delete ``job-<id>`` folders (and their ``.tmp-`` siblings) of finished jobs without a version.

    A worker killed while saving leaves a temp folder; one killed between the save and the version
    row leaves a folder nothing points at. Folders of queued or running jobs are left alone: another
    worker may be writing them.
    """
    removed = []
    for folder in sorted((home / "models").glob("project-*/*job-*")):
        job_id = _job_id(folder.name)
        if job_id is None or not folder.is_dir():
            continue
        with factory() as s:
            state = jobs.job_state(s, job_id)
            owned = versions.version_at(s, str(folder.resolve())) is not None
        if state in (None, *jobs.FINAL_STATES) and (folder.name.startswith(".") or not owned):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
            log.info("removed leftover %s", folder)
    return removed


def _job_id(name: str) -> int | None:
    """``job-12`` or ``.job-12.tmp-abc`` -> 12."""
    stem = name.lstrip(".").split(".", 1)[0]
    number = stem.removeprefix("job-")
    return int(number) if stem.startswith("job-") and number.isdigit() else None


def serve(factory: sessionmaker[Session], home: Path, *, poll_s: float = POLL_S, once: bool = False,
          stale_s: float = STALE_AFTER_S, idle_exit_s: float = 0.0, processes: int = 1,
          device: str = "cpu") -> int:
    """Claim and run jobs until stopped (``once``: until the queue is empty); the number run.
    ``processes`` and ``device``: how each job trains (:func:`run_job`)."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    recover(factory, stale_s, home)
    ran, idle_since, recovered = 0, time.monotonic(), time.monotonic()
    while True:
        with write_session(factory) as s:
            job = jobs.claim_next(s, name)
        if job is not None:
            log.info("job %d: claimed (project %d)", job.id, job.project_id)
            run_job(factory, job, home, processes=processes, device=device)
            ran, idle_since = ran + 1, time.monotonic()
            continue
        if rank_queues(factory):  # between jobs: the queues whose active version changed
            idle_since = time.monotonic()
            continue
        if once or (idle_exit_s and time.monotonic() - idle_since > idle_exit_s):
            return ran
        if time.monotonic() - recovered > min(stale_s / 2, 10.0):
            recover(factory, stale_s, home)
            recovered = time.monotonic()
        time.sleep(poll_s)


def rank_queues(factory: sessionmaker[Session]) -> int:
    """Rank the annotation queue of every project whose active version changed since its last
    ranking (a retrain, an activation, a rollback), so Annotate asks for the most uncertain
    documents first. A ranking that fails is logged and stored empty (the queue falls back to
    file order) rather than retried forever. Returns the number of projects ranked."""
    from services.loop import rank_queue
    from tagger.predict import Tagger

    with factory() as s:
        todo = queue.needs_ranking(s)
    for project_id, version_id in todo:
        try:
            with factory() as s:
                version = versions.get_version(s, version_id)
            tagger = Tagger.load(version.path, quantize=True)  # the app's fast path: same spans as Annotate shows
            rank_queue(factory, project_id, version_id, tagger)
        except Exception:
            log.exception("project %d: ranking the queue with version %d failed", project_id, version_id)
            with write_session(factory) as s:
                queue.replace_scores(s, project_id, version_id, [])
    return len(todo)


def worker_threads() -> int:
    """The threads training may use: ``SEQLAB_WORKER_THREADS``, else the number of CPUs."""
    return max(1, int(os.environ.get(THREADS_ENV) or os.cpu_count() or 1))


def setup_threads() -> None:
    """Passive OpenMP waits and a thread count, before torch is first imported."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(worker_threads())


def _check_placement(parser: argparse.ArgumentParser, processes: int, device: str) -> None:
    """Refuse at start a --processes/--device the machine cannot give, rather than fail every job."""
    if processes < 1:
        parser.error(f"--processes must be at least 1, got {processes}")
    if device == "cpu":
        return
    if device != "cuda" and not device.startswith("cuda:"):
        parser.error(f"--device must be cpu or cuda, got {device!r}")
    import torch

    if not torch.cuda.is_available():
        parser.error(f"--device {device}: no CUDA device here (torch {torch.__version__})")
    if processes > 1 and (device != "cuda" or processes > torch.cuda.device_count()):
        parser.error(f"--processes {processes} on --device {device}: each process needs a GPU of its own "
                     f"(use --device cuda; {torch.cuda.device_count()} here)")


def _stop(signum, _frame) -> None:
    """SIGTERM ends the worker like Ctrl-C: the running job is marked failed on the way out."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker", description="SeqLab's background training worker")
    parser.add_argument("--once", action="store_true", help="run the queued jobs, then exit")
    parser.add_argument("--poll", type=float, default=POLL_S, help="seconds between looks at the queue")
    parser.add_argument("--stale", type=float, default=float(os.environ.get(STALE_ENV) or STALE_AFTER_S),
                        help="seconds without a heartbeat after which a running job's worker counts as dead")
    parser.add_argument("--idle-exit", type=float, default=0.0, help="exit after this many idle seconds (0: never)")
    parser.add_argument("--processes", type=int, default=int(os.environ.get(PROCESSES_ENV) or 1),
                        help="train each job on this many processes (DistributedDataParallel; "
                             f"default ${PROCESSES_ENV} or 1)")
    parser.add_argument("--device", default=os.environ.get(DEVICE_ENV) or "cpu",
                        help=f"where jobs train: cpu, cuda (default ${DEVICE_ENV} or cpu)")
    parser.add_argument("--rank", help=argparse.SUPPRESS)  # one of train_on_processes's ranks
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    if args.rank:
        signal.signal(signal.SIGTERM, _stop)
        return run_rank(Path(args.rank))
    _check_placement(parser, args.processes, args.device)
    home = data_home()
    home.mkdir(parents=True, exist_ok=True)
    lock_fd = hold_liveness_lock(home)
    signal.signal(signal.SIGTERM, _stop)
    setup_threads()
    engine = make_engine()
    log.info("worker %d on %s (stale after %.0f s), training on %d process%s, %s", os.getpid(),
             engine.url.render_as_string(hide_password=True), args.stale, args.processes,
             "es" if args.processes > 1 else "", args.device)
    try:
        ran = serve(session_factory(engine), home, poll_s=args.poll, once=args.once, stale_s=args.stale,
                    idle_exit_s=args.idle_exit, processes=args.processes, device=args.device)
    finally:
        engine.dispose()
        os.close(lock_fd)
    log.info("worker %d exits after %d jobs", os.getpid(), ran)
    return 0


if __name__ == "__main__":
    sys.exit(main())
