"""Engine and sessions: SQLite pragmas on every connection, IMMEDIATE write transactions.

SQLite by default, in ``$SEQLAB_HOME/seqlab.db`` (``SEQLAB_HOME`` defaults to ``./seqlab-data``);
any SQLAlchemy URL through ``SEQLAB_DB_URL``. On SQLite every connection gets WAL, a busy
timeout, foreign keys and synchronous FULL, and :func:`write_session` begins IMMEDIATE so two
writers queue for the lock instead of failing with "database is locked" half-way through.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from . import accounts as _accounts, audit as _audit, ledger as _ledger, review as _review  # noqa: F401  (their tables are new ones: create_all makes them)
from .models import SCHEMA_VERSION, Base, SchemaInfo

BUSY_TIMEOUT_MS = 30_000
_WRITE = "seqlab_write"


def data_home() -> Path:
    """The data folder: ``$SEQLAB_HOME`` or ``./seqlab-data``."""
    return Path(os.environ.get("SEQLAB_HOME", "seqlab-data")).resolve()


def database_url() -> str:
    """``$SEQLAB_DB_URL``, else a SQLite file in the data folder."""
    url = os.environ.get("SEQLAB_DB_URL")
    if url:
        return url
    home = data_home()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'seqlab.db'}"


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (default: :func:`database_url`) with the schema migrated.

    A plain ``postgresql://`` URL means the psycopg (v3) driver that requirements.txt installs
    (SQLAlchemy's own default for it would be psycopg2, which is not installed).
    """
    url = url or database_url()
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000} if url.startswith("sqlite") else {})
    if engine.dialect.name == "sqlite":
        _sqlite_pragmas(engine)
    migrate(engine)
    return engine


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", f"busy_timeout={BUSY_TIMEOUT_MS}", "foreign_keys=ON", "synchronous=FULL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def migrate(engine: Engine) -> None:
    """Create missing tables and bring the schema up to :data:`SCHEMA_VERSION`."""
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        info = session.scalar(select(SchemaInfo))
        if info is None:
            session.add(SchemaInfo(id=1, version=SCHEMA_VERSION))
        elif info.version > SCHEMA_VERSION:
            raise RuntimeError(
                f"the database was made by a newer SeqLab (schema {info.version}, this one knows "
                f"{SCHEMA_VERSION}); upgrade SeqLab"
            )
        else:
            for version in range(info.version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version](session)
            info.version = SCHEMA_VERSION


def _to_v1(session: Session) -> None:
    """v1 is the first schema: create_all above made every table it needs."""


def _to_v2(session: Session) -> None:
    """v2: documents get a version counter (optimistic check on saves); the drafts table is new
    (create_all made it)."""
    columns = {c["name"] for c in inspect(session.connection()).get_columns("documents")}
    if "version" not in columns:
        session.execute(text("ALTER TABLE documents ADD COLUMN version INTEGER NOT NULL DEFAULT 1"))


def _to_v3(session: Session) -> None:
    """v3: indexes on (project, status / split, id), so that counting, filtering and paging 500,000
    documents reads an index instead of the table."""
    for name, columns in (("ix_documents_project_status", "project_id, status, id"),
                          ("ix_documents_project_split", "project_id, split, id"),
                          ("ix_documents_project_status_split", "project_id, status, split, id")):
        session.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON documents ({columns})"))


def _to_v4(session: Session) -> None:
    """v4: a project's queue order and the version its queue was ranked with (queue_scores is new)."""
    columns = {c["name"] for c in inspect(session.connection()).get_columns("projects")}
    if "queue_order" not in columns:
        session.execute(text("ALTER TABLE projects ADD COLUMN queue_order VARCHAR(12) NOT NULL DEFAULT 'uncertainty'"))
    if "ranked_version_id" not in columns:
        session.execute(text("ALTER TABLE projects ADD COLUMN ranked_version_id INTEGER"))


# version -> function(session) upgrading from version - 1 (new columns, data moves); new tables
# need no entry because create_all adds them
MIGRATIONS = {1: _to_v1, 2: _to_v2, 3: _to_v3, 4: _to_v4}


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def write_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose transaction begins IMMEDIATE (takes the write lock first) and commits."""
    with factory() as session:
        session.connection(execution_options={_WRITE: True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def tables(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())
