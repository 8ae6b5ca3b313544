"""Query functions: ``(session, ...) -> plain frozen dataclasses``; never ORM objects to pages.

The caller owns the session (``with write_session(factory) as s: repo.save_spans(s, ...)``).
Everything users can feed in is validated here before anything is written, so a bad record
means an error and nothing stored.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session, selectinload

from tagger.spans import Example, Frame, SeqLabError, Span, validate_frames, validate_spans, validate_text

from .models import (QUEUE_ORDERS, SOURCES, SPLITS, STATUSES, TASK_KINDS, Document, Draft, FrameSpanRow, History, Label, Project,
                     QueueScore, SpanRow, utcnow)

IMPORT_BATCH = 1000  # rows per bulk INSERT and per hash lookup (well under any driver's parameter limit)
# Zero-width non-joiner and joiner: allowed inside a word, ignored when names are compared.
JOINERS = "\u200c\u200d"
DROPPED_IN_KEY = {ord(ch): None for ch in JOINERS}
PALETTE = ("#8ecae6", "#ffb703", "#90be6d", "#f28482", "#cdb4db", "#f4a261", "#a8dadc", "#e9c46a")


class NotFound(SeqLabError):
    """A project, label or document that does not exist."""


class StaleDocument(SeqLabError):
    """A save made from an older version of a document than the one stored: refused, not applied."""


@dataclass(frozen=True)
class LabelInfo:
    name: str
    colour: str
    shortcut: str | None


@dataclass(frozen=True)
class ProjectInfo:
    id: int
    name: str
    task_kind: str
    base_model: str
    decoder: str
    encoder: str
    auto_activate: bool
    labels: tuple[LabelInfo, ...]
    queue_order: str = "uncertainty"  # db.models.QUEUE_ORDERS

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]


@dataclass(frozen=True)
class DocumentInfo:
    id: int
    project_id: int
    text: str
    split: str
    status: str
    spans: tuple[Span, ...]
    sources: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1  # +1 on every change of the spans (see save_spans' expected_version)
    frames: tuple[Frame, ...] = ()  # a frames (SRL) document's predicates and their arguments


@dataclass(frozen=True)
class DraftInfo:
    """Spans a person has not accepted yet, started from ``base_version`` of the document."""

    document_id: int
    annotator: str
    spans: tuple[Span, ...]
    base_version: int
    updated_at: datetime | None = None


@dataclass(frozen=True)
class DocumentRow:
    """One line of the document table: the start of the text and how many spans it has."""

    id: int
    text: str  # the first characters, ending in "…" when the text is longer
    split: str
    status: str
    spans: int
    updated_at: datetime | None


@dataclass(frozen=True)
class HistoryEntry:
    annotator: str
    source: str
    at: datetime
    before: tuple[Span, ...]
    after: tuple[Span, ...]
    before_frames: tuple[Frame, ...] = ()  # a frames document's change
    after_frames: tuple[Frame, ...] = ()


@dataclass(frozen=True)
class ImportResult:
    added: int
    duplicates: int


def content_hash(text: str) -> str:
    """SHA-256 of the exact text (nothing normalised: a different space is a different text)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def stable_split(text_hash: str) -> str:
    """80 / 10 / 10 train / dev / test, fixed by the text's hash so it never moves."""
    bucket = int(text_hash[:8], 16) % 10
    return "dev" if bucket == 0 else "test" if bucket == 1 else "train"


# ----------------------------------------------------------------------------- projects


def create_project(session: Session, name: str, labels: Sequence[str] = (), task_kind: str = "spans",
                   base_model: str = "default", decoder: str = "crf", encoder: str = "bilstm") -> ProjectInfo:
    """A new project with its labels; names are unique."""
    name = _clean_name(name, "project name")
    if task_kind not in TASK_KINDS:
        raise SeqLabError(f"task kind must be one of {', '.join(TASK_KINDS)}, got {task_kind!r}")
    _refuse_look_alike(name, session.scalars(select(Project.name)), "a project named")
    project = Project(name=name, task_kind=task_kind, base_model=base_model, decoder=decoder, encoder=encoder)
    session.add(project)
    session.flush()
    for label in labels:
        add_label(session, project.id, label)
    return get_project(session, project.id)


