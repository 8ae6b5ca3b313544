"""The label-noise audit as a worker job: which corrections of a project are probably wrong.

:meth:`AuditServices.start_audit` queues a job (a row of the jobs table whose config says
``{"kind": "audit", "folds": k}``); the worker runs :func:`run_audit` on it: the project's
corrections (checked train and dev documents) through ``tagger.audit`` (the surface-string check,
then ``k`` trainings with the project's settings, each tagging the fold it did not see) and stores
the findings, most suspicious first (``db.audit``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from db import audit as audit_db
from db import jobs, repo
from db.audit import FindingInfo
from db.jobs import JobInfo
from db.ledger import spans_json
from db.session import write_session
from db.training_data import training_data
from tagger.spans import SeqLabError

log = logging.getLogger(__name__)

KIND = "audit"
DEFAULT_FOLDS = 5


def is_audit(job: JobInfo) -> bool:
    return (job.config or {}).get("kind") == KIND


def run_audit(factory: sessionmaker[Session], job: JobInfo, should_cancel: Callable[[], bool],
              report: Callable[[int, int], None]) -> str:
    """Audit the job's project and store the findings; the job's message. ``report(fold, k)``
    after each fold; training stops (TrainingCancelled) when ``should_cancel()`` says so."""
    import worker
    from tagger.audit import audit
    from tagger.predict import Tagger
    from tagger.train import train

    folds = int(job.config.get("folds", DEFAULT_FOLDS))
    with factory() as s:
        project = repo.get_project(s, job.project_id)
        data = training_data(s, job.project_id)
    examples = list(data.train + data.dev)
    ids = list(data.train_ids + data.dev_ids)
    config, _ = worker.job_config(project, dict(job.config.get("train") or {}), len(examples))

    def fit(part):
        result = train(part, [], config, labels=project.label_names, should_cancel=should_cancel)
        return Tagger(result.model, result.tokenizer, result.meta(), max_length=config.max_length, quantize=True)

    found = audit(examples, folds if len(examples) >= max(folds, 2) else 0, fit, seed=config.seed, progress=report)
    rows = [{"document_id": ids[f.index], "signal": f.signal,
             "suspect": spans_json(f.suspect), "suggested": spans_json(f.suggested), "score": f.score,
             "reason": f.reason} for f in found]
    with write_session(factory) as s:
        audit_db.add_findings(s, job.id, rows)
    flagged = len({r["document_id"] for r in rows})
    return f"audit of {len(examples)} corrections ({folds} folds): {flagged} look suspicious"


class AuditServices:
    """Mixed into :class:`services.Services`; uses its ``self.factory``."""

    def start_audit(self, project_id: int, folds: int = DEFAULT_FOLDS, **train: Any) -> tuple[JobInfo, bool]:
        """Queue a label-noise audit of the project's corrections; ``(job, created)`` as start_training.
        ``train``: TrainConfig overrides for the fold trainings (default: what a training job would use)."""
        if folds != 0 and folds < 2:
            raise SeqLabError(f"folds must be 0 (the string check alone) or at least 2, got {folds}")
        import worker

        with self.factory() as s:
            project = repo.get_project(s, project_id)
            data = training_data(s, project_id)
        if not data.train and not data.dev:
            raise SeqLabError("there are no corrections to audit yet")
        worker.job_config(project, dict(train), len(data.train) + len(data.dev))  # a bad option fails now, not later
        config: dict[str, Any] = {"kind": KIND, "folds": folds, **({"train": train} if train else {})}
        fingerprint = hashlib.sha256(json.dumps([config, data.fingerprint]).encode()).hexdigest()[:32]
        with write_session(self.factory) as s:
            return jobs.enqueue(s, project_id, config, fingerprint)

    def latest_audit(self, project_id: int) -> tuple[JobInfo | None, int]:
        """The project's newest finished audit job and its number of findings ((None, 0) before one)."""
        with self.factory() as s:
            job_id = audit_db.latest_audit_job(s, project_id)
            if job_id is None:
                return None, 0
            return jobs.get_job(s, job_id), audit_db.count_findings(s, job_id)

    def audit_findings(self, job_id: int, limit: int = 200, offset: int = 0) -> list[FindingInfo]:
        """The audit's findings, most suspicious first."""
        with self.factory() as s:
            return audit_db.findings(s, job_id, limit=limit, offset=offset)
