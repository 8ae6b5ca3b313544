"""Who may do what: one table of rules, checked on every call a signed-in person makes.

:meth:`services.Services.as_user` wraps the app's Services in :class:`ActingServices`: every
method is looked up in :data:`POLICY` (a method missing from it is refused, so a new one is
closed until someone writes its rule), the actor's role is checked, and for a call about a
project, document, model version or job the project's membership too (admins belong to every
project). Arguments that name who did something (``annotator``, ``pinned_by``, ``created_by``, ``reviewer``)
are the actor's name, whatever the caller passed: a signed-in person cannot act as another.

The unbound Services (the worker, the CLIs, single-user mode) is the system actor: no checks.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from db import accounts as store
from db.repo import get_project
from tagger.spans import SeqLabError

ADMIN = frozenset({"admin"})
STAFF = frozenset({"admin", "reviewer"})  # reviewers: annotate, review, train, activate
ANYONE = frozenset({"admin", "reviewer", "annotator"})
WHO_ARGUMENTS = ("annotator", "pinned_by", "created_by", "reviewer")


class PermissionDenied(SeqLabError):
    """A signed-in person asked for something their role or project membership does not allow."""


@dataclass(frozen=True)
class Actor:
    """The signed-in person services act for."""

    id: int
    name: str
    role: str

    @property
    def admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class Rule:
    """Which roles may call a method, and which argument says the project it is about.

    ``scope``: None (no project), ``"project"`` (``project_id`` or ``key``), ``"document"``,
    ``"version"`` (``version_id``, a ``VersionInfo`` or ``a_id``/``b_id``/``version_ids``) or
    ``"job"`` (``job_id``).
    """

    roles: frozenset[str]
    scope: str | None = None


def _rules(roles: frozenset[str], scope: str | None, *names: str) -> dict[str, Rule]:
    return {name: Rule(roles, scope) for name in names}


POLICY: dict[str, Rule] = {
    # Tag and Annotate: everyone, in their projects
    **_rules(ANYONE, None, "projects", "tag_text", "tag_frames", "predict", "subword_edge_warnings", "ensure_worker",
             "worker_alive"),
    **_rules(ANYONE, "project", "project", "queue_progress", "next_document", "save_for_correction",
             "pattern_spans", "pattern_hints", "patterns", "matcher", "unseen_share", "active_version",
             "versions", "running_job"),
    **_rules(ANYONE, "document", "document", "save_correction", "save_frames_correction", "save_draft", "draft",
             "discard_draft", "history", "queue_reason"),
    **_rules(ANYONE, "version", "version", "load_tagger"),
    # assigned work (services/review.py): an annotator submits only on documents assigned to them
    **_rules(ANYONE, "project", "has_assignments", "next_assigned", "assigned_progress"),
    **_rules(ANYONE, "document", "submit_annotation", "submit_frames_annotation", "assignees"),
    # Data, Train, Models, review: reviewers and admins
    **_rules(STAFF, "project", "documents_page", "documents_frame", "preview_upload", "import_file",
             "export_jsonl", "export_column", "start_training", "training_defaults", "training_summary",
             "training_documents", "jobs", "pinned_corrections", "start_audit", "latest_audit",
             "register_version"),
    **_rules(STAFF, None, "preview_file"),
    **_rules(STAFF, "job", "job", "cancel_training", "audit_findings"),
    **_rules(STAFF, "version", "activate_version", "compare_versions", "version_zip", "ledger_summary",
             "ledger_summaries", "ledger_entries", "ledger_entries_of", "ledger_entry", "error_cells",
             "broken_pins"),
    **_rules(STAFF, "document", "pin_correction", "unpin_correction"),
    # Review: assignment, adjudication, agreement
    **_rules(STAFF, "project", "assign_documents", "assignments", "review_queue", "agreement",
             "project_annotators"),
    **_rules(STAFF, "document", "assign", "unassign", "annotations_of", "adjudicate", "adjudicate_frames",
             "adjudications"),
    # Settings, accounts and membership: admins
    **_rules(ADMIN, None, "create_project", "ensure_default_project", "accounts", "add_account", "set_role",
             "reset_password", "disable_account", "enable_account", "account", "set_team_mode"),
    **_rules(ADMIN, "project", "update_project", "add_label", "rename_label", "update_label", "add_pattern",
             "import_patterns", "update_pattern", "delete_patterns", "members", "add_member", "remove_member"),
}
GOLD_SAVES = ("save_correction", "save_frames_correction")  # write the document's spans directly
ROLE_WORDS = {"admin": "an admin", "reviewer": "a reviewer", "annotator": "an annotator"}


class ActingServices:
    """The app's Services as one person: each call checked against :data:`POLICY` first."""

    def __init__(self, services, actor: Actor):
        self._services = services
        self.actor = actor

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):  # copy, pickle, hasattr probes: not a service
            raise AttributeError(name)
        rule = POLICY.get(name)
        if rule is None or name.startswith("_"):
            raise PermissionDenied(f"'{name}' is not something a signed-in person can do")
        method = getattr(self._services, name)
        signature = _signature(type(self._services), name)

        @functools.wraps(method)
        def checked(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            for who in WHO_ARGUMENTS:
                if who in signature.parameters:
                    bound.arguments[who] = self.actor.name
            self._check(name, rule, bound.arguments)
            result = method(*bound.args, **bound.kwargs)
            return self._visible(name, result)

        return checked

    def _check(self, name: str, rule: Rule, arguments: dict[str, Any]) -> None:
        if self.actor.role not in rule.roles:
            allowed = " or ".join(sorted(rule.roles))
            raise PermissionDenied(f"{self.actor.name} is {ROLE_WORDS.get(self.actor.role, self.actor.role)}: "
                                   f"'{name.replace('_', ' ')}' needs the role {allowed}")
        if rule.scope is None or self.actor.admin:
            return
        with self._services.factory() as s:
            wanted = _projects_of(s, rule.scope, arguments)
            mine = store.member_projects(s, self.actor.id)
            if not wanted <= mine:
                raise PermissionDenied(f"{self.actor.name} is not a member of this project: "
                                       "an admin can add you to it")
            if name == "history" and self.actor.role == "annotator":
                self._own_document(s, arguments["document_id"])
            if name in GOLD_SAVES and self.actor.role == "annotator":
                self._not_under_review(s, arguments["document_id"])

    def _own_document(self, session, document_id: int) -> None:
        """Annotators read the history of documents they worked on (an entry or a draft of theirs)."""
        from db import repo

        entries = repo.history(session, document_id)
        if not any(e.annotator == self.actor.name for e in entries) and \
                repo.get_draft(session, document_id, self.actor.name) is None:
            raise PermissionDenied(f"{self.actor.name} is an annotator: the history of a document is open to "
                                   "the people who worked on it, reviewers and admins")

    def _not_under_review(self, session, document_id: int) -> None:
        """An annotator saves a document's gold only when it is not shared out for review: a document
        assigned to others, or to two or more people, takes their own correction (submit_annotation)."""
        from db import review

        people = review.assignees(session, document_id)
        if people and (self.actor.name not in people or len(people) > 1):
            raise PermissionDenied(f"{self.actor.name} is an annotator: document #{document_id} is assigned for "
                                   "review, so its gold is saved by a reviewer; submit your own correction instead")

    def _visible(self, name: str, result: Any) -> Any:
        """``projects()``: only the actor's projects (admins see all)."""
        if name != "projects" or self.actor.admin:
            return result
        with self._services.factory() as s:
            mine = store.member_projects(s, self.actor.id)
        return [p for p in result if p.id in mine]


@functools.cache
def _signature(cls: type, name: str) -> inspect.Signature:
    member = inspect.getattr_static(cls, name)
    function = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
    signature = inspect.signature(function)
    if not isinstance(member, staticmethod):  # drop ``self``
        signature = signature.replace(parameters=list(signature.parameters.values())[1:])
    return signature


def _projects_of(session, scope: str, arguments: dict[str, Any]) -> set[int]:
    """The projects a call is about, from its arguments (NotFound for an unknown id)."""
    if scope == "project":
        key = arguments.get("project_id", arguments.get("key"))
        return set() if key is None else {get_project(session, key).id}  # preview_upload without a project
    if scope == "document":
        return {store.project_of(session, "document", arguments["document_id"])}
    if scope == "job":
        return {store.project_of(session, "job", arguments["job_id"])}
    ids = [arguments[k] for k in ("version_id", "a_id", "b_id") if k in arguments]
    if "version" in arguments:  # a VersionInfo: its project is read from the store, not trusted
        ids.append(arguments["version"].id)
    ids += list(arguments.get("version_ids", ()))
    return {store.project_of(session, "version", i) for i in ids}
