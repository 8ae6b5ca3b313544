"""SQLAlchemy 2 typed models: projects, labels, documents, spans, history, drafts, patterns, versions, jobs."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SCHEMA_VERSION = 4
TASK_KINDS = ("spans", "tags", "frames")  # tagger.spans.TASKS
SPLITS = ("train", "dev", "test")
STATUSES = ("new", "predicted", "corrected", "reviewed")
SOURCES = ("human", "model", "import")
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
QUEUE_ORDERS = ("uncertainty", "file", "random")  # what Annotate asks for next (db/queue.py)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class SchemaInfo(Base):
    """One row: the schema version this database was migrated to."""

    __tablename__ = "schema_info"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    task_kind: Mapped[str] = mapped_column(String(10), default="spans")
    base_model: Mapped[str] = mapped_column(String(500), default="default")
    decoder: Mapped[str] = mapped_column(String(10), default="crf")
    encoder: Mapped[str] = mapped_column(String(10), default="bilstm")
    auto_activate: Mapped[bool] = mapped_column(Boolean, default=True)
    queue_order: Mapped[str] = mapped_column(String(12), default="uncertainty", server_default="uncertainty")
    # the model version the queue's uncertainty scores were last computed with (None: never)
    ranked_version_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    labels: Mapped[list[Label]] = relationship(back_populates="project", cascade="all, delete-orphan",
                                               order_by="Label.position")


class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    colour: Mapped[str] = mapped_column(String(7), default="#8ecae6")
    shortcut: Mapped[str | None] = mapped_column(String(1))
    position: Mapped[int] = mapped_column(Integer, default=0)
    project: Mapped[Project] = relationship(back_populates="labels")


class Document(Base):
    __tablename__ = "documents"
    # the Data page's filters and pages, the queue and the training data read these indexes alone
    __table_args__ = (UniqueConstraint("project_id", "content_hash"),
                      Index("ix_documents_project_status", "project_id", "status", "id"),
                      Index("ix_documents_project_split", "project_id", "split", "id"),
                      Index("ix_documents_project_status_split", "project_id", "status", "split", "id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    split: Mapped[str] = mapped_column(String(5), default="train")
    status: Mapped[str] = mapped_column(String(10), default="new", index=True)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    # +1 on every change of the spans: a save made from an older version is refused (optimistic check)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    spans: Mapped[list[SpanRow]] = relationship(cascade="all, delete-orphan", order_by="SpanRow.start")
    frame_spans: Mapped[list[FrameSpanRow]] = relationship(cascade="all, delete-orphan",
                                                           order_by="(FrameSpanRow.frame, FrameSpanRow.start)")


class SpanRow(Base):
    __tablename__ = "spans"
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(10))
    annotator: Mapped[str] = mapped_column(String(100))
    score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FrameSpanRow(Base):
    """A frames (SRL) document's predicates and arguments: the rows of one ``frame`` are its
    predicate (``predicate`` true, ``label`` its sense) and its arguments (``label`` the role)."""

    __tablename__ = "frame_spans"
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    frame: Mapped[int] = mapped_column(Integer)
    predicate: Mapped[bool] = mapped_column(Boolean, default=False)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(10))
    annotator: Mapped[str] = mapped_column(String(100))
    score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class History(Base):
    """Every change to a document's spans: who, when, the spans before and after (a frames
    document's: its frames, each ``{"predicate": [start, end, sense], "arguments": [[start, end,
    role], ...]}``)."""

    __tablename__ = "history"
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    annotator: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    before: Mapped[list[Any]] = mapped_column(default=list)
    after: Mapped[list[Any]] = mapped_column(default=list)


class Draft(Base):
    """Spans a person is still editing (not accepted): one per document and annotator, so a closed
    tab or a reload loses nothing. ``base_version`` is the document version the edits started from."""

    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("document_id", "annotator"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    annotator: Mapped[str] = mapped_column(String(100))
    spans: Mapped[list[Any]] = mapped_column(default=list)
    base_version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class QueueScore(Base):
    """How unsure the model was of a document waiting for correction, and its place in the queue
    (``rank`` 0 first: uncertainty with diversity). Written by the worker after each retrain; the
    row goes when the document is corrected."""

    __tablename__ = "queue_scores"
    __table_args__ = (Index("ix_queue_scores_project_rank", "project_id", "rank"),)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(Integer)
    uncertainty: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)
    unsure: Mapped[list[Any]] = mapped_column(default=list)  # [[start, end, label, score], ...]


class PatternRow(Base):
    """A term or regular expression that suggests a label (``tagger.patterns``): suggestions while a
    project has no model, hints about what the model missed afterwards. Goes with its label."""

    __tablename__ = "patterns"
    __table_args__ = (UniqueConstraint("label_id", "kind", "pattern", "case_sensitive"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(5))  # "term" | "regex"
    pattern: Mapped[str] = mapped_column(String(500))
    case_sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    label: Mapped[Label] = relationship()


class ModelVersion(Base):
    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("training_jobs.id"))
    path: Mapped[str] = mapped_column(String(1000))
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TrainingJob(Base):
    __tablename__ = "training_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(200))
    step: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    eta_s: Mapped[float | None] = mapped_column(Float)
    tokens_per_s: Mapped[float | None] = mapped_column(Float)
    loss_history: Mapped[list[Any]] = mapped_column(default=list)
    dev_history: Mapped[list[Any]] = mapped_column(default=list)
    message: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
