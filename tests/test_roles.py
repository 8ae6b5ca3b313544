"""Who may do what, checked in the services: every rule, called directly as the wrong person.

``Services.as_user(actor)`` is what the pages get in team mode; these tests call it as a person
whose role or project membership does not allow the call, and expect PermissionDenied before
anything is read or written.
"""

from __future__ import annotations

import inspect

import pytest
from argon2 import PasswordHasher

import services.accounts as accounts
from db import jobs, versions
from db.session import write_session
from services import PermissionDenied, Services
from services.policy import ADMIN, ANYONE, POLICY, STAFF
from tagger.spans import Span

SYSTEM_ONLY = {"close", "sign_in", "current_actor", "as_user", "team_mode"}  # never reached through as_user
PASSWORD = "correct horse battery"
ROLES = ("admin", "reviewer", "annotator")


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    monkeypatch.setattr(accounts, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture()
def team(svc):
    """Two projects, one document, model version and job in each, and a person of every role who
    is a member of the first project only."""
    ours, theirs = svc.create_project("Ours", ["PER", "LOC"]), svc.create_project("Theirs", ["PER"])
    world = {"ours": ours, "theirs": theirs}
    for key, project in world.copy().items():
        doc = svc.save_for_correction(project.id, f"Alice went to Paris in {key} .")
        with write_session(svc.factory) as s:
            version = versions.create_version(s, project.id, f"/nowhere/{key}")
            job, _ = jobs.enqueue(s, project.id, {"epochs": 1}, fingerprint=key)
        world[f"{key}_doc"], world[f"{key}_version"], world[f"{key}_job"] = doc, version, job
    for role in ROLES:
        svc.add_account(role, role, PASSWORD)
        svc.add_member(ours.id, role)
        world[role] = svc.as_user(svc.sign_in(role, PASSWORD))
    return world


def test_every_public_method_has_a_rule():
    public = {name for name, _ in inspect.getmembers(Services, callable) if not name.startswith("_")}
    assert public - SYSTEM_ONLY - set(POLICY) == set(), "a new Services method needs a rule in services.policy"


def _placeholder_call(acting, name):
    """Call ``name`` with None for every required argument: the role check comes first."""
    from services.policy import _signature

    signature = _signature(Services, name)
    required = [p for p in signature.parameters.values()
                if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    return getattr(acting, name)(**{p.name: None for p in required})


@pytest.mark.parametrize("name", sorted(n for n, rule in POLICY.items() if rule.roles != ANYONE))
def test_each_rule_refuses_the_roles_it_does_not_name(team, name):
    for role in set(ROLES) - POLICY[name].roles:
        with pytest.raises(PermissionDenied, match=f"{role} is an? {role}: '{name.replace('_', ' ')}' needs the role"):
            _placeholder_call(team[role], name)


def test_the_roles_are_the_issues_roles():
    assert POLICY["update_project"].roles == ADMIN and POLICY["add_account"].roles == ADMIN
    assert POLICY["start_training"].roles == STAFF and POLICY["activate_version"].roles == STAFF
    assert POLICY["export_jsonl"].roles == STAFF and POLICY["version_zip"].roles == STAFF
    assert POLICY["save_correction"].roles == ANYONE and POLICY["tag_text"].roles == ANYONE


def test_an_annotator_cannot_change_settings_train_activate_or_export(team):
    ann, ours = team["annotator"], team["ours"]
    for call in (lambda: ann.update_project(ours.id, name="Mine"), lambda: ann.add_label(ours.id, "ORG"),
                 lambda: ann.start_training(ours.id), lambda: ann.activate_version(team["ours_version"].id),
                 lambda: ann.export_jsonl(ours.id), lambda: ann.export_column(ours.id),
                 lambda: ann.version_zip(team["ours_version"].id), lambda: ann.cancel_training(team["ours_job"].id),
                 lambda: ann.add_account("eve", "admin", PASSWORD), lambda: ann.add_member(ours.id, "annotator"),
                 lambda: ann.create_project("New", ["PER"])):
        with pytest.raises(PermissionDenied):
            call()


def test_a_reviewer_trains_activates_and_exports_but_cannot_change_settings(team):
    rev, ours = team["reviewer"], team["ours"]
    assert rev.export_jsonl(ours.id)
    assert rev.activate_version(team["ours_version"].id).active
    assert rev.cancel_training(team["ours_job"].id).id == team["ours_job"].id
    with pytest.raises(PermissionDenied, match="needs the role admin"):
        rev.update_project(ours.id, decoder="softmax")
    with pytest.raises(PermissionDenied, match="needs the role admin"):
        rev.set_role("annotator", "admin")


def test_an_annotator_tags_and_corrects_in_their_project(team):
    ann, doc = team["annotator"], team["ours_doc"]
    assert ann.next_document(team["ours"].id).project_id == team["ours"].id
    saved = ann.save_correction(doc.id, [Span(0, 5, "PER")], annotator="someone else")
    assert saved.status == "corrected"
    assert ann.history(doc.id)[-1].annotator == "annotator"  # the actor's name, not the one passed


def test_who_did_it_is_always_the_actor(svc, team):
    rev, doc = team["reviewer"], team["ours_doc"]
    rev.save_draft(doc.id, "admin", [Span(0, 5, "PER")], base_version=doc.version)
    assert svc.draft(doc.id, "reviewer") is not None and svc.draft(doc.id, "admin") is None
    rev.save_correction(doc.id, [Span(0, 5, "PER")], annotator="admin")
    assert rev.pin_correction(doc.id, pinned_by="admin").pinned_by == "reviewer"


@pytest.mark.parametrize("role", ["reviewer", "annotator"])
def test_nobody_but_an_admin_reaches_a_project_they_are_not_a_member_of(team, role):
    acting, theirs = team[role], team["theirs"]
    calls = [lambda: acting.project(theirs.id), lambda: acting.project("Theirs"),
             lambda: acting.next_document(theirs.id), lambda: acting.queue_progress(theirs.id),
             lambda: acting.document(team["theirs_doc"].id), lambda: acting.history(team["theirs_doc"].id),
             lambda: acting.save_correction(team["theirs_doc"].id, [], annotator=role),
             lambda: acting.save_for_correction(theirs.id, "A new text ."),
             lambda: acting.version(team["theirs_version"].id), lambda: acting.load_tagger(team["theirs_version"]),
             lambda: acting.active_version(theirs.id), lambda: acting.versions(theirs.id)]
    if role == "reviewer":
        calls += [lambda: acting.export_jsonl(theirs.id), lambda: acting.job(team["theirs_job"].id),
                  lambda: acting.activate_version(team["theirs_version"].id),
                  lambda: acting.compare_versions(team["ours_version"].id, team["theirs_version"].id),
                  lambda: acting.ledger_summaries([team["ours_version"].id, team["theirs_version"].id])]
    for call in calls:
        with pytest.raises(PermissionDenied, match="not a member of this project"):
            call()


def test_projects_lists_only_the_persons_projects(team):
    assert [p.name for p in team["annotator"].projects()] == ["Ours"]
    assert [p.name for p in team["reviewer"].projects()] == ["Ours"]
    assert {p.name for p in team["admin"].projects()} == {"Ours", "Theirs"}


def test_an_admin_reaches_every_project_and_manages_accounts(team):
    admin, theirs = team["admin"], team["theirs"]
    assert admin.next_document(theirs.id).project_id == theirs.id
    admin.add_member(theirs.id, "annotator")
    assert [p.name for p in team["annotator"].projects()] == ["Ours", "Theirs"]
    assert admin.set_role("annotator", "reviewer").role == "reviewer"


def test_an_annotator_reads_only_the_history_of_documents_they_worked_on(svc, team):
    ann, doc = team["annotator"], team["ours_doc"]
    with pytest.raises(PermissionDenied, match="history"):
        ann.history(doc.id)
    ann.save_draft(doc.id, "annotator", [], base_version=doc.version)
    assert ann.history(doc.id) == svc.history(doc.id)
    assert team["reviewer"].history(doc.id) == svc.history(doc.id)


def test_a_reviewer_previews_an_upload_with_or_without_a_project(team):
    data = b"Alice B-PER\nwent O\n"
    assert team["reviewer"].preview_upload("a.conll", data).total == 1
    assert team["reviewer"].preview_upload("a.conll", data, project_id=team["ours"].id).total == 1
    with pytest.raises(PermissionDenied, match="not a member"):
        team["reviewer"].preview_upload("a.conll", data, project_id=team["theirs"].id)


def test_unknown_ids_are_not_found_not_a_crash(team):
    from db.repo import NotFound

    with pytest.raises(NotFound):
        team["annotator"].document(999_999)


def test_the_store_and_engine_are_not_reachable_through_the_bound_services(team):
    for name in ("engine", "factory", "_services_factory"):
        with pytest.raises(PermissionDenied):
            getattr(team["annotator"], name)
