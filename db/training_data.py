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
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tagger.spans import Example, Span

from .models import Document
from .repo import _project

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
        return sum(len(e.spans) for e in self.train)

    def describe(self) -> dict[str, Any]:
        """JSON-ready: what a model version records as the data it saw."""
        return {"train_docs": len(self.train), "dev_docs": len(self.dev), "dev_holdout": self.dev_holdout,
                "train_doc_ids": list(self.train_ids), "dev_doc_ids": list(self.dev_ids)}


def training_data(session: Session, project_id: int) -> TrainingData:
    """The project's checked train and dev documents (a held-out tenth of train when dev is empty)."""
    _project(session, project_id)  # NotFound for an unknown project
    rows = session.scalars(
        select(Document).options(selectinload(Document.spans))
        .where(Document.project_id == project_id, Document.status.in_(TRAINED_STATUSES),
               Document.split.in_(("train", "dev")))
        .order_by(Document.id)
    ).all()
    train = [r for r in rows if r.split == "train"]
    dev = [r for r in rows if r.split == "dev"]
    holdout = not dev
    if holdout:
        train, dev = _hold_out(train)
    return TrainingData(tuple(_example(r) for r in train), tuple(_example(r) for r in dev),
                        tuple(r.id for r in train), tuple(r.id for r in dev), holdout, _fingerprint(rows))


def _hold_out(rows: list[Document]) -> tuple[list[Document], list[Document]]:
    """Split off the documents whose hash falls in bucket 0; at least one when there are two or more.

    The bucket uses other hash digits than :func:`db.repo.stable_split`, which already decided that
    these documents are not dev ones.
    """
    def bucket(row: Document) -> int:
        return int(row.content_hash[8:16], 16)

    held = [r for r in rows if bucket(r) % HOLDOUT_BUCKETS == 0]
    if not held and len(rows) >= 2:
        held = [min(rows, key=bucket)]
    if len(held) == len(rows):
        held = []
    held_ids = {r.id for r in held}
    return [r for r in rows if r.id not in held_ids], held


def _example(row: Document) -> Example:
    spans = tuple(Span(s.start, s.end, s.label) for s in sorted(row.spans, key=lambda s: s.start))
    return Example(row.text, spans)


def _fingerprint(rows: list[Document]) -> str:
    items = [[r.id, r.split, r.status, r.content_hash, str(r.updated_at),
              sorted([s.start, s.end, s.label] for s in r.spans)] for r in rows]
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]
