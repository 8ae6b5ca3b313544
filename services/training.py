"""The model side of :class:`services.Services`: training jobs, the worker, model versions.

Training runs in a separate worker process (``worker.py``): :meth:`TrainingServices.start_training`
only queues a job, :meth:`TrainingServices.ensure_worker` makes sure a worker is alive to take it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import worker
from db import jobs, repo, versions
from db.jobs import JobInfo
from db.session import data_home, write_session
from db.training_data import TrainingData, TrainingSummary, training_data, training_summary
from db.versions import VersionInfo
from tagger import store
from tagger.spans import SeqLabError

if TYPE_CHECKING:
    import pandas

    from tagger.predict import Tagger

log = logging.getLogger(__name__)


class NothingToTrain(SeqLabError):
    """Training was asked for while the project has no checked documents with spans."""


class TrainingServices:
    """Mixed into :class:`services.Services`; uses its ``self.factory`` and ``self.engine``."""

    # ------------------------------------------------------------------ jobs

    def start_training(self, project_id: int, **overrides: Any) -> tuple[JobInfo, bool]:
        """Queue a training job; ``(job, created)``, ``created=False`` when the same job is already
        queued or running (two clicks, one job).

        ``overrides``: TrainConfig fields (``epochs=2``...) and ``warm_start`` ("base" or "active").
        "The same" means the same project settings, labels, training documents (ids, spans, changes)
        and overrides. Raises :class:`NothingToTrain` when no checked train document has spans.
        """
        with self.factory() as s:
            project = repo.get_project(s, project_id)
            data = training_data(s, project_id)
        worker.job_config(project, overrides, len(data.train))  # a bad option is an error now, not a failed job later
        _check_trainable(project, data)
        fingerprint = _job_fingerprint(project, data, overrides)
        with write_session(self.factory) as s:
            job, created = jobs.enqueue(s, project_id, overrides, fingerprint)
        if created:
            log.info("project %d: queued job %d (%d train, %d dev documents)", project_id, job.id,
                     len(data.train), len(data.dev))
        return job, created

    def training_defaults(self, project_id: int, data: TrainingData | TrainingSummary | None = None) -> dict[str, Any]:
        """What a job started now without overrides would use: ``epochs``, ``batch_size``,
        ``freeze_embeddings`` and ``length_chunk`` for the project's training documents (see ``worker.auto_schedule``)
        and ``warm_start`` (the active version when there is one), e.g. for the Train page's hints.
        ``data``: the project's :meth:`training_summary` (or documents) when the caller has it already."""
        if data is None:
            data = self.training_summary(project_id)
        return {**worker.auto_schedule(data.train_docs), "warm_start": worker.WARM_START_DEFAULT}

    def cancel_training(self, job_id: int) -> JobInfo:
        """Cancel a job: a queued one at once, a running one within seconds (its worker stops it)."""
        with write_session(self.factory) as s:
            return jobs.request_cancel(s, job_id)

    def job(self, job_id: int) -> JobInfo:
        with self.factory() as s:
            return jobs.get_job(s, job_id)

    def jobs(self, project_id: int, limit: int = 50) -> list[JobInfo]:
        """The project's jobs, newest first."""
        with self.factory() as s:
            return jobs.list_jobs(s, project_id, limit=limit)

    def running_job(self, project_id: int) -> JobInfo | None:
        """The project's newest queued or running job, if any."""
        with self.factory() as s:
            return jobs.active_job(s, project_id)

    def training_documents(self, project_id: int) -> TrainingData:
        """What a job started now would learn from: checked train / dev documents (see db.training_data)."""
        with self.factory() as s:
            return training_data(s, project_id)

    def training_summary(self, project_id: int) -> TrainingSummary:
        """The sizes of :meth:`training_documents` (documents, entities, held out or not), counted in
        the database: cheap enough for every run of the Train page, however big the project."""
        with self.factory() as s:
            return training_summary(s, project_id)

    # ------------------------------------------------------------------ the worker

    def ensure_worker(self) -> bool:
        """Start a training worker for this data folder unless one is alive; True if it started one.

        Cheap enough for every page run: a worker holds a shared ``fcntl.flock`` on
        ``<data_home>/worker.lock`` for its whole life and this tries a non-blocking exclusive lock
        on it (one open and one system call). The kernel drops the locks of a dead process, SIGKILL
        included, so a killed worker is never taken for a live one. The new worker is detached (its
        own session), gets this process's environment with this database's URL, and writes its log
        to ``<data_home>/worker.log``. See ``worker.py`` for the lock hand-over.
        """
        env = dict(os.environ)
        env["SEQLAB_DB_URL"] = self.engine.url.render_as_string(hide_password=False)
        return worker.spawn_worker(data_home(), env) is not None

    def worker_alive(self) -> bool:
        """True while a training worker runs on this data folder."""
        return worker.worker_alive(data_home())

    # ------------------------------------------------------------------ versions

    def versions(self, project_id: int) -> list[VersionInfo]:
        """The project's model versions, newest first."""
        with self.factory() as s:
            return versions.list_versions(s, project_id)

    def version(self, version_id: int) -> VersionInfo:
        with self.factory() as s:
            return versions.get_version(s, version_id)

    def active_version(self, project_id: int) -> VersionInfo | None:
        """The version the project predicts with, or None before the first training."""
        with self.factory() as s:
            return versions.active_version(s, project_id)

    def activate_version(self, version_id: int) -> VersionInfo:
        """Make a version active (rollback = activate an older one); pages pick it up on their next run."""
        with write_session(self.factory) as s:
            info = versions.activate(s, version_id)
        log.info("project %d: %s is active", info.project_id, info.name)
        return info

    def register_version(self, project_id: int, path: str | Path, activate: bool = False) -> VersionInfo:
        """Record an existing SeqLab model folder as a version (checked to be safetensors-only first)."""
        path = Path(path).resolve()
        meta = store.read_meta(path)
        store.check_safe_dir(path, require_weights=True)
        with write_session(self.factory) as s:
            info = versions.create_version(s, project_id, str(path), metrics=meta.get("metrics") or {},
                                           config=meta.get("train_config") or {}, data=meta.get("data") or {})
            return versions.activate(s, info.id) if activate else info

    def load_tagger(self, version: VersionInfo, quantize: bool = True) -> Tagger:
        """The version's tagger; at the fast precision by default (tagger.config.FAST_PRECISION, which keeps F1)."""
        from tagger.predict import Tagger

        return Tagger.load(version.path, quantize=quantize)

    def compare_versions(self, a_id: int, b_id: int) -> pandas.DataFrame:
        """Two versions side by side: one row per label and an "overall" row (first), with
        precision / recall / F1 of each (``a_f1``, ``b_f1``...) and ``f1_delta`` = b - a.
        A label one version was not scored on has empty cells."""
        import pandas

        a, b = self.version(a_id), self.version(b_id)
        labels = sorted(set(a.metrics.get("per_label") or {}) | set(b.metrics.get("per_label") or {}))
        rows = []
        for label in ["overall", *labels]:
            row: dict[str, Any] = {"label": label}
            for side, version in (("a", a), ("b", b)):
                score = _score(version.metrics, label)
                row.update({f"{side}_{k}": score.get(k, math.nan) for k in ("precision", "recall", "f1")})
            row["f1_delta"] = row["b_f1"] - row["a_f1"]
            rows.append(row)
        frame = pandas.DataFrame(rows)
        frame.attrs.update(a=a.name, b=b.name)
        return frame

    def version_zip(self, version_id: int) -> bytes:
        """The version's Hugging Face folder as a zip (for download)."""
        info = self.version(version_id)
        folder = Path(info.path)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for file in sorted(folder.rglob("*")):
                if file.is_file():
                    zf.write(file, f"{info.name}/{file.relative_to(folder)}")
        return out.getvalue()


def _score(metrics: dict[str, Any], label: str) -> dict[str, Any]:
    if label == "overall":
        return {k: metrics[k] for k in ("precision", "recall", "f1") if metrics.get(k) is not None}
    return dict((metrics.get("per_label") or {}).get(label) or {})


def _check_trainable(project: repo.ProjectInfo, data: TrainingData) -> None:
    if data.train_spans:
        return
    raise NothingToTrain(
        f"project {project.name!r} has nothing to train on yet: {len(data.train) + len(data.dev)} checked "
        "documents, none in the train split with spans. Correct and accept some documents on the "
        "Annotate page, or import annotated data (JSONL with spans, or a CoNLL file) on the Data page."
    )


def _job_fingerprint(project: repo.ProjectInfo, data: TrainingData, overrides: dict[str, Any]) -> str:
    """A hash of everything a job's result depends on: settings, labels, documents, overrides."""
    key = {"base_model": project.base_model, "decoder": project.decoder, "encoder": project.encoder,
           "labels": project.label_names, "data": data.fingerprint, "overrides": overrides}
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:32]
