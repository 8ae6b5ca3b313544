"""Assignments and per-annotator corrections in the store (team mode, issue 15 part 3).

Two tables of their own (``create_all`` makes them; no column of another table changes, so
SCHEMA_VERSION stays):

- ``assignments``: which annotator is to correct which document (one row per pair).
- ``adjudications``: each time a reviewer saved a document's gold, and whose correction they
  adopted (None: a merge); the spans themselves are in the document's history, as every save.
- ``annotations``: each annotator's own accepted spans of a document (a frames document's: its
  frames, in the ``spans`` column as the history keeps them), with the document version they were
  made on. A new Accept by the same person replaces their row (the document's history
  keeps the gold's changes; this table keeps the last word of each person), and nobody's row is
  ever written by another person.

Functions take the session (``(session, ...) -> plain dataclasses``), as in ``db.repo``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tagger.spans import Frame, SeqLabError, Span, validate_frames, validate_spans

from .models import Base, Document, utcnow
from .repo import NotFound, _frame_json, _history_side, _project, _span_json


class AssignmentRow(Base):
    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("document_id", "annotator"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    annotator: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AnnotationRow(Base):
    __tablename__ = "annotations"
    __table_args__ = (UniqueConstraint("document_id", "annotator"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    annotator: Mapped[str] = mapped_column(String(100))
    spans: Mapped[list[Any]] = mapped_column(default=list)
    document_version: Mapped[int] = mapped_column(Integer)
    accepted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class AdjudicationRow(Base):
    __tablename__ = "adjudications"
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    reviewer: Mapped[str] = mapped_column(String(100))
    adopted_from: Mapped[str | None] = mapped_column(String(100))
    document_version: Mapped[int] = mapped_column(Integer)  # the version the gold became
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class AdjudicationInfo:
    document_id: int
    reviewer: str
    adopted_from: str | None
    document_version: int
    at: datetime | None


@dataclass(frozen=True)
class AnnotationInfo:
    """One annotator's accepted spans (a frames document's: frames) of a document, made on
    ``document_version`` of it."""

    document_id: int
    annotator: str
    spans: tuple[Span, ...]
    document_version: int
    accepted_at: datetime | None
    frames: tuple[Frame, ...] = ()

    @property
    def marks(self) -> tuple:
        """What the annotator marked: the frames of a frames document, else the spans."""
        return self.frames or self.spans


def _document(session: Session, document_id: int) -> Document:
    doc = session.get(Document, document_id)
    if doc is None:
        raise NotFound(f"no document {document_id}")
    return doc


def assign(session: Session, document_id: int, annotators: Iterable[str]) -> list[str]:
    """Add ``annotators`` to a document's assignees (those already there stay); returns them all."""
    doc = _document(session, document_id)
    have = set(assignees(session, document_id))
    for name in dict.fromkeys(annotators):
        if name not in have:
            session.add(AssignmentRow(document_id=doc.id, project_id=doc.project_id, annotator=name))
    session.flush()
    return assignees(session, document_id)


def unassign(session: Session, document_id: int, annotator: str) -> None:
    session.execute(delete(AssignmentRow).where(AssignmentRow.document_id == document_id,
                                                AssignmentRow.annotator == annotator))


def assignees(session: Session, document_id: int) -> list[str]:
    """Who the document is assigned to, in the order they were assigned."""
    return list(session.scalars(select(AssignmentRow.annotator).where(AssignmentRow.document_id == document_id)
                                .order_by(AssignmentRow.id)))


def assignments(session: Session, project_id: int) -> dict[int, list[str]]:
    """``{document id: assignees}`` of a project's assigned documents."""
    out: dict[int, list[str]] = {}
    rows = session.execute(select(AssignmentRow.document_id, AssignmentRow.annotator)
                           .where(AssignmentRow.project_id == project_id).order_by(AssignmentRow.id))
    for doc_id, name in rows:
        out.setdefault(doc_id, []).append(name)
    return out


def has_assignments(session: Session, project_id: int) -> bool:
    return session.scalar(select(AssignmentRow.id).where(AssignmentRow.project_id == project_id).limit(1)) is not None