def get_project(session: Session, key: int | str) -> ProjectInfo:
    """A project by id or name."""
    column = Project.id if isinstance(key, int) else Project.name
    project = session.scalar(select(Project).where(column == key))
    if project is None:
        raise NotFound(f"no project {key!r}")
    return _project_info(project)


def list_projects(session: Session) -> list[ProjectInfo]:
    return [_project_info(p) for p in session.scalars(select(Project).order_by(Project.name))]


def update_project(session: Session, project_id: int, **changes: Any) -> ProjectInfo:
    """Rename a project or change its base model, decoder, encoder, auto-activate, queue order."""
    project = _project(session, project_id)
    allowed = {"name", "base_model", "decoder", "encoder", "auto_activate", "queue_order"}
    unknown = set(changes) - allowed
    if unknown:
        raise SeqLabError(f"cannot change {', '.join(sorted(unknown))} of a project")
    if "name" in changes:
        changes["name"] = _clean_name(changes["name"], "project name")
        others = session.scalars(select(Project.name).where(Project.id != project_id))
        _refuse_look_alike(changes["name"], others, "a project named")
    if changes.get("decoder", "crf") not in ("crf", "softmax"):
        raise SeqLabError(f"decoder must be crf or softmax, got {changes['decoder']!r}")
    if changes.get("encoder", "bilstm") not in ("bilstm", "none"):
        raise SeqLabError(f"encoder must be bilstm or none, got {changes['encoder']!r}")
    if changes.get("queue_order", "uncertainty") not in QUEUE_ORDERS:
        raise SeqLabError(f"queue order must be one of {', '.join(QUEUE_ORDERS)}, got {changes['queue_order']!r}")
    for key, value in changes.items():
        setattr(project, key, value)
    session.flush()
    return _project_info(project)


def add_label(session: Session, project_id: int, name: str, colour: str | None = None,
              shortcut: str | None = None) -> LabelInfo:
    """Add a label (entity type) to a project."""
    project = _project(session, project_id)
    name = _clean_name(name, "label", max_len=100)
    if any(ch.isspace() for ch in name):
        raise SeqLabError(f"label {name!r} contains white space")
    _refuse_look_alike(name, (label.name for label in project.labels), "label", f" in {project.name!r}")
    position = len(project.labels)
    label = Label(name=name, colour=colour or PALETTE[position % len(PALETTE)],
                  shortcut=shortcut or _free_shortcut(project), position=position)
    project.labels.append(label)
    session.flush()
    return LabelInfo(label.name, label.colour, label.shortcut)


def rename_label(session: Session, project_id: int, old: str, new: str, annotator: str = "seqlab") -> None:
    """Rename a label and every span that carries it (history records the change)."""
    project = _project(session, project_id)
    new = _clean_name(new, "label", max_len=100)
    if any(ch.isspace() for ch in new):
        raise SeqLabError(f"label {new!r} contains white space")
    label = next((lb for lb in project.labels if lb.name == old), None)
    if label is None:
        raise NotFound(f"no label {old!r} in {project.name!r}")
    _refuse_look_alike(new, (lb.name for lb in project.labels if lb is not label), "label", f" in {project.name!r}")
    docs = session.scalars(
        select(Document).where(Document.project_id == project_id,
                               Document.id.in_(select(SpanRow.document_id).where(SpanRow.label == old)))
    ).all()
    before = {doc.id: [_span_json(s) for s in _document_info(doc).spans] for doc in docs}
    label.name = new
    for doc in docs:
        for row in doc.spans:
            if row.label == old:
                row.label = new
        doc.version = (doc.version or 1) + 1
        session.add(History(document_id=doc.id, annotator=annotator, source="human", before=before[doc.id],
                            after=[_span_json(s) for s in _document_info(doc).spans]))
    session.flush()


