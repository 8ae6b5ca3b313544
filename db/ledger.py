"""The correction ledger in the store: what each model version does with every correction, and pins.

Three tables of their own (``create_all`` makes them; no column of another table changes):

- ``ledger_entries``: one row per (version, corrected document): the outcome against the previous
  version (``tagger.ledger``), the correction as it was scored and both versions' spans, so the
  Models page can show them side by side without running a model.
- ``ledger_summaries``: one row per scored version: the version it was compared with, the four
  counts, the pinned corrections it broke, or why it could not be scored.
- ``pinned_corrections``: documents whose correction a person pinned as a regression set; a version
  that breaks one is not activated automatically (``worker``).

Functions take the session (``(session, ...) -> plain dataclasses``), as in ``db.repo``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, delete, func, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tagger.ledger import OUTCOMES
from tagger.spans import Example, Span

from .models import Base, Document, SpanRow, utcnow
from .repo import NotFound, _project
from .training_data import _checked

INSERT_BATCH = 500


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_version_outcome", "version_id", "outcome", "document_id"),)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16))
    split: Mapped[str] = mapped_column(String(5))
    gold: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [[start, end, label], ...] when scored
    predicted: Mapped[list[Any]] = mapped_column(JSON, default=list)  # this version's [[start, end, label, score]]
    previous: Mapped[list[Any] | None] = mapped_column(JSON)  # the previous version's, None without one


class LedgerSummary(Base):
    __tablename__ = "ledger_summaries"
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    learned: Mapped[int] = mapped_column(Integer, default=0)
    still_wrong: Mapped[int] = mapped_column(Integer, default=0)
    regressed: Mapped[int] = mapped_column(Integer, default=0)
    unchanged_right: Mapped[int] = mapped_column(Integer, default=0)
    broken_pins: Mapped[list[Any]] = mapped_column(JSON, default=list)  # document ids
    error: Mapped[str | None] = mapped_column(Text)  # why the version could not be scored
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PinnedCorrection(Base):
    __tablename__ = "pinned_corrections"
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    pinned_by: Mapped[str] = mapped_column(String(100))
    pinned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class SummaryInfo:
    version_id: int
    previous_id: int | None
    counts: dict[str, int]  # outcome -> number of documents
    broken_pins: tuple[int, ...]
    error: str | None
    scored_at: datetime | None


@dataclass(frozen=True)
class EntryInfo:
    """One scored correction: the document's text, the correction and both versions' spans."""

    document_id: int
    text: str
    outcome: str
    split: str
    gold: tuple[Span, ...]
    predicted: tuple[Span, ...]
    previous: tuple[Span, ...] | None
    pinned: bool


@dataclass(frozen=True)
class PinInfo:
    document_id: int
    text: str
    pinned_by: str
    pinned_at: datetime | None


# ----------------------------------------------------------------------------- reading corrections


def corrections_after(session: Session, project_id: int, after_id: int, limit: int) -> list[tuple[int, str, Example]]:
    """Up to ``limit`` of the project's corrections (checked train and dev documents, as a training
    job takes them) with ids above ``after_id``, in id order: ``(id, split, example)``. Keyset pages,
    so a caller streams any number of them in bounded memory."""
    rows = session.execute(select(Document.id, Document.split, Document.text)
                           .where(*_checked(project_id), Document.id > after_id)
                           .order_by(Document.id).limit(limit)).all()
    spans: dict[int, list[Span]] = {r.id: [] for r in rows}
    if rows:
        for doc_id, start, end, label in session.execute(
                select(SpanRow.document_id, SpanRow.start, SpanRow.end, SpanRow.label)
                .where(SpanRow.document_id.in_(list(spans))).order_by(SpanRow.document_id, SpanRow.start)):
            spans[doc_id].append(Span(start, end, label))
    return [(r.id, r.split, Example(r.text, tuple(spans[r.id]))) for r in rows]


# ----------------------------------------------------------------------------- writing a ledger


def add_entries(session: Session, version_id: int, entries: Sequence[dict[str, Any]]) -> None:
    """Insert scored corrections of a version: dicts with document_id, outcome, split, gold,
    predicted and previous (span lists as :func:`spans_json` makes them)."""
    for start in range(0, len(entries), INSERT_BATCH):
        batch = entries[start:start + INSERT_BATCH]
        session.execute(insert(LedgerEntry), [{"version_id": version_id, **e} for e in batch])


def clear_entries(session: Session, version_id: int) -> None:
    session.execute(delete(LedgerEntry).where(LedgerEntry.version_id == version_id))


def save_summary(session: Session, version_id: int, previous_id: int | None, *, broken_pins: Sequence[int] = (),
                 error: str | None = None) -> SummaryInfo:
    """Count the version's entries by outcome and record them (replacing an older summary)."""
    counts = dict.fromkeys(OUTCOMES, 0)
    for outcome, n in session.execute(select(LedgerEntry.outcome, func.count()).where(
            LedgerEntry.version_id == version_id).group_by(LedgerEntry.outcome)):
        counts[outcome] = n
    row = session.get(LedgerSummary, version_id) or LedgerSummary(version_id=version_id)
    row.previous_id, row.broken_pins, row.error, row.scored_at = previous_id, list(broken_pins), error, utcnow()
    for outcome, n in counts.items():
        setattr(row, outcome, n)
    session.add(row)
    session.flush()
    return _summary_info(row)


