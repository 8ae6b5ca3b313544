"""Model versions: ``(session, ...) -> VersionInfo``; one version per project is active.

A version is a checkpoint folder written by a training job (or registered from a folder), with
the metrics, config and data description it was made with. Activating one deactivates the others
of its project in the same transaction, so a reader never sees two active versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .models import ModelVersion
from .repo import NotFound, _project


@dataclass(frozen=True)
class VersionInfo:
    id: int
    project_id: int
    number: int  # 1, 2, 3... within the project, in creation order ("v3")
    parent_id: int | None
    job_id: int | None
    path: str
    active: bool
    metrics: dict[str, Any]
    config: dict[str, Any]
    data: dict[str, Any]
    created_at: datetime | None

    @property
    def name(self) -> str:
        return f"v{self.number}"

    @property
    def f1(self) -> float | None:
        """Overall dev F1 (token accuracy for a tags model), if the version was evaluated: the figure
        versions are compared and activated by."""
        metrics = self.metrics or {}
        value = metrics.get("f1", metrics.get("accuracy"))
        return float(value) if value is not None else None


def create_version(session: Session, project_id: int, path: str, *, metrics: dict[str, Any] | None = None,
                   config: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
                   job_id: int | None = None, parent_id: int | None = None) -> VersionInfo:
    """Record a saved checkpoint as a new (inactive) version of the project."""
    _project(session, project_id)
    row = ModelVersion(project_id=project_id, path=str(path), metrics=dict(metrics or {}),
                       config=dict(config or {}), data=dict(data or {}), job_id=job_id, parent_id=parent_id)
    session.add(row)
    session.flush()
    return get_version(session, row.id)


def get_version(session: Session, version_id: int) -> VersionInfo:
    row = session.get(ModelVersion, version_id)
    if row is None:
        raise NotFound(f"no model version {version_id}")
    return _info(session, row)


def list_versions(session: Session, project_id: int) -> list[VersionInfo]:
    """The project's versions, newest first."""
    rows = session.scalars(select(ModelVersion).where(ModelVersion.project_id == project_id)
                           .order_by(ModelVersion.id.desc())).all()
    return [_info(session, row, number=len(rows) - i) for i, row in enumerate(rows)]


def version_at(session: Session, path: str) -> VersionInfo | None:
    """The version whose checkpoint folder is ``path`` (as recorded), if any."""
    row = session.scalar(select(ModelVersion).where(ModelVersion.path == str(path)).limit(1))
    return _info(session, row) if row else None


def active_version(session: Session, project_id: int) -> VersionInfo | None:
    row = session.scalar(select(ModelVersion).where(ModelVersion.project_id == project_id,
                                                    ModelVersion.active.is_(True)).limit(1))
    return _info(session, row) if row else None


def activate(session: Session, version_id: int) -> VersionInfo:
    """Make ``version_id`` the project's active version (rollback = activate an older one)."""
    row = session.get(ModelVersion, version_id)
    if row is None:
        raise NotFound(f"no model version {version_id}")
    session.execute(update(ModelVersion).where(ModelVersion.project_id == row.project_id,
                                               ModelVersion.id != row.id).values(active=False))
    row.active = True
    session.flush()
    return _info(session, row)


def delete_version(session: Session, version_id: int) -> None:
    """Forget a version that never finished being made (its job was cancelled); never the active one."""
    row = session.get(ModelVersion, version_id)
    if row is not None and not row.active:
        session.delete(row)
        session.flush()


def _info(session: Session, row: ModelVersion, number: int | None = None) -> VersionInfo:
    if number is None:
        number = len(session.scalars(select(ModelVersion.id).where(ModelVersion.project_id == row.project_id,
                                                                   ModelVersion.id <= row.id)).all())
    return VersionInfo(row.id, row.project_id, number, row.parent_id, row.job_id, row.path, bool(row.active),
                       dict(row.metrics or {}), dict(row.config or {}), dict(row.data or {}), row.created_at)