def update_label(session: Session, project_id: int, name: str, *, colour: str | None = None,
                 shortcut: str | None = None) -> LabelInfo:
    """Change a label's colour (``#rrggbb``) or keyboard shortcut (one letter or digit, unique)."""
    project = _project(session, project_id)
    label = next((lb for lb in project.labels if lb.name == name), None)
    if label is None:
        raise NotFound(f"no label {name!r} in {project.name!r}")
    if colour is not None:
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", colour):
            raise SeqLabError(f"colour must look like #1f77b4, got {colour!r}")
        label.colour = colour.lower()
    if shortcut is not None:
        shortcut = shortcut.strip().lower() or None
        if shortcut is not None and not (len(shortcut) == 1 and shortcut.isascii() and shortcut.isalnum()):
            raise SeqLabError(f"a shortcut is one letter or digit, got {shortcut!r}")
        if shortcut in ("c", "r"):
            raise SeqLabError(f"shortcut {shortcut!r} is reserved by the app (clear cache / rerun); choose another")
        taken = next((lb.name for lb in project.labels if lb is not label and shortcut and lb.shortcut == shortcut), None)
        if taken:
            raise SeqLabError(f"shortcut {shortcut!r} is already used by label {taken!r}")
        label.shortcut = shortcut
    session.flush()
    return LabelInfo(label.name, label.colour, label.shortcut)


def _free_shortcut(project: Project) -> str | None:
    used = {label.shortcut for label in project.labels}
    return next((str(d) for d in range(1, 10) if str(d) not in used), None)


# ----------------------------------------------------------------------------- documents


def add_documents(session: Session, project_id: int, examples: Iterable[Example], *, annotator: str = "import",
                  source: str = "import", split: str | None = None, status: str | None = None) -> ImportResult:
    """Store documents (and their spans) all-or-nothing; texts already stored are skipped.

    Every record is checked before anything is written. Duplicates (of stored texts or within
    ``examples``) are found by content hash in batches, and documents, spans and history go in as
    bulk inserts, so 100,000 lines take seconds; the caller's transaction makes it all or nothing.
    """
    project = _project(session, project_id)
    if source not in SOURCES:
        raise SeqLabError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    labels = {label.name for label in project.labels}
    examples = list(examples)
    rows = [_document_row(number, example, labels, split, status)
            for number, example in enumerate(examples, 1)]
    known = _stored_hashes(session, project_id, [row["content_hash"] for row in rows])
    fresh = []
    for row, example in zip(rows, examples):
        if row["content_hash"] not in known:
            known.add(row["content_hash"])
            fresh.append((row, example))
    ids = _insert_documents(session, project_id, [row for row, _ in fresh])
    _insert_spans(session, [(doc_id, example.spans) for doc_id, (_, example) in zip(ids, fresh) if example.spans],
                  source, annotator)
    _insert_frames(session, [(doc_id, example.frames) for doc_id, (_, example) in zip(ids, fresh) if example.frames],
                   source, annotator)
    return ImportResult(len(fresh), len(examples) - len(fresh))


def _document_row(number: int, example: Example, labels: set[str], split: str | None,
                  status: str | None) -> dict[str, Any]:
    """The checked ``documents`` row of one example (without its project), or a SeqLabError naming it."""
    try:
        validate_text(example.text)
        validate_spans(example.text, example.spans, labels)
        validate_frames(example.text, example.frames, labels)
    except SeqLabError as exc:
        raise SeqLabError(f"document {number}: {exc}") from exc
    digest = content_hash(example.text)
    annotated = bool(example.spans or example.frames)
    row = {"text": example.text, "content_hash": digest,
           "split": split or example.meta.get("split") or stable_split(digest),
           "status": status or ("corrected" if annotated else "new"), "meta": dict(example.meta),
           "version": 2 if annotated else 1}  # storing the spans is the first change, as save_spans counts
    if row["split"] not in SPLITS:
        raise SeqLabError(f"split must be one of {', '.join(SPLITS)}, got {row['split']!r}")
    return row


