"""The annotation queue's order: file order, a stable random order, or the model's uncertainty.

The worker ranks a project's waiting documents after each retrain (``services.loop``) and stores
one :class:`~db.models.QueueScore` per document; :func:`next_document` reads that order, so a
page rerun never ranks anything. Documents added after the last ranking come after the ranked
ones, in file order; a corrected document's score is removed when it is saved (``repo.save_spans``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from tagger.spans import Span

from . import repo
from .models import Document, ModelVersion, Project, QueueScore
from .repo import DocumentInfo

WAITING = ("new", "predicted")


@dataclass(frozen=True)
class QueueReason:
    """Why a document is where it is in the queue: the model's uncertainty and what it was unsure of."""

    uncertainty: float
    rank: int
    ranked: int  # how many documents the ranking placed
    version_id: int
    unsure: tuple[Span, ...]
    drawn: bool = False  # placed there by the ranking's random draw, not for its score (services.loop)


@dataclass(frozen=True)
class Scored:
    """One ranked document, as the worker stores it."""

    document_id: int
    uncertainty: float
    unsure: tuple[Span, ...] = ()


def next_document(session: Session, project_id: int, after_id: int = 0) -> DocumentInfo | None:
    """The next waiting document (new or predicted) after ``after_id`` in the project's queue order."""
    project = session.get(Project, project_id)
    order = project.queue_order if project is not None else "file"
    if order == "uncertainty" and project.ranked_version_id is not None:
        return _by_rank(session, project_id, after_id)
    if order == "random":
        return _by_hash(session, project_id, after_id)
    return repo.next_in_queue(session, project_id, after_id)


def _by_rank(session: Session, project_id: int, after_id: int) -> DocumentInfo | None:
    """After a ranked document (skipped): the next in rank. After one that left the queue (accepted:
    its score is gone) or at the start: the most uncertain one still waiting. After a waiting
    document ranked later than the others were: the next such, in file order."""
    after_rank = -1
    if after_id:
        after_rank = session.scalar(select(QueueScore.rank).where(QueueScore.document_id == after_id))
        if after_rank is None and session.scalar(select(Document.status).where(Document.id == after_id)) not in WAITING:
            after_rank = -1
    if after_rank is not None:  # ranked (or the start): the next ranked one, then the unranked ones
        found = session.scalar(
            select(Document.id).join(QueueScore, QueueScore.document_id == Document.id)
            .where(QueueScore.project_id == project_id, QueueScore.rank > after_rank, Document.status.in_(WAITING))
            .order_by(QueueScore.rank).limit(1))
        if found is not None:
            return repo.get_document(session, found)
        after_id = 0
    unranked = session.scalar(
        select(Document.id).outerjoin(QueueScore, QueueScore.document_id == Document.id)
        .where(Document.project_id == project_id, Document.id > after_id, QueueScore.document_id.is_(None),
               Document.status.in_(WAITING))
        .order_by(Document.id).limit(1))
    return repo.get_document(session, unranked) if unranked is not None else None


def _by_hash(session: Session, project_id: int, after_id: int) -> DocumentInfo | None:
    """A stable shuffle: documents in the order of their text's SHA-256."""
    after = ""
    if after_id:
        after = session.scalar(select(Document.content_hash).where(Document.id == after_id)) or ""
    doc_id = session.scalar(select(Document.id).where(Document.project_id == project_id, Document.content_hash > after,
                                                      Document.status.in_(WAITING))
                            .order_by(Document.content_hash).limit(1))
    return repo.get_document(session, doc_id) if doc_id is not None else None


def replace_scores(session: Session, project_id: int, version_id: int, ranked: Sequence[Scored]) -> int:
    """Store a new ranking (``ranked``: queue order, first = rank 0) in place of the old one."""
    session.execute(delete(QueueScore).where(QueueScore.project_id == project_id))
    rows = [{"document_id": r.document_id, "project_id": project_id, "version_id": version_id,
             "uncertainty": float(r.uncertainty), "rank": rank,
             "unsure": [[s.start, s.end, s.label, s.score] for s in r.unsure]} for rank, r in enumerate(ranked)]
    for start in range(0, len(rows), 5000):
        session.execute(insert(QueueScore), rows[start : start + 5000])
    project = session.get(Project, project_id)
    project.ranked_version_id = version_id
    session.flush()
    return len(rows)


def reason(session: Session, document_id: int) -> QueueReason | None:
    """Why the document is where it is, if the model ranked it."""
    row = session.get(QueueScore, document_id)
    if row is None:
        return None
    ranked = session.scalar(select(QueueScore.rank).where(QueueScore.project_id == row.project_id)
                            .order_by(QueueScore.rank.desc()).limit(1))
    unsure = tuple(Span(a, b, label, score) for a, b, label, score in row.unsure or [])
    return QueueReason(row.uncertainty, row.rank, (ranked or 0) + 1, row.version_id, unsure)


def needs_ranking(session: Session) -> list[tuple[int, int]]:
    """``(project id, active version id)`` of the projects whose queue was not ranked with the
    version now active (a retrain, an activation or a rollback happened since)."""
    rows = session.execute(select(Project.id, ModelVersion.id)
                           .join(ModelVersion, (ModelVersion.project_id == Project.id) & ModelVersion.active.is_(True))
                           .where(Project.ranked_version_id.is_distinct_from(ModelVersion.id)))
    return [(pid, vid) for pid, vid in rows]