def assigned_ids(session: Session, project_id: int, annotator: str) -> list[int]:
    """The ids of the project's documents assigned to ``annotator``, ascending."""
    return list(session.scalars(select(AssignmentRow.document_id).where(
        AssignmentRow.project_id == project_id, AssignmentRow.annotator == annotator).order_by(AssignmentRow.document_id)))


def save_annotation(session: Session, document_id: int, annotator: str, spans: Iterable[Span] = (),
                    frames: Iterable[Frame] | None = None) -> AnnotationInfo:
    """Store (or replace) ``annotator``'s own accepted spans of a document, or with ``frames`` its
    frames (a frames project's document), validated like a save."""
    doc = _document(session, document_id)
    project = _project(session, doc.project_id)
    labels = {label.name for label in project.labels}
    if (frames is not None) != (project.task_kind == "frames"):
        raise SeqLabError(f"a {project.task_kind} document takes {'frames' if frames is None else 'spans'}")
    if frames is not None:
        marks = [_frame_json(f) for f in validate_frames(doc.text, frames, labels)]
    else:
        marks = [_span_json(s) for s in validate_spans(doc.text, spans, labels)]
    row = session.scalar(select(AnnotationRow).where(AnnotationRow.document_id == document_id,
                                                     AnnotationRow.annotator == annotator))
    if row is None:
        row = AnnotationRow(document_id=doc.id, project_id=doc.project_id, annotator=annotator)
        session.add(row)
    row.spans = marks
    row.document_version = doc.version or 1
    row.accepted_at = utcnow()
    session.flush()
    return _info(row)


def annotations_of(session: Session, document_id: int) -> list[AnnotationInfo]:
    """Every annotator's accepted spans of a document, in the order they first accepted."""
    rows = session.scalars(select(AnnotationRow).where(AnnotationRow.document_id == document_id)
                           .order_by(AnnotationRow.id))
    return [_info(r) for r in rows]


def annotated_documents(session: Session, project_id: int, minimum: int = 2) -> list[int]:
    """Ids of the project's documents with at least ``minimum`` annotations, ascending."""
    return list(session.scalars(select(AnnotationRow.document_id).where(AnnotationRow.project_id == project_id)
                                .group_by(AnnotationRow.document_id)
                                .having(func.count() >= minimum).order_by(AnnotationRow.document_id)))


def project_annotations(session: Session, project_id: int, ids: Sequence[int] | None = None
                        ) -> dict[int, tuple[str, dict[str, tuple]]]:
    """``{document id: (text, {annotator: spans})}`` for the documents with 2+ annotations (or
    ``ids``); a frames project's: ``{annotator: frames}``."""
    wanted = list(ids) if ids is not None else annotated_documents(session, project_id)
    out: dict[int, tuple[str, dict[str, tuple[Span, ...]]]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        texts = dict(session.execute(select(Document.id, Document.text).where(Document.id.in_(chunk))).all())
        rows = session.scalars(select(AnnotationRow).where(AnnotationRow.document_id.in_(chunk))
                               .order_by(AnnotationRow.id))
        for row in rows:
            out.setdefault(row.document_id, (texts[row.document_id], {}))[1][row.annotator] = _info(row).marks
    return out


def statuses(session: Session, ids: Sequence[int]) -> dict[int, str]:
    """``{document id: status}`` of the given documents."""
    out: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        out.update(session.execute(select(Document.id, Document.status)
                                   .where(Document.id.in_(ids[start:start + 500]))).all())
    return out


def _info(row: AnnotationRow) -> AnnotationInfo:
    spans, frames = _history_side(row.spans or [])
    return AnnotationInfo(row.document_id, row.annotator, spans, row.document_version, row.accepted_at, frames)


def record_adjudication(session: Session, document_id: int, reviewer: str, adopted_from: str | None,
                        document_version: int) -> None:
    session.add(AdjudicationRow(document_id=document_id, reviewer=reviewer, adopted_from=adopted_from,
                                document_version=document_version))
    session.flush()


def adjudications(session: Session, document_id: int) -> list[AdjudicationInfo]:
    rows = session.scalars(select(AdjudicationRow).where(AdjudicationRow.document_id == document_id)
                           .order_by(AdjudicationRow.id))
    return [AdjudicationInfo(r.document_id, r.reviewer, r.adopted_from, r.document_version, r.at) for r in rows]