def _stored_hashes(session: Session, project_id: int, hashes: Sequence[str]) -> set[str]:
    """Which of ``hashes`` the project already has (looked up by the unique index, a batch at a time)."""
    found: set[str] = set()
    for at in range(0, len(hashes), IMPORT_BATCH):
        found.update(session.scalars(select(Document.content_hash).where(
            Document.project_id == project_id, Document.content_hash.in_(hashes[at:at + IMPORT_BATCH]))))
    return found


def _insert_documents(session: Session, project_id: int, rows: list[dict[str, Any]]) -> list[int]:
    """Bulk-insert ``documents`` rows; their new ids, in order.

    RETURNING without ``sort_by_parameter_order``: SQLite would then insert row by row. The ids
    are matched to the rows by content hash instead (unique in a project).
    """
    ids: dict[str, int] = {}
    now = utcnow()
    for at in range(0, len(rows), IMPORT_BATCH):
        batch = [{**row, "project_id": project_id, "created_at": now, "updated_at": now}
                 for row in rows[at:at + IMPORT_BATCH]]
        ids.update((digest, doc_id) for doc_id, digest in
                   session.execute(insert(Document).returning(Document.id, Document.content_hash), batch))
    return [ids[row["content_hash"]] for row in rows]


def _insert_spans(session: Session, documents: list[tuple[int, Sequence[Span]]], source: str, annotator: str) -> None:
    """Bulk-insert the spans of new documents, each with its history entry (nothing before)."""
    now = utcnow()
    for at in range(0, len(documents), IMPORT_BATCH):
        batch = documents[at:at + IMPORT_BATCH]
        span_rows = [{"document_id": doc_id, "start": s.start, "end": s.end, "label": s.label, "source": source,
                      "annotator": annotator, "score": s.score, "created_at": now}
                     for doc_id, spans in batch for s in spans]
        session.execute(insert(SpanRow), span_rows)
        session.execute(insert(History), [{"document_id": doc_id, "annotator": annotator, "source": source, "at": now,
                                           "before": [], "after": [_span_json(s) for s in spans]}
                                          for doc_id, spans in batch])


def _insert_frames(session: Session, documents: list[tuple[int, Sequence[Frame]]], source: str,
                   annotator: str) -> None:
    """Bulk-insert the frames of new documents, each document with its history entry (nothing before)."""
    now = utcnow()
    for at in range(0, len(documents), IMPORT_BATCH):
        batch = documents[at:at + IMPORT_BATCH]
        rows = [row for doc_id, frames in batch for row in _frame_rows(doc_id, frames, source, annotator, now)]
        session.execute(insert(FrameSpanRow), rows)
        session.execute(insert(History), [{"document_id": doc_id, "annotator": annotator, "source": source, "at": now,
                                           "before": [], "after": [_frame_json(f) for f in frames]}
                                          for doc_id, frames in batch])


def _frame_rows(doc_id: int, frames: Sequence[Frame], source: str, annotator: str, now) -> list[dict[str, Any]]:
    out = []
    for k, f in enumerate(frames):
        for span, is_predicate in [(f.predicate, True), *((a, False) for a in f.arguments)]:
            out.append({"document_id": doc_id, "frame": k, "predicate": is_predicate, "start": span.start,
                        "end": span.end, "label": span.label, "source": source, "annotator": annotator,
                        "score": span.score, "created_at": now})
    return out


def _frames_of(rows) -> tuple[Frame, ...]:
    """Frames from FrameSpanRow-like rows (any order)."""
    by_frame: dict[int, list] = {}
    for r in rows:
        by_frame.setdefault(r.frame, []).append(r)
    out = []
    for k in sorted(by_frame):
        group = by_frame[k]
        predicate = next(r for r in group if r.predicate)
        arguments = sorted((Span(r.start, r.end, r.label, r.score) for r in group if not r.predicate),
                           key=lambda a: (a.start, a.end))
        out.append(Frame(Span(predicate.start, predicate.end, predicate.label, predicate.score), tuple(arguments)))
    return tuple(sorted(out, key=lambda f: (f.predicate.start, f.predicate.end)))