def spans_json(spans: Sequence[Span] | None) -> list[list[Any]] | None:
    if spans is None:
        return None
    return [[s.start, s.end, s.label] + ([round(float(s.score), 4)] if s.score is not None else []) for s in spans]


def _spans(rows: list[list[Any]] | None) -> tuple[Span, ...] | None:
    if rows is None:
        return None
    return tuple(Span(r[0], r[1], r[2], r[3] if len(r) > 3 else None) for r in rows)


# ----------------------------------------------------------------------------- reading a ledger


def get_summary(session: Session, version_id: int) -> SummaryInfo | None:
    """The version's ledger summary, or None when it was never scored (e.g. made before the ledger)."""
    row = session.get(LedgerSummary, version_id)
    return _summary_info(row) if row else None


def summaries(session: Session, version_ids: Sequence[int]) -> dict[int, SummaryInfo]:
    rows = session.scalars(select(LedgerSummary).where(LedgerSummary.version_id.in_(list(version_ids))))
    return {row.version_id: _summary_info(row) for row in rows}


def entries(session: Session, version_id: int, outcome: str | None = None, *, document_ids: Sequence[int] | None = None,
            limit: int = 100, offset: int = 0) -> list[EntryInfo]:
    """The version's scored corrections (one outcome, or some documents), in document order."""
    query = (select(LedgerEntry, Document.text, PinnedCorrection.document_id)
             .join(Document, Document.id == LedgerEntry.document_id)
             .outerjoin(PinnedCorrection, PinnedCorrection.document_id == LedgerEntry.document_id)
             .where(LedgerEntry.version_id == version_id))
    if outcome is not None:
        query = query.where(LedgerEntry.outcome == outcome)
    if document_ids is not None:
        query = query.where(LedgerEntry.document_id.in_(list(document_ids)))
    rows = session.execute(query.order_by(LedgerEntry.document_id).limit(limit).offset(offset)).all()
    return [EntryInfo(e.document_id, text, e.outcome, e.split, _spans(e.gold), _spans(e.predicted),
                      _spans(e.previous), pinned is not None) for e, text, pinned in rows]


def iter_entries(session: Session, version_id: int, *, batch: int = 1000):
    """Every scored correction of the version, in keyset pages (bounded memory)."""
    after = 0
    while True:
        query = (select(LedgerEntry, Document.text).join(Document, Document.id == LedgerEntry.document_id)
                 .where(LedgerEntry.version_id == version_id, LedgerEntry.document_id > after)
                 .order_by(LedgerEntry.document_id).limit(batch))
        rows = session.execute(query).all()
        if not rows:
            return
        for e, text in rows:
            yield EntryInfo(e.document_id, text, e.outcome, e.split, _spans(e.gold), _spans(e.predicted),
                            _spans(e.previous), False)
        after = rows[-1][0].document_id


# ----------------------------------------------------------------------------- pins


def pin(session: Session, document_id: int, pinned_by: str) -> PinInfo:
    """Pin a document's correction (a no-op when it is pinned already)."""
    doc = session.get(Document, document_id)
    if doc is None:
        raise NotFound(f"no document {document_id}")
    row = session.get(PinnedCorrection, document_id)
    if row is None:
        row = PinnedCorrection(document_id=document_id, project_id=doc.project_id, pinned_by=pinned_by)
        session.add(row)
        session.flush()
    return PinInfo(document_id, doc.text, row.pinned_by, row.pinned_at)


def unpin(session: Session, document_id: int) -> None:
    session.execute(delete(PinnedCorrection).where(PinnedCorrection.document_id == document_id))


def pins(session: Session, project_id: int) -> list[PinInfo]:
    """The project's pinned corrections, in document order."""
    _project(session, project_id)
    rows = session.execute(select(PinnedCorrection, Document.text)
                           .join(Document, Document.id == PinnedCorrection.document_id)
                           .where(PinnedCorrection.project_id == project_id)
                           .order_by(PinnedCorrection.document_id)).all()
    return [PinInfo(p.document_id, text, p.pinned_by, p.pinned_at) for p, text in rows]


def pinned_ids(session: Session, project_id: int) -> set[int]:
    return set(session.scalars(select(PinnedCorrection.document_id).where(PinnedCorrection.project_id == project_id)))


def _summary_info(row: LedgerSummary) -> SummaryInfo:
    return SummaryInfo(row.version_id, row.previous_id, {o: int(getattr(row, o) or 0) for o in OUTCOMES},
                       tuple(row.broken_pins or ()), row.error, row.scored_at)
