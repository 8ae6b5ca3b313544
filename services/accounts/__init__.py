"""Accounts, signing in and project membership (team mode, issue 15).

Passwords are hashed with argon2id (``argon2-cffi``, a memory-hard KDF) and exist in clear only
in the call that receives them: never stored, logged or put in a message. Five wrong passwords
in a row lock the account for 15 minutes; the lock is a column of the account, so restarting the
app does not lift it. ``python -m services.accounts`` is the command line over these methods.

Team mode is on when ``SEQLAB_AUTH=on``, off when ``SEQLAB_AUTH=off``, and otherwise whatever
the admin set with ``python -m services.accounts team on|off`` (stored in the database).
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from db import accounts as store
from db.accounts import ROLES, AccountInfo  # noqa: F401  (re-exported)
from db.session import write_session
from services.policy import ActingServices, Actor, PermissionDenied  # noqa: F401
from tagger.spans import SeqLabError

log = logging.getLogger(__name__)

LOCK_AFTER = 5  # wrong passwords in a row
LOCK_MINUTES = 15
MIN_PASSWORD = 8
IDLE_MINUTES = 30  # default of SEQLAB_IDLE_MINUTES
TEAM_MODE = "team_mode"
HASHER = PasswordHasher()  # argon2id, 64 MiB, 3 passes (RFC 9106's second recommendation)
# Verified against when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = HASHER.hash("no account has this password")


class SignInFailed(SeqLabError):
    """A wrong name or password, a locked or a disabled account: the message says which, plainly."""


def idle_timeout() -> timedelta:
    """How long a signed-in session may sit idle: ``SEQLAB_IDLE_MINUTES`` (default 30)."""
    raw = os.environ.get("SEQLAB_IDLE_MINUTES", str(IDLE_MINUTES))
    try:
        minutes = float(raw)
    except ValueError:
        raise SeqLabError(f"SEQLAB_IDLE_MINUTES must be a number of minutes, got {raw!r}") from None
    return timedelta(minutes=max(minutes, 0.05))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _hash(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise SeqLabError(f"the password must have at least {MIN_PASSWORD} characters")
    if "\x00" in password:
        raise SeqLabError("the password contains a NUL character")
    return HASHER.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def locked_message(account: AccountInfo) -> str:
    until = account.locked_until.astimezone(timezone.utc)
    return (f"Too many wrong passwords: the account {account.name!r} is locked for {LOCK_MINUTES} minutes, "
            f"until {until:%H:%M} UTC. Try again then, or ask an admin to reset the password.")


def _keep_an_admin(session, key: int | str) -> None:
    """Refuse to demote or disable the last enabled admin: nobody could manage the team after it."""
    account = store.get_account(session, key)
    admins = [a for a in store.list_accounts(session) if a.role == "admin" and not a.disabled]
    if admins == [account]:
        raise SeqLabError(f"{account.name} is the last enabled admin: make another admin first")


class AccountServices:
    """Accounts, membership and signing in; the unbound Services is the system actor."""

    # ------------------------------------------------------------------ signing in

    def sign_in(self, name: str, password: str) -> Actor:
        """The actor for a right name and password; SignInFailed otherwise (and the wrong try counted).

        The fifth wrong password in a row locks the account for 15 minutes, during which even the
        right one is refused; a right one resets the count.
        """
        now = _now()
        with write_session(self.factory) as s:
            found = store.credentials(s, name, for_update=True)
            if found is None:
                _verify(_DUMMY_HASH, str(password))
                failure = "Wrong user name or password."
            else:
                failure = self._check_password(s, found, str(password), now)
        if failure is not None:
            log.info("sign-in refused for %r", str(name)[:100])
            raise SignInFailed(failure)
        account = found.account
        log.info("%s signed in", account.name)
        return Actor(account.id, account.name, account.role)

    def _check_password(self, session, found: store.Credentials, password: str, now: datetime) -> str | None:
        """None when the password is right (the count reset); else the message, the try counted."""
        account = found.account
        if account.locked_until is not None and account.locked_until > now:
            return locked_message(account)
        if not _verify(found.password_hash, password):
            failed = account.failed_logins + 1
            if failed >= LOCK_AFTER:
                locked = store.update_account(session, account.id, failed_logins=0,
                                              locked_until=now + timedelta(minutes=LOCK_MINUTES))
                return locked_message(locked)
            store.update_account(session, account.id, failed_logins=failed, locked_until=None)
            left = LOCK_AFTER - failed
            return (f"Wrong user name or password. {left} more wrong {'try' if left == 1 else 'tries'} "
                    f"and the account is locked for {LOCK_MINUTES} minutes.")
        if account.disabled:
            return f"The account {account.name!r} is disabled: ask an admin."
        changes = {"failed_logins": 0, "locked_until": None, "last_login": now}
        if HASHER.check_needs_rehash(found.password_hash):
            changes["password_hash"] = HASHER.hash(password)
        store.update_account(session, account.id, **changes)
        return None

    def current_actor(self, account_id: int) -> Actor | None:
        """The actor of a signed-in session as the store has it now: None once disabled or deleted."""
        with self.factory() as s:
            try:
                account = store.get_account(s, account_id)
            except store.NotFound:
                return None
        return None if account.disabled else Actor(account.id, account.name, account.role)

    def as_user(self, actor: Actor) -> ActingServices:
        """These Services acting for ``actor``: every call checked (see services.policy)."""
        return ActingServices(self, actor)

    # ------------------------------------------------------------------ team mode

    def team_mode(self) -> bool:
        """``SEQLAB_AUTH`` (on/off) if set, else the admin's switch in the database."""
        env = os.environ.get("SEQLAB_AUTH", "").strip().lower()
        if env in ("on", "1", "true", "yes"):
            return True
        if env in ("off", "0", "false", "no"):
            return False
        if env:
            raise SeqLabError(f"SEQLAB_AUTH must be 'on' or 'off', got {env!r}")
        with self.factory() as s:
            return store.get_setting(s, TEAM_MODE) == "on"

    def set_team_mode(self, on: bool) -> None:
        """Turn team mode on (needs an enabled admin account, or nobody could sign in) or off."""
        with write_session(self.factory) as s:
            if on and not any(a.role == "admin" and not a.disabled for a in store.list_accounts(s)):
                raise SeqLabError("team mode needs an admin account first: "
                                  "python -m services.accounts add NAME --role admin")
            store.set_setting(s, TEAM_MODE, "on" if on else "off")

    # ------------------------------------------------------------------ accounts (admin)

    def add_account(self, name: str, role: str, password: str) -> AccountInfo:
        password_hash = _hash(password)
        with write_session(self.factory) as s:
            account = store.add_account(s, name, role, password_hash)
        log.info("account %s added (%s)", account.name, account.role)
        return account

    def accounts(self) -> list[AccountInfo]:
        with self.factory() as s:
            return store.list_accounts(s)

    def account(self, key: int | str) -> AccountInfo:
        with self.factory() as s:
            return store.get_account(s, key)

    def set_role(self, key: int | str, role: str) -> AccountInfo:
        with write_session(self.factory) as s:
            if role != "admin":
                _keep_an_admin(s, key)
            return store.update_account(s, key, role=role)

    def reset_password(self, key: int | str, password: str) -> AccountInfo:
        """A new password; the lock and the count of wrong passwords are cleared."""
        password_hash = _hash(password)
        with write_session(self.factory) as s:
            return store.update_account(s, key, password_hash=password_hash, failed_logins=0, locked_until=None)

    def disable_account(self, key: int | str) -> AccountInfo:
        """The account can no longer sign in; a session it has ends on its next page run."""
        with write_session(self.factory) as s:
            _keep_an_admin(s, key)
            return store.update_account(s, key, disabled=True)

    def enable_account(self, key: int | str) -> AccountInfo:
        with write_session(self.factory) as s:
            return store.update_account(s, key, disabled=False)

    # ------------------------------------------------------------------ membership (admin)

    def members(self, project_id: int) -> list[AccountInfo]:
        with self.factory() as s:
            return store.members(s, project_id)

    def add_member(self, project_id: int, account: int | str) -> None:
        with write_session(self.factory) as s:
            store.add_member(s, account, project_id)

    def remove_member(self, project_id: int, account: int | str) -> None:
        with write_session(self.factory) as s:
            store.remove_member(s, account, project_id)