def save_frames(session: Session, document_id: int, frames: Iterable[Frame], *, annotator: str,
                source: str = "human", status: str | None = None,
                expected_version: int | None = None) -> DocumentInfo:
    """Replace a frames document's frames, keeping the old ones in the history (as :func:`save_spans`)."""
    doc = session.get(Document, document_id, with_for_update=True)
    if doc is None:
        raise NotFound(f"no document {document_id}")
    if expected_version is not None and doc.version != expected_version:
        raise StaleDocument(_stale_message(session, doc, expected_version))
    if source not in SOURCES:
        raise SeqLabError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    labels = {label.name for label in _project(session, doc.project_id).labels}
    checked = validate_frames(doc.text, frames, labels)
    before = [_frame_json(f) for f in _document_info(doc).frames]
    doc.frame_spans.clear()
    session.flush()
    for row in _frame_rows(doc.id, checked, source, annotator, utcnow()):
        row.pop("document_id")
        doc.frame_spans.append(FrameSpanRow(**row))
    session.add(History(document_id=doc.id, annotator=annotator, source=source, before=before,
                        after=[_frame_json(f) for f in checked]))
    doc.version = (doc.version or 1) + 1
    doc.status = status or ("corrected" if source == "human" else "predicted" if source == "model" else doc.status)
    if doc.status not in STATUSES:
        raise SeqLabError(f"status must be one of {', '.join(STATUSES)}, got {doc.status!r}")
    if doc.status in ("corrected", "reviewed"):
        session.execute(delete(QueueScore).where(QueueScore.document_id == doc.id))
    session.flush()
    return _document_info(doc)


def get_document(session: Session, document_id: int) -> DocumentInfo:
    doc = session.get(Document, document_id)
    if doc is None:
        raise NotFound(f"no document {document_id}")
    return _document_info(doc)


def find_document(session: Session, project_id: int, text: str) -> DocumentInfo | None:
    """The project's document with exactly this text, if stored."""
    doc = session.scalar(select(Document).where(Document.project_id == project_id,
                                                Document.content_hash == content_hash(text)))
    return _document_info(doc) if doc else None


def list_documents(session: Session, project_id: int, *, status: str | None = None, split: str | None = None,
                   limit: int | None = None, offset: int = 0) -> list[DocumentInfo]:
    """Documents of a project in the order they were added, optionally filtered."""
    query = _filtered(select(Document).options(selectinload(Document.spans)), project_id, status, split)
    query = query.order_by(Document.id).offset(offset)
    return [_document_info(d) for d in session.scalars(query.limit(limit) if limit else query)]


def iter_documents(session: Session, project_id: int, *, batch: int = IMPORT_BATCH) -> Iterator[DocumentInfo]:
    """Every document of a project in the order they were added, read ``batch`` at a time.

    Keyset pagination on the id (``id > last`` each time), so memory stays at one batch and no
    cursor is held open between batches; an export of 500,000 documents never lists them all.
    Plain rows, not ORM objects (a third of the time): the batch's documents, then their spans.
    """
    last = 0
    while True:
        docs = session.execute(select(Document.id, Document.text, Document.split, Document.status, Document.meta,
                                      Document.created_at, Document.updated_at, Document.version)
                               .where(Document.project_id == project_id, Document.id > last)
                               .order_by(Document.id).limit(batch)).all()
        if not docs:
            return
        spans: dict[int, list] = {}
        for row in session.execute(select(SpanRow.document_id, SpanRow.start, SpanRow.end, SpanRow.label,
                                          SpanRow.score, SpanRow.source)
                                   .where(SpanRow.document_id.in_([d.id for d in docs]))
                                   .order_by(SpanRow.document_id, SpanRow.start)):
            spans.setdefault(row.document_id, []).append(row)
        frames: dict[int, list] = {}
        for row in session.execute(select(FrameSpanRow.document_id, FrameSpanRow.frame, FrameSpanRow.predicate,
                                          FrameSpanRow.start, FrameSpanRow.end, FrameSpanRow.label,
                                          FrameSpanRow.score)
                                   .where(FrameSpanRow.document_id.in_([d.id for d in docs]))):
            frames.setdefault(row.document_id, []).append(row)
        for d in docs:
            rows = spans.get(d.id, ())
            yield DocumentInfo(d.id, project_id, d.text, d.split, d.status,
                               tuple(Span(r.start, r.end, r.label, r.score) for r in rows),
                               tuple(r.source for r in rows), dict(d.meta or {}), d.created_at, d.updated_at,
                               d.version or 1, _frames_of(frames.get(d.id, ())))
        last = docs[-1].id


