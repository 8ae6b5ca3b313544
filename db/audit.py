"""Label-noise audit findings in the store: one row per suspicious correction a finished audit job
found (``tagger.audit``), in rank order. A new table (``create_all`` makes it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tagger.spans import Span

from .models import Base, Document, TrainingJob

INSERT_BATCH = 500


class AuditFinding(Base):
    __tablename__ = "audit_findings"
    job_id: Mapped[int] = mapped_column(ForeignKey("training_jobs.id", ondelete="CASCADE"), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0: the most suspicious
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    signal: Mapped[str] = mapped_column(String(12))  # "surface" or "folds"
    suspect: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [[start, end, label], ...]
    suggested: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [[start, end, label(, score)], ...]
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class FindingInfo:
    job_id: int
    rank: int
    document_id: int
    text: str
    stored: tuple[Span, ...]  # the document's spans now
    signal: str
    suspect: tuple[Span, ...]
    suggested: tuple[Span, ...]
    score: float
    reason: str


def add_findings(session: Session, job_id: int, rows: Sequence[dict[str, Any]]) -> None:
    """Store a job's findings (dicts with document_id, signal, suspect, suggested, score, reason), ranked as given."""
    ranked = [{"job_id": job_id, "rank": i, **row} for i, row in enumerate(rows)]
    for start in range(0, len(ranked), INSERT_BATCH):
        session.execute(insert(AuditFinding), ranked[start:start + INSERT_BATCH])


def latest_audit_job(session: Session, project_id: int) -> int | None:
    """The id of the project's newest succeeded audit job, if any."""
    rows = session.execute(select(TrainingJob.id, TrainingJob.config).where(
        TrainingJob.project_id == project_id, TrainingJob.state == "succeeded").order_by(TrainingJob.id.desc())).all()
    return next((job_id for job_id, config in rows if (config or {}).get("kind") == "audit"), None)


def findings(session: Session, job_id: int, limit: int = 200, offset: int = 0) -> list[FindingInfo]:
    rows = session.execute(select(AuditFinding, Document).join(Document, Document.id == AuditFinding.document_id)
                           .where(AuditFinding.job_id == job_id).order_by(AuditFinding.rank)
                           .limit(limit).offset(offset)).all()
    return [FindingInfo(f.job_id, f.rank, f.document_id, doc.text,
                        tuple(Span(s.start, s.end, s.label) for s in doc.spans), f.signal,
                        _spans(f.suspect), _spans(f.suggested), f.score, f.reason) for f, doc in rows]


def count_findings(session: Session, job_id: int) -> int:
    from sqlalchemy import func

    return session.scalar(select(func.count()).select_from(AuditFinding).where(AuditFinding.job_id == job_id)) or 0


def _spans(rows: list[list[Any]]) -> tuple[Span, ...]:
    return tuple(Span(r[0], r[1], r[2], r[3] if len(r) > 3 else None) for r in rows or ())
