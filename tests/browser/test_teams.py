"""Team mode in real Chromium: the sign-in wall (page addresses typed directly included), the
lock-out, sign-out, an annotator who cannot open Settings or another project, names as text.

A server of its own (``SEQLAB_AUTH=on``) on a data folder of its own, so the other journeys keep
running in single-user mode.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import browse, serve

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
LINK_NAME = "[x](javascript:alert(1))"
STAFF_PAGES = ("Data", "Train", "Models", "Settings")


@pytest.fixture(scope="module")
def team_home(tmp_path_factory):
    """The default project, a project the annotator is not in, and an account of each role."""
    from services import Services

    home = tmp_path_factory.mktemp("seqlab-team").resolve()
    svc = Services(f"sqlite:///{home / 'seqlab.db'}")
    try:
        project = svc.ensure_default_project()
        svc.create_project("Secret NER", ["PER"])
        for name, role in (("boss", "admin"), ("ann", "annotator"), ("locky", "annotator"), (LINK_NAME, "annotator")):
            svc.add_account(name, role, PASSWORD)
            if role != "admin":
                svc.add_member(project.id, name)
    finally:
        svc.close()
    return home


@pytest.fixture(scope="module")
def team_server(team_home):
    yield from serve(team_home, SEQLAB_AUTH="on")


@pytest.fixture()
def team(request, chromium, team_server):
    yield from browse(request, chromium, team_server)


def goto(app, path: str = "") -> None:
    app.page.goto(f"{app.url}/{path}")
    app.page.locator("[data-testid='stAppViewContainer']").wait_for(state="attached")
    app.wait_for_run()


def sign_in(app, name: str, password: str = PASSWORD) -> None:
    page = app.page
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    app.wait_for_run()


def expect_only_the_form(app) -> None:
    page = app.page
    expect(page.get_by_label("User name")).to_be_visible()
    expect(page.get_by_label("Password", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert page.locator("[data-testid='stSidebarNav']").count() == 0
    assert page.get_by_test_id("stSelectbox").count() == 0
    body = page.locator("body").inner_text()
    assert "English NER" not in body and "Alice" not in body and "Text to tag" not in body


@pytest.mark.parametrize("path", ["", "annotate", "settings", "data", "models"])
def test_every_address_shows_only_the_sign_in_form(team, path):
    goto(team, path)
    expect_only_the_form(team)


def test_sign_in_opens_the_app_and_sign_out_closes_it(team):
    goto(team)
    sign_in(team, "boss")
    sidebar = team.page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("Signed in as boss (admin)")).to_be_visible()
    nav = team.page.locator("[data-testid='stSidebarNav']")
    for title in ("Tag", "Annotate", *STAFF_PAGES):
        expect(nav.get_by_role("link", name=title)).to_be_visible()
    team.screenshot("team-signed-in")
    sidebar.get_by_role("button", name="Sign out").click()
    team.wait_for_run()
    expect_only_the_form(team)
    expect(team.page.get_by_text("Signed out.")).to_be_visible()


def test_five_wrong_passwords_lock_the_account_also_after_a_reload(team):
    goto(team)
    for _ in range(4):
        sign_in(team, "locky", "not the password")
        expect(team.page.get_by_text("Wrong user name or password")).to_be_visible()
    sign_in(team, "locky", "not the password")
    expect(team.page.get_by_text("locked for 15 minutes")).to_be_visible()
    goto(team)  # a new session: the lock is in the database
    sign_in(team, "locky")
    expect(team.page.get_by_text("locked for 15 minutes")).to_be_visible()
    team.screenshot("team-locked")
    expect_only_the_form(team)


def test_an_annotator_cannot_open_settings_or_another_project(team):
    goto(team)
    sign_in(team, "ann")
    page = team.page
    nav = page.locator("[data-testid='stSidebarNav']")
    expect(nav.get_by_role("link", name="Annotate")).to_be_visible()
    for title in STAFF_PAGES:
        assert nav.get_by_role("link", name=title).count() == 0
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has_text="Project").click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    assert options.all_inner_texts() == ["English NER"]
    page.keyboard.press("Escape")
    team.screenshot("team-annotator")
    for path in ("settings", "data"):  # typed: a new session, so the form first, then the Tag page
        goto(team, path)
        sign_in(team, "ann")
        expect(page.get_by_text("Signed in as ann (annotator)")).to_be_visible()
        expect(page.get_by_role("heading", name="Tag")).to_be_visible()
        assert page.get_by_role("heading", name="Settings").count() == 0
        assert page.get_by_text("Import a file").count() == 0


def test_a_page_address_opens_that_page_after_signing_in(team):
    goto(team, "settings")
    expect_only_the_form(team)
    sign_in(team, "boss")
    expect(team.page.get_by_role("heading", name="Settings")).to_be_visible()


def test_a_name_with_markdown_shows_as_text(team):
    goto(team)
    sign_in(team, LINK_NAME)
    page = team.page
    expect(page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {LINK_NAME} (annotator)")).to_be_visible()
    assert page.locator("a[href^='javascript']").count() == 0
    assert not team.dialogs


def test_single_user_mode_says_it_listens_on_127_0_0_1_only(app):
    app.open("Tag")
    sidebar = app.page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("Single-user mode: listening on 127.0.0.1 only.")).to_be_visible()
    assert sidebar.get_by_role("button", name="Sign out").count() == 0