def document_rows(session: Session, project_id: int, *, status: str | None = None, split: str | None = None,
                  limit: int = 100, offset: int = 0, preview: int = 80) -> list[DocumentRow]:
    """One page of the document table, oldest first: the start of each text and its number of spans.

    The page's ids are found on the index alone (OFFSET skips index entries), then only those
    rows are read, so the last page of 500,000 documents costs about what the first does.
    """
    page = (_filtered(select(Document.id), project_id, status, split)
            .order_by(Document.id).offset(offset).limit(limit).subquery())
    spans = (select(func.count(SpanRow.id)).where(SpanRow.document_id == Document.id)
             .correlate(Document).scalar_subquery())
    rows = session.execute(select(Document.id, func.substr(Document.text, 1, preview + 1), Document.split,
                                  Document.status, spans, Document.updated_at)
                           .join(page, page.c.id == Document.id).order_by(Document.id))
    return [DocumentRow(doc_id, text if len(text) <= preview else text[:preview - 1] + "…", doc_split, doc_status,
                        n_spans, updated) for doc_id, text, doc_split, doc_status, n_spans, updated in rows]


def count_matching(session: Session, project_id: int, *, status: str | None = None, split: str | None = None) -> int:
    """How many of the project's documents have this status and split (None: any)."""
    return session.scalar(_filtered(select(func.count()).select_from(Document), project_id, status, split))


def _filtered(query, project_id: int, status: str | None, split: str | None):
    query = query.where(Document.project_id == project_id)
    if status:
        query = query.where(Document.status == status)
    if split:
        query = query.where(Document.split == split)
    return query


def count_documents(session: Session, project_id: int) -> dict[str, int]:
    """Number of documents per status."""
    rows = session.execute(select(Document.status, func.count()).where(Document.project_id == project_id)
                           .group_by(Document.status))
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: n for status, n in rows})
    return counts


def next_in_queue(session: Session, project_id: int, after_id: int = 0) -> DocumentInfo | None:
    """The next document needing correction (new or predicted), oldest first.

    One index seek per status (project, status, id) instead of ``status IN (...)``, which SQLite
    answers by walking the documents in id order: 0.14 s past 500,000 corrected ones.
    """
    ids = [session.scalar(select(Document.id).where(Document.project_id == project_id, Document.status == status,
                                                    Document.id > after_id).order_by(Document.id).limit(1))
           for status in ("new", "predicted")]
    first = min((i for i in ids if i is not None), default=None)
    return None if first is None else _document_info(session.get(Document, first))


def save_spans(session: Session, document_id: int, spans: Iterable[Span], *, annotator: str,
               source: str = "human", status: str | None = None,
               expected_version: int | None = None) -> DocumentInfo:
    """Replace a document's spans, keeping the old ones in the history.

    ``expected_version``: the version the caller's spans were made from (``DocumentInfo.version``
    when it was shown). If the stored document has moved on since, nothing is written and
    :class:`StaleDocument` says who changed it and when. The row is locked first (FOR UPDATE on
    PostgreSQL; SQLite's write transactions are already exclusive), so two savers cannot both pass.
    """
    doc = session.get(Document, document_id, with_for_update=True)
    if doc is None:
        raise NotFound(f"no document {document_id}")
    if expected_version is not None and doc.version != expected_version:
        raise StaleDocument(_stale_message(session, doc, expected_version))
    labels = {label.name for label in _project(session, doc.project_id).labels}
    checked = validate_spans(doc.text, spans, labels)
    _replace_spans(session, doc, checked, source, annotator)
    doc.status = status or ("corrected" if source == "human" else "predicted" if source == "model" else doc.status)
    if doc.status not in STATUSES:
        raise SeqLabError(f"status must be one of {', '.join(STATUSES)}, got {doc.status!r}")
    if doc.status in ("corrected", "reviewed"):  # out of the queue: its uncertainty score goes (db/queue.py)
        session.execute(delete(QueueScore).where(QueueScore.document_id == doc.id))
    session.flush()
    return _document_info(doc)


