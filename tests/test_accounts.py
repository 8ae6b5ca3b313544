"""Accounts, signing in, the lock-out and the accounts command line, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

import services.accounts as accounts
from db.accounts import AccountRow
from db.models import SCHEMA_VERSION
from services import PermissionDenied, SignInFailed
from services.accounts.__main__ import main as accounts_cli
from tagger.spans import SeqLabError

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    """argon2id with a small memory cost: the same code path, milliseconds per hash."""
    monkeypatch.setattr(accounts, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture()
def ann(svc):
    return svc.add_account("ann", "annotator", PASSWORD)


def test_the_password_is_stored_as_an_argon2id_hash_only(svc, ann):
    with svc.factory() as s:
        stored = s.scalar(select(AccountRow.password_hash).where(AccountRow.id == ann.id))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_the_password_never_reaches_the_log(svc, ann, caplog):
    caplog.set_level("DEBUG")
    svc.sign_in("ann", PASSWORD)
    with pytest.raises(SignInFailed):
        svc.sign_in("ann", "wrong password")
    assert PASSWORD not in caplog.text and "wrong password" not in caplog.text


def test_the_right_password_signs_in_with_the_role(svc, ann):
    actor = svc.sign_in("ann", PASSWORD)
    assert (actor.name, actor.role) == ("ann", "annotator")


def test_names_are_compared_like_project_names(svc, ann):
    assert svc.sign_in("ANN", PASSWORD).id == ann.id
    with pytest.raises(SeqLabError, match="already exists"):
        svc.add_account("Ann", "admin", PASSWORD)


def test_an_unknown_name_and_a_wrong_password_get_the_same_answer(svc, ann):
    with pytest.raises(SignInFailed, match="Wrong user name or password") as unknown:
        svc.sign_in("nobody", PASSWORD)
    with pytest.raises(SignInFailed, match="Wrong user name or password"):
        svc.sign_in("ann", "not the password")
    assert "locked" not in str(unknown.value).lower().split("and the account")[0]


def test_five_wrong_passwords_lock_the_account_for_15_minutes_even_for_the_right_one(svc, ann):
    for _ in range(4):
        with pytest.raises(SignInFailed, match="Wrong user name or password"):
            svc.sign_in("ann", "nope nope")
    with pytest.raises(SignInFailed, match="locked for 15 minutes, until"):
        svc.sign_in("ann", "nope nope")
    with pytest.raises(SignInFailed, match="locked for 15 minutes"):
        svc.sign_in("ann", PASSWORD)
    locked = svc.account("ann").locked_until
    assert timedelta(minutes=14) < locked - datetime.now(timezone.utc) <= timedelta(minutes=15)


def test_the_lock_survives_a_restart_and_ends_after_15_minutes(svc, db_url, ann):
    from services import Services

    for _ in range(5):
        with pytest.raises(SignInFailed):
            svc.sign_in("ann", "nope nope")
    restarted = Services(db_url)
    try:
        with pytest.raises(SignInFailed, match="locked"):
            restarted.sign_in("ann", PASSWORD)
        restarted.reset_password  # noqa: B018  (an admin could lift it; here time does)
        with restarted.factory() as s, s.begin():
            row = s.get(AccountRow, ann.id)
            row.locked_until = datetime.now(timezone.utc) - timedelta(seconds=1)
        assert restarted.sign_in("ann", PASSWORD).name == "ann"
    finally:
        restarted.close()


def test_a_right_password_resets_the_count_of_wrong_ones(svc, ann):
    for _ in range(4):
        with pytest.raises(SignInFailed):
            svc.sign_in("ann", "nope nope")
    svc.sign_in("ann", PASSWORD)
    with pytest.raises(SignInFailed, match="4 more wrong tries"):
        svc.sign_in("ann", "nope nope")


def test_reset_password_lifts_the_lock(svc, ann):
    for _ in range(5):
        with pytest.raises(SignInFailed):
            svc.sign_in("ann", "nope nope")
    svc.reset_password("ann", "a new password")
    assert svc.sign_in("ann", "a new password").name == "ann"


def test_a_disabled_account_cannot_sign_in_and_its_session_ends(svc, ann):
    actor = svc.sign_in("ann", PASSWORD)
    svc.disable_account("ann")
    with pytest.raises(SignInFailed, match="disabled"):
        svc.sign_in("ann", PASSWORD)
    assert svc.current_actor(actor.id) is None
    svc.enable_account("ann")
    assert svc.current_actor(actor.id) == actor


def test_a_role_change_applies_to_the_running_session(svc, ann):
    actor = svc.sign_in("ann", PASSWORD)
    svc.set_role("ann", "reviewer")
    assert svc.current_actor(actor.id).role == "reviewer"


def test_the_last_enabled_admin_can_be_neither_demoted_nor_disabled(svc):
    svc.add_account("boss", "admin", PASSWORD)
    with pytest.raises(SeqLabError, match="last enabled admin"):
        svc.set_role("boss", "reviewer")
    with pytest.raises(SeqLabError, match="last enabled admin"):
        svc.disable_account("boss")
    svc.add_account("deputy", "admin", PASSWORD)
    assert svc.disable_account("boss").disabled


@pytest.mark.parametrize("password", ["", "short", "nul\x00inside"])
def test_weak_or_broken_passwords_are_refused(svc, password):
    with pytest.raises(SeqLabError, match="password"):
        svc.add_account("bob", "annotator", password)
    assert svc.accounts() == []


def test_an_unknown_role_is_refused(svc):
    with pytest.raises(SeqLabError, match="unknown role 'boss'"):
        svc.add_account("bob", "boss", PASSWORD)


def test_team_mode_follows_seqlab_auth_then_the_admins_switch(svc, monkeypatch):
    monkeypatch.delenv("SEQLAB_AUTH", raising=False)
    assert not svc.team_mode()
    with pytest.raises(SeqLabError, match="admin account first"):
        svc.set_team_mode(True)
    svc.add_account("boss", "admin", PASSWORD)
    svc.set_team_mode(True)
    assert svc.team_mode()
    monkeypatch.setenv("SEQLAB_AUTH", "off")
    assert not svc.team_mode()
    monkeypatch.setenv("SEQLAB_AUTH", "on")
    svc.set_team_mode(False)
    assert svc.team_mode()


def test_accounts_are_new_tables_and_leave_the_schema_version(svc):
    from db.session import tables

    assert {"accounts", "memberships", "app_settings"} <= set(tables(svc.engine))
    assert SCHEMA_VERSION == 4


def test_idle_timeout_comes_from_seqlab_idle_minutes(monkeypatch):
    monkeypatch.setenv("SEQLAB_IDLE_MINUTES", "5")
    assert accounts.idle_timeout() == timedelta(minutes=5)
    monkeypatch.setenv("SEQLAB_IDLE_MINUTES", "soon")
    with pytest.raises(SeqLabError, match="SEQLAB_IDLE_MINUTES"):
        accounts.idle_timeout()


# ----------------------------------------------------------------------------- the command line


def cli(db_url, *args, password=None, monkeypatch=None):
    if password is not None:
        monkeypatch.setenv("SEQLAB_PASSWORD", password)
    return accounts_cli(["--db", db_url, *args])


def test_cli_adds_lists_changes_and_disables_accounts(svc, db_url, monkeypatch, capsys):
    assert cli(db_url, "add", "boss", "--role", "admin", password=PASSWORD, monkeypatch=monkeypatch) == 0
    assert cli(db_url, "add", "ann", "--role", "annotator") == 0
    assert cli(db_url, "set-role", "ann", "reviewer") == 0
    assert cli(db_url, "disable", "boss") == 1  # the last admin
    assert cli(db_url, "add", "deputy", "--role", "admin") == 0
    assert cli(db_url, "disable", "boss") == 0
    capsys.readouterr()
    assert cli(db_url, "list") == 0
    out = capsys.readouterr().out
    assert "ann\treviewer\tactive" in out and "boss\tadmin\tdisabled" in out
    assert PASSWORD not in out
    monkeypatch.setenv("SEQLAB_PASSWORD", "another password")
    assert cli(db_url, "reset-password", "ann") == 0
    assert svc.sign_in("ann", "another password").role == "reviewer"


def test_cli_without_a_terminal_or_seqlab_password_says_so(db_url, monkeypatch, capsys):
    monkeypatch.delenv("SEQLAB_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    assert cli(db_url, "add", "ann", "--role", "annotator") == 1
    assert "SEQLAB_PASSWORD" in capsys.readouterr().err


def test_cli_membership_and_team_mode(svc, db_url, monkeypatch):
    monkeypatch.delenv("SEQLAB_AUTH", raising=False)
    project = svc.create_project("Team NER", ["PER"])
    cli(db_url, "add", "boss", "--role", "admin", password=PASSWORD, monkeypatch=monkeypatch)
    cli(db_url, "add", "ann", "--role", "annotator")
    assert cli(db_url, "member", "ann", "Team NER") == 0
    assert [a.name for a in svc.members(project.id)] == ["ann"]
    assert cli(db_url, "member", "ann", str(project.id), "--remove") == 0
    assert svc.members(project.id) == []
    assert cli(db_url, "team", "on") == 0
    assert svc.team_mode()


def test_the_bound_services_refuse_what_is_not_in_the_policy(svc, ann):
    with pytest.raises(PermissionDenied):
        svc.as_user(svc.sign_in("ann", PASSWORD)).close()
