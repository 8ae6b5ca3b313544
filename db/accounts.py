"""Accounts, project membership and the team-mode switch in the store (team mode, issue 15).

Three tables of their own (``create_all`` makes them; no column of another table changes, so
SCHEMA_VERSION stays):

- ``accounts``: a person's name (unique by :func:`db.repo.name_key`, so ``Ann`` and ``ann`` are
  one account), role, argon2 hash of the password, whether disabled, and the lock-out state
  (wrong passwords in a row, locked until), so a lock survives a restart of the app.
- ``memberships``: which accounts work on which project.
- ``app_settings``: key/value switches; ``team_mode`` is the one the admin turns on.

Passwords never reach this module: callers pass the hash (services.accounts hashes).
Functions take the session (``(session, ...) -> plain dataclasses``), as in ``db.repo``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tagger.spans import SeqLabError

from .models import Base, Document, ModelVersion, TrainingJob, utcnow
from .repo import NotFound, _clean_name, _project, get_project, name_key

ROLES = ("admin", "reviewer", "annotator")


class AccountRow(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(10))
    password_hash: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)  # wrong passwords in a row
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Membership(Base):
    __tablename__ = "memberships"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True,
                                            index=True)


class AppSetting(Base):
    __tablename__ = "app_settings"
    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class AccountInfo:
    """An account as the app sees it (never the password hash)."""

    id: int
    name: str
    role: str
    disabled: bool
    failed_logins: int
    locked_until: datetime | None
    last_login: datetime | None


@dataclass(frozen=True)
class Credentials:
    """What signing in needs: the account and its stored hash (services.accounts only)."""

    account: AccountInfo
    password_hash: str


def aware(moment: datetime | None) -> datetime | None:
    """A stored time as UTC-aware (SQLite gives naive datetimes back)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise SeqLabError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


def add_account(session: Session, name: str, role: str, password_hash: str) -> AccountInfo:
    name = _clean_name(name, "the user name", max_len=100)
    key = name_key(name)
    clash = session.scalar(select(AccountRow).where(AccountRow.name_key == key))
    if clash is not None:
        alike = "" if clash.name == name else f" ({name!r} looks the same)"
        raise SeqLabError(f"an account {clash.name!r} already exists{alike}")
    row = AccountRow(name=name, name_key=key, role=check_role(role), password_hash=password_hash)
    session.add(row)
    session.flush()
    return _info(row)


def list_accounts(session: Session) -> list[AccountInfo]:
    return [_info(row) for row in session.scalars(select(AccountRow).order_by(AccountRow.name_key))]


def get_account(session: Session, key: int | str) -> AccountInfo:
    """An account by id or name (compared by :func:`db.repo.name_key`)."""
    return _info(_account(session, key))


def credentials(session: Session, name: str, for_update: bool = False) -> Credentials | None:
    """The account called ``name`` and its hash; ``for_update`` locks its row (PostgreSQL), so two
    wrong passwords at once both count."""
    query = select(AccountRow).where(AccountRow.name_key == name_key(str(name)))
    row = session.scalar(query.with_for_update() if for_update else query)
    return None if row is None else Credentials(_info(row), row.password_hash)


def update_account(session: Session, key: int | str, **changes) -> AccountInfo:
    """Change ``role``, ``password_hash``, ``disabled``, ``failed_logins``, ``locked_until`` or ``last_login``."""
    row = _account(session, key)
    allowed = {"role", "password_hash", "disabled", "failed_logins", "locked_until", "last_login"}
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"cannot change {sorted(unknown)} of an account")
    if "role" in changes:
        check_role(changes["role"])
    for field, value in changes.items():
        setattr(row, field, value)
    session.flush()
    return _info(row)


def add_member(session: Session, account: int | str, project: int | str) -> None:
    account_id, project_id = _account(session, account).id, get_project(session, project).id
    if session.get(Membership, (account_id, project_id)) is None:
        session.add(Membership(account_id=account_id, project_id=project_id))
        session.flush()


def remove_member(session: Session, account: int | str, project: int | str) -> None:
    account_id, project_id = _account(session, account).id, get_project(session, project).id
    session.execute(delete(Membership).where(Membership.account_id == account_id,
                                             Membership.project_id == project_id))


def member_projects(session: Session, account_id: int) -> set[int]:
    return set(session.scalars(select(Membership.project_id).where(Membership.account_id == account_id)))


def members(session: Session, project_id: int) -> list[AccountInfo]:
    _project(session, project_id)
    rows = session.scalars(select(AccountRow).join(Membership, Membership.account_id == AccountRow.id)
                           .where(Membership.project_id == project_id).order_by(AccountRow.name_key))
    return [_info(row) for row in rows]


def project_of(session: Session, kind: str, key: int) -> int:
    """The project a document, model version or job belongs to (NotFound if there is none)."""
    model = {"document": Document, "version": ModelVersion, "job": TrainingJob}[kind]
    project_id = session.scalar(select(model.project_id).where(model.id == key))
    if project_id is None:
        raise NotFound(f"no {kind} {key}")
    return project_id


def get_setting(session: Session, key: str) -> str | None:
    row = session.get(AppSetting, key)
    return None if row is None else row.value


def set_setting(session: Session, key: str, value: str) -> None:
    row = session.get(AppSetting, key)
    if row is None:
        session.add(AppSetting(key=key, value=value))
    else:
        row.value = value
    session.flush()


def _account(session: Session, key: int | str) -> AccountRow:
    if isinstance(key, int):
        row = session.get(AccountRow, key)
    else:
        row = session.scalar(select(AccountRow).where(AccountRow.name_key == name_key(str(key))))
    if row is None:
        raise NotFound(f"no account {key!r}")
    return row


def _info(row: AccountRow) -> AccountInfo:
    return AccountInfo(row.id, row.name, row.role, bool(row.disabled), row.failed_logins or 0,
                       aware(row.locked_until), aware(row.last_login))