def _stale_message(session: Session, doc: Document, expected: int) -> str:
    last = session.scalar(select(History).where(History.document_id == doc.id).order_by(History.id.desc()).limit(1))
    by = f" by {last.annotator!r} at {last.at:%Y-%m-%d %H:%M:%S} UTC" if last is not None else ""
    return (f"document #{doc.id} was changed{by} after you opened it (you edited version {expected}, "
            f"the stored one is version {doc.version}): your spans were not saved over it. They are kept as "
            f"your draft: load the stored version to compare, or save yours over it on purpose.")


# ----------------------------------------------------------------------------- drafts


def save_draft(session: Session, document_id: int, annotator: str, spans: Iterable[Span],
               base_version: int) -> DraftInfo:
    """Keep (or replace) ``annotator``'s unaccepted spans for a document; checked like a save."""
    doc = session.get(Document, document_id)
    if doc is None:
        raise NotFound(f"no document {document_id}")
    labels = {label.name for label in _project(session, doc.project_id).labels}
    checked = validate_spans(doc.text, spans, labels)
    draft = session.scalar(select(Draft).where(Draft.document_id == document_id, Draft.annotator == annotator))
    if draft is None:
        draft = Draft(document_id=document_id, annotator=annotator)
        session.add(draft)
    draft.spans = [_span_json(s) for s in checked]
    draft.base_version = int(base_version)
    session.flush()
    return _draft_info(draft)


def get_draft(session: Session, document_id: int, annotator: str) -> DraftInfo | None:
    draft = session.scalar(select(Draft).where(Draft.document_id == document_id, Draft.annotator == annotator))
    return _draft_info(draft) if draft else None


def delete_draft(session: Session, document_id: int, annotator: str) -> None:
    draft = session.scalar(select(Draft).where(Draft.document_id == document_id, Draft.annotator == annotator))
    if draft is not None:
        session.delete(draft)
        session.flush()


def _draft_info(draft: Draft) -> DraftInfo:
    return DraftInfo(draft.document_id, draft.annotator, _spans(draft.spans), draft.base_version, draft.updated_at)


def history(session: Session, document_id: int) -> list[HistoryEntry]:
    """Every change to a document's spans, oldest first."""
    rows = session.scalars(select(History).where(History.document_id == document_id).order_by(History.id))
    return [_history_entry(h) for h in rows]


def _history_entry(h: History) -> HistoryEntry:
    before, before_frames = _history_side(h.before)
    after, after_frames = _history_side(h.after)
    return HistoryEntry(h.annotator, h.source, h.at, before, after, before_frames, after_frames)


def _history_side(rows: list) -> tuple[tuple[Span, ...], tuple[Frame, ...]]:
    """(spans, frames) of one side of a history entry: spans are [start, end, label] lists, frames
    {"predicate": [...], "arguments": [[...], ...]} objects."""
    if rows and isinstance(rows[0], dict):
        return (), tuple(Frame(Span(*r["predicate"]), _spans(r["arguments"])) for r in rows)
    return _spans(rows), ()


def _replace_spans(session: Session, doc: Document, spans: Sequence[Span], source: str, annotator: str) -> None:
    if source not in SOURCES:
        raise SeqLabError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    before = [_span_json(s) for s in _document_info(doc).spans]
    doc.spans.clear()
    for span in spans:
        doc.spans.append(SpanRow(start=span.start, end=span.end, label=span.label, source=source,
                                 annotator=annotator, score=span.score))
    session.add(History(document_id=doc.id, annotator=annotator, source=source, before=before,
                        after=[_span_json(s) for s in spans]))
    doc.version = (doc.version or 1) + 1


