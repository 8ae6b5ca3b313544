"""``python -m services.accounts``: accounts, membership and team mode on the app's database.

    python -m services.accounts add NAME --role admin|reviewer|annotator
    python -m services.accounts list
    python -m services.accounts set-role NAME ROLE
    python -m services.accounts reset-password NAME
    python -m services.accounts disable NAME | enable NAME
    python -m services.accounts member NAME PROJECT [--remove]
    python -m services.accounts team on|off

The password comes from the terminal (asked twice, not echoed) or, for scripts, from
``SEQLAB_PASSWORD``. The database is the app's (``SEQLAB_DB_URL``, or ``SEQLAB_HOME``), or ``--db``.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from services import Services
from services.accounts import ROLES
from tagger.spans import SeqLabError


def _password(name: str) -> str:
    given = os.environ.get("SEQLAB_PASSWORD")
    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise SeqLabError("no terminal to ask the password on: set SEQLAB_PASSWORD")
    first = getpass.getpass(f"Password for {name}: ")
    if getpass.getpass("The same password again: ") != first:
        raise SeqLabError("the two passwords differ")
    return first


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.accounts",
                                     description="Accounts, project membership and team mode on the app's database.")
    parser.add_argument("--db", help="SQLAlchemy URL of the database (default: the app's)")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create an account (password from the terminal or SEQLAB_PASSWORD)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    commands.add_parser("list", help="every account: name, role, state")
    role = commands.add_parser("set-role", help="change an account's role")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    for command, what in (("reset-password", "a new password; lifts a lock"), ("disable", "no more signing in"),
                          ("enable", "signing in again")):
        commands.add_parser(command, help=what).add_argument("name")
    member = commands.add_parser("member", help="add an account to a project (or --remove it)")
    member.add_argument("name")
    member.add_argument("project", help="the project's name or id")
    member.add_argument("--remove", action="store_true")
    team = commands.add_parser("team", help="team mode on or off (SEQLAB_AUTH overrides it)")
    team.add_argument("state", choices=("on", "off"))
    return parser


def _run(svc: Services, args: argparse.Namespace) -> str:
    if args.command == "add":
        account = svc.add_account(args.name, args.role, _password(args.name))
        return f"added {account.name} ({account.role})"
    if args.command == "list":
        rows = [f"{a.name}\t{a.role}\t{_state(a)}" for a in svc.accounts()]
        return "\n".join(rows) or "no accounts"
    if args.command == "set-role":
        return f"{svc.set_role(args.name, args.role).name} is now {args.role}"
    if args.command == "reset-password":
        return f"new password set for {svc.reset_password(args.name, _password(args.name)).name}"
    if args.command in ("disable", "enable"):
        account = (svc.disable_account if args.command == "disable" else svc.enable_account)(args.name)
        return f"{account.name} is {'disabled' if account.disabled else 'enabled'}"
    if args.command == "member":
        project = svc.project(int(args.project) if args.project.isdigit() else args.project)
        (svc.remove_member if args.remove else svc.add_member)(project.id, args.name)
        return f"{args.name} {'left' if args.remove else 'joined'} {project.name}"
    svc.set_team_mode(args.state == "on")
    return f"team mode {args.state}"


def _state(account) -> str:
    if account.disabled:
        return "disabled"
    if account.locked_until is not None:
        from datetime import datetime, timezone

        if account.locked_until > datetime.now(timezone.utc):
            return f"locked until {account.locked_until:%Y-%m-%d %H:%M} UTC"
    return "active"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    svc = Services(args.db)
    try:
        print(_run(svc, args))
    except SeqLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        svc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
