"""What a training job learns from: the project's human-checked documents, split train / dev.

Only documents a person has accepted count: status ``corrected`` (a saved correction or an import
with spans) or ``reviewed``. A checked document without spans stays in: "no entities here" is
something the model should learn too. When the dev split is empty, a stable tenth of the train
documents (by content hash, so the same documents every time) is held out for evaluation and
:attr:`TrainingData.dev_holdout` says so.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tagger.spans import Example, Span

from .models import Document, FrameSpanRow, SpanRow
from .repo import _frames_of, _project

TRAINED_STATUSES = ("corrected", "reviewed")
HOLDOUT_BUCKETS = 10  # one bucket in ten is held out: 10 %


@dataclass(frozen=True)
class TrainingData:
    """The examples a job trains and evaluates on, with the ids of the documents they came from."""

    train: tuple[Example, ...]
    dev: tuple[Example, ...]
    train_ids: tuple[int, ...]
    dev_ids: tuple[int, ...]
    dev_holdout: bool
    fingerprint: str  # changes whenever a document that goes in (or its spans) changes

    @property
    def train_spans(self) -> int:
        """Spans (a frames project's: arguments) of the train documents."""
        return sum(len(e.spans) + sum(len(f.arguments) for f in e.frames) for e in self.train)

    @property
    def train_docs(self) -> int:
        return len(self.train)

    @property
    def dev_docs(self) -> int:
        return len(self.dev)

    def describe(self) -> dict[str, Any]:
        """JSON-ready: what a model version records as the data it saw."""
        return {"train_docs": len(self.train), "dev_docs": len(self.dev), "dev_holdout": self.dev_holdout,
                "train_doc_ids": list(self.train_ids), "dev_doc_ids": list(self.dev_ids)}


@dataclass(frozen=True)
class TrainingSummary:
    """The sizes of a project's :class:`TrainingData`, without the documents (see :func:`training_summary`)."""

    train_docs: int
    dev_docs: int
    train_spans: int
    dev_holdout: bool


def training_data(session: Session, project_id: int) -> TrainingData:
    """The project's checked train and dev documents (a held-out tenth of train when dev is empty).

    Two plain queries (documents, then their spans in order), not ORM objects: 500,000 checked
    documents load in seconds.
    """
    _project(session, project_id)  # NotFound for an unknown project
    rows = session.execute(select(Document.id, Document.text, Document.split, Document.status,
                                  Document.content_hash, Document.updated_at)
                           .where(*_checked(project_id)).order_by(Document.id)).all()
    spans: dict[int, list[Span]] = defaultdict(list)
    for doc_id, start, end, label in session.execute(
            select(SpanRow.document_id, SpanRow.start, SpanRow.end, SpanRow.label)
            .join(Document, SpanRow.document_id == Document.id).where(*_checked(project_id))
            .order_by(SpanRow.document_id, SpanRow.start)):
        spans[doc_id].append(Span(start, end, label))
    frame_rows: dict[int, list] = defaultdict(list)  # a frames project's (empty for the others)
    for row in session.execute(
            select(FrameSpanRow.document_id, FrameSpanRow.frame, FrameSpanRow.predicate, FrameSpanRow.start,
                   FrameSpanRow.end, FrameSpanRow.label, FrameSpanRow.score)
            .join(Document, FrameSpanRow.document_id == Document.id).where(*_checked(project_id))):
        frame_rows[row.document_id].append(row)
    frames = {doc_id: _frames_of(group) for doc_id, group in frame_rows.items()}
    train = [r for r in rows if r.split == "train"]
    dev = [r for r in rows if r.split == "dev"]
    holdout = not dev
    if holdout:
        held = _held_ids([(r.id, _bucket(r.content_hash)) for r in train])
        train, dev = [r for r in train if r.id not in held], [r for r in train if r.id in held]
    return TrainingData(tuple(Example(r.text, tuple(spans[r.id]), {}, frames.get(r.id, ())) for r in train),
                        tuple(Example(r.text, tuple(spans[r.id]), {}, frames.get(r.id, ())) for r in dev),
                        tuple(r.id for r in train), tuple(r.id for r in dev), holdout, _fingerprint(rows, spans))


def training_summary(session: Session, project_id: int) -> TrainingSummary:
    """How many documents and entities :func:`training_data` would give, counted in the database.

    For pages that show the sizes on every run: no text is read, and the held-out tenth (when the
    dev split is empty) is chosen from the hash digits alone, by the same rule. Each query names
    one status and one split, so it reads the (project, status, split) index alone.
    """
    _project(session, project_id)

    def where(status: str, split: str) -> tuple:
        return Document.project_id == project_id, Document.status == status, Document.split == split

    def count(query, split: str) -> int:
        return sum(session.scalar(query.where(*where(status, split))) for status in TRAINED_STATUSES)

    documents = select(func.count()).select_from(Document)
    train, dev = count(documents, "train"), count(documents, "dev")
    if dev:
        spans = select(func.count(SpanRow.id)).join(Document, SpanRow.document_id == Document.id)
        arguments = (select(func.count(FrameSpanRow.id)).join(Document, FrameSpanRow.document_id == Document.id)
                     .where(FrameSpanRow.predicate.is_(False)))  # a frames project's spans
        return TrainingSummary(train, dev, count(spans, "train") + count(arguments, "train"), False)
    n_spans = (select(func.count(SpanRow.id)).where(SpanRow.document_id == Document.id)
               .correlate(Document).scalar_subquery()
               + select(func.count(FrameSpanRow.id)).where(FrameSpanRow.document_id == Document.id,
                                                           FrameSpanRow.predicate.is_(False))
               .correlate(Document).scalar_subquery())
    rows = sorted(row for status in TRAINED_STATUSES for row in session.execute(
        select(Document.id, func.substr(Document.content_hash, 9, 8), n_spans).where(*where(status, "train"))))
    held = _held_ids([(doc_id, int(digits, 16)) for doc_id, digits, _ in rows])
    return TrainingSummary(len(rows) - len(held), len(held), sum(n for doc_id, _, n in rows if doc_id not in held),
                           True)


def _checked(project_id: int) -> tuple:
    """The WHERE clause of the documents a job learns from: checked, in the train or dev split."""
    return (Document.project_id == project_id, Document.status.in_(TRAINED_STATUSES),
            Document.split.in_(("train", "dev")))


def _bucket(digest: str) -> int:
    """Other hash digits than :func:`db.repo.stable_split` uses, which already decided that these
    documents are not dev ones."""
    return int(digest[8:16], 16)


def _held_ids(buckets: list[tuple[int, int]]) -> set[int]:
    """The ids to hold out of ``(id, bucket)`` pairs in id order: bucket 0 of ten; at least one when
    there are two or more; none when that would be all of them."""
    held = [pair for pair in buckets if pair[1] % HOLDOUT_BUCKETS == 0]
    if not held and len(buckets) >= 2:
        held = [min(buckets, key=lambda pair: pair[1])]
    if len(held) == len(buckets):
        held = []
    return {doc_id for doc_id, _ in held}


def _fingerprint(rows, spans: dict[int, list[Span]]) -> str:
    items = [[r.id, r.split, r.status, r.content_hash, str(r.updated_at),
              sorted([s.start, s.end, s.label] for s in spans.get(r.id, ()))] for r in rows]
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]