# ----------------------------------------------------------------------------- helpers


def _project(session: Session, project_id: int) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"no project {project_id}")
    return project


def _clean_name(name: str, what: str, max_len: int = 200) -> str:
    if not isinstance(name, str) or not name.strip():
        raise SeqLabError(f"{what} is empty")
    name = name.strip()
    if len(name) > max_len:
        raise SeqLabError(f"{what} is longer than {max_len} characters")
    if any(ch in name for ch in "\x00<>") or any(0xD800 <= ord(ch) <= 0xDFFF for ch in name):
        raise SeqLabError(f"{what} {name!r} contains a character that is not allowed (NUL, <, > or a lone surrogate)")
    for i, ch in enumerate(name):
        kind = unicodedata.category(ch)
        if kind == "Cc" or (kind == "Cf" and not _visible_in_context(name, i)):
            char = " ".join(filter(None, (f"U+{ord(ch):04X}", unicodedata.name(ch, ""))))
            raise SeqLabError(f"{what} {name!r} contains {'a control' if kind == 'Cc' else 'an invisible'} "
                              f"character {char} (character {i + 1}): remove it")
    return name


def _visible_in_context(name: str, i: int) -> bool:
    """Whether format character ``name[i]`` belongs to what is written: a zero-width (non-)joiner
    between two letters or emoji (Persian, Indic scripts, family emoji need them), or a tag
    character of a flag emoji (U+1F3F4 followed by tags). Anything else is invisible clutter."""
    ch = name[i]
    if ch in JOINERS:
        return 0 < i < len(name) - 1 and all(
            not n.isspace() and unicodedata.category(n) not in ("Cc", "Cf") for n in (name[i - 1], name[i + 1]))
    if 0xE0020 <= ord(ch) <= 0xE007F:
        start = i
        while start > 0 and 0xE0020 <= ord(name[start - 1]) <= 0xE007F:
            start -= 1
        return start > 0 and name[start - 1] == "\U0001F3F4"
    return False


def name_key(name: str) -> str:
    """What names are compared by: NFKC, case-folded, zero-width joiners dropped, spaces collapsed.

    So ``English NER``, ``english ner``, ``ＥＮＧＬＩＳＨ NER`` and ``English  NER`` are one name.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return " ".join(folded.translate(DROPPED_IN_KEY).split())


def _refuse_look_alike(name: str, existing: Iterable[str], what: str, where: str = "") -> None:
    """Refuse ``name`` when it is one of ``existing`` by :func:`name_key` (the same, or a look-alike)."""
    key = name_key(name)
    clash = next((other for other in existing if name_key(other) == key), None)
    if clash is None:
        return
    alike = "" if clash == name else (f": {name!r} looks the same (it differs only in case, width, spacing "
                                      f"or zero-width joiners)")
    raise SeqLabError(f"{what} {clash!r} already exists{where}{alike}")


def _span_json(span: Span) -> list:
    return [span.start, span.end, span.label]


def _frame_json(frame: Frame) -> dict:
    return {"predicate": _span_json(frame.predicate), "arguments": [_span_json(a) for a in frame.arguments]}


def _spans(rows: list) -> tuple[Span, ...]:
    return tuple(Span(a, b, label) for a, b, label in rows)


def _project_info(project: Project) -> ProjectInfo:
    labels = tuple(LabelInfo(lb.name, lb.colour, lb.shortcut) for lb in project.labels)
    return ProjectInfo(project.id, project.name, project.task_kind, project.base_model, project.decoder,
                       project.encoder, project.auto_activate, labels, project.queue_order or "uncertainty")


def _document_info(doc: Document) -> DocumentInfo:
    rows = sorted(doc.spans, key=lambda r: r.start)
    return DocumentInfo(doc.id, doc.project_id, doc.text, doc.split, doc.status,
                        tuple(Span(r.start, r.end, r.label, r.score) for r in rows),
                        tuple(r.source for r in rows), dict(doc.meta or {}), doc.created_at, doc.updated_at,
                        doc.version or 1, _frames_of(doc.frame_spans))
