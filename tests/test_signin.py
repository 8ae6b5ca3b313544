"""The sign-in wall of team mode through AppTest on app.py: nothing but the form until a person
signs in, the lock-out, sign-out, idle expiry, disabled accounts, and names shown as text."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import streamlit as st
from argon2 import PasswordHasher
from streamlit.testing.v1 import AppTest

import services.accounts as accounts
from services import Services
from tests.apptest import page, shown, unmd
from ui.signin import ACTOR, CHECKED, NOTICE, SEEN

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
TIMEOUT = 60
PASSWORD = "correct horse battery"
LINK_NAME = "[x](javascript:alert(1))"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    monkeypatch.setattr(accounts, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture()
def svc(tmp_path, monkeypatch):
    """Team mode on a fresh SQLite file with the default project, an admin and an annotator."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    for key, value in {"SEQLAB_DB_URL": url, "SEQLAB_HOME": str(tmp_path), "SEQLAB_WORKER": "off",
                       "SEQLAB_AUTH": "on"}.items():
        monkeypatch.setenv(key, value)
    st.cache_resource.clear()
    st.cache_data.clear()
    service = Services(url)
    project = service.ensure_default_project()
    service.add_account("boss", "admin", PASSWORD)
    service.add_account("ann", "annotator", PASSWORD)
    service.add_member(project.id, "ann")
    yield service
    service.close()
    st.cache_resource.clear()
    st.cache_data.clear()


def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=TIMEOUT).run()


def sign_in(at: AppTest, name: str, password: str = PASSWORD) -> AppTest:
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key="sign_in_password").input(password)
    return at.button[0].click().run()


def test_team_mode_shows_nothing_but_the_sign_in_form(svc):
    at = app()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.selectbox and not at.text_area
    assert not any("English NER" in t or "Alice" in t for t in shown(at))


def test_a_page_run_without_the_wall_reads_nothing(svc):
    at = AppTest.from_file(str(ROOT / "pages" / "tag.py"), default_timeout=TIMEOUT).run()
    assert at.exception and "sign in first" in at.exception[0].value
    assert not at.selectbox


def test_signing_in_opens_the_app_with_the_persons_name(svc):
    at = sign_in(app(), "ann")
    assert not at.exception
    assert at.title[0].value == "Tag"
    assert "Signed in as ann (annotator)" in shown(at)
    assert not any(t.label == "Your name" for t in at.text_input)


def test_a_wrong_password_says_so_and_the_fifth_locks_the_account(svc):
    at = app()
    for _ in range(4):
        at = sign_in(at, "ann", "wrong password")
        assert any("Wrong user name or password" in e.value for e in at.error)
    at = sign_in(at, "ann", "wrong password")
    assert any("locked for 15 minutes" in unmd(e.value) for e in at.error)
    at = sign_in(at, "ann")
    assert any("locked for 15 minutes" in unmd(e.value) for e in at.error)
    assert [b.label for b in at.button] == ["Sign in"]


def test_an_admin_adds_a_member_and_an_account_in_settings(svc):
    actor = svc.sign_in("boss", PASSWORD)
    now = time.monotonic()
    project = svc.project("English NER")
    other = svc.create_project("Other NER", ["PER"])
    at = page("settings", **{ACTOR: actor, SEEN: now, CHECKED: now, "project_id": other.id})
    assert not at.exception
    at.multiselect(key=f"members_{other.id}").select("ann")
    next(b for b in at.button if b.label == "Save members").click().run()
    assert not at.exception
    assert [a.name for a in svc.members(other.id)] == ["ann"] and svc.members(project.id)
    at.text_input(key="add_account_name").input(LINK_NAME)
    at.text_input(key="add_account_password").input(PASSWORD)
    next(b for b in at.button if b.label == "Add account").click().run()
    assert not at.exception
    assert svc.account(LINK_NAME).role == "annotator"
    assert not any("](javascript" in e.value for e in at.toast)


def signed_in_page(svc, name: str, **state) -> AppTest:
    """A page run with ``name`` signed in (AppTest reruns a multipage app's page without its entry
    script, so what the wall does after signing in is tested in Chromium: tests/browser/test_teams.py)."""
    actor = svc.sign_in(name, PASSWORD)
    now = time.monotonic()
    return page("tag", **{ACTOR: actor, SEEN: now, CHECKED: now, **state})


def test_a_signed_in_page_works_and_records_the_persons_name(svc):
    at = signed_in_page(svc, "ann")
    assert not at.exception
    at.text_area(key="tag_text").input("Carol works at Globex .")
    at.button(key="tag_button").click().run()
    at.button(key="tag_save").click().run()
    assert not at.exception
    assert "Carol works at Globex ." in set(svc.documents_frame(svc.project("English NER").id)["text"])


def test_the_annotate_page_stores_under_the_signed_in_name_without_a_name_box(svc):
    actor = svc.sign_in("ann", PASSWORD)
    now = time.monotonic()
    at = page("annotate", **{ACTOR: actor, SEEN: now, CHECKED: now})
    assert not at.exception
    assert not any(t.label == "Your name" for t in at.text_input)
    assert at.session_state["annotator"] == "ann"


def test_an_annotator_is_told_a_document_changed_under_them_without_its_history(svc):
    actor = svc.sign_in("ann", PASSWORD)
    now = time.monotonic()
    at = page("annotate", **{ACTOR: actor, SEEN: now, CHECKED: now})
    doc_id = at.session_state["annotate_doc"]
    svc.save_correction(doc_id, [], annotator="boss")
    at.session_state[CHECKED] = time.monotonic()
    at.run()
    assert not at.exception
    assert any(f"Document #{doc_id} was changed after you opened it" in t for t in shown(at))


def test_an_idle_session_ends_on_its_next_run(svc, monkeypatch):
    monkeypatch.setenv("SEQLAB_IDLE_MINUTES", "1")
    at = signed_in_page(svc, "ann", **{SEEN: time.monotonic() - 61})
    assert at.exception and "without activity" in at.exception[0].value
    assert ACTOR not in at.session_state and "1 minutes without activity" in at.session_state[NOTICE]


def test_a_disabled_account_is_signed_out_on_its_next_run(svc):
    at = signed_in_page(svc, "ann", **{CHECKED: time.monotonic() - 60})
    assert not at.exception
    svc.disable_account("ann")
    at.session_state[CHECKED] = time.monotonic() - 60
    at.run()
    assert at.exception and "disabled" in at.exception[0].value
    assert ACTOR not in at.session_state


def test_an_annotator_cannot_use_a_project_they_are_not_a_member_of(svc):
    other = svc.create_project("Secret NER", ["PER"])
    at = signed_in_page(svc, "ann", project_id=other.id)
    assert not at.exception
    assert at.selectbox(key="project_picker").options == ["English NER"]


def test_a_person_with_no_project_is_told_to_ask_an_admin(svc):
    svc.add_account("newbie", "reviewer", PASSWORD)
    at = sign_in(app(), "newbie")
    assert not at.exception
    assert any("not a member of any project" in t for t in shown(at))


def test_a_name_with_markdown_is_shown_as_text(svc):
    svc.add_account(LINK_NAME, "annotator", PASSWORD)
    svc.add_member(svc.project("English NER").id, LINK_NAME)
    at = sign_in(app(), LINK_NAME)
    assert f"Signed in as {LINK_NAME} (annotator)" in shown(at)
    assert not any("](javascript" in e.value for e in at.caption)  # escaped: no link in the source


def test_an_account_name_with_html_is_refused(svc):
    from tagger.spans import SeqLabError

    with pytest.raises(SeqLabError, match="not allowed"):
        svc.add_account("<img src=x onerror=alert(1)>", "annotator", PASSWORD)


def test_single_user_mode_says_where_it_listens(svc, monkeypatch):
    monkeypatch.setenv("SEQLAB_AUTH", "off")
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert any("Single-user mode" in t for t in shown(at))
