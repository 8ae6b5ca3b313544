"""Two tabs writing at once, on every page that writes (issue 10): real Chromium, one server.

Each test opens the same page in two browser contexts (two sessions, like two tabs or two people),
prepares the same write in both, then clicks in both without waiting in between, so the two reruns
race on the server. What must hold: no traceback on either tab, the database holds the write once
(or refuses the second with a message), and neither tab is told something untrue. Annotate's two
tabs (a save over a newer version is refused, the work kept) are in test_editor.py.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import TIMEOUT_MS, App, new_context
from tests.browser.steps import choose_project, jsonl_bytes

pytestmark = pytest.mark.browser


@pytest.fixture()
def tabs(request, chromium, app_server) -> Iterator[tuple[App, App]]:
    """Two fresh contexts on the app (separate sessions)."""
    contexts, apps = [], []
    for _ in range(2):
        context = new_context(chromium)
        page = context.new_page()
        app = App(page, app_server)
        page.on("dialog", lambda dialog, app=app: (app.dialogs.append(dialog.message), dialog.dismiss()))
        contexts.append(context)
        apps.append(app)
    yield apps[0], apps[1]
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for name, app in zip("ab", apps):
            app.screenshot(f"FAILED-{request.node.name}-{name}")
    for context in contexts:
        context.close()


def at_once(a: App, b: App, click, outcome: re.Pattern | None = None) -> None:
    """``click(app)`` in both tabs back to back, then wait until each tab shows an ``outcome``
    (the run state alone is not enough: on a loaded machine a click can reach the server after
    its tab already reads "not running")."""
    click(a)
    click(b)
    for app in (a, b):
        if outcome is not None:
            expect(app.page.get_by_text(outcome).first).to_be_visible(timeout=TIMEOUT_MS)
        app.wait_for_run()


def eventually(check, timeout_s: float = TIMEOUT_MS / 1000) -> None:
    """Wait until ``check()`` is true (a state another session writes), or fail with its last value."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            assert check()
        time.sleep(0.2)


def no_traceback(*apps: App) -> None:
    for app in apps:
        assert app.page.locator("[data-testid='stException']").count() == 0, app.page.inner_text("body")[:3000]
        assert app.dialogs == []


def both_on(a: App, b: App, title: str, project: str) -> None:
    for app in (a, b):
        app.open(title)
        choose_project(app, project)


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"


def test_two_tabs_saving_the_same_text_on_tag_store_one_document(tabs, services):
    a, b = tabs
    project = services.create_project(unique("Concurrent tag"), ["PER", "LOC"])
    text = f"Alice went to Paris with {uuid.uuid4().hex[:8]} ."
    both_on(a, b, "Tag", project.name)
    for app in (a, b):
        app.page.get_by_label("Text to tag").fill(text)
        app.page.get_by_role("button", name="Tag", exact=True).click()
        app.wait_for_run()
    at_once(a, b, lambda app: app.page.get_by_role("button", name="Save for correction").click(),
            re.compile(r"Stored as document #\d+"))
    no_traceback(a, b)
    docs = [d for d in services.documents_frame(project.id).itertuples() if d.text == text]
    assert len(docs) == 1
    for app in (a, b):  # both are told the truth: the one document that holds the text
        expect(app.page.get_by_text(f"Stored as document #{docs[0].id}")).to_be_visible()


def test_two_tabs_importing_the_same_file_store_it_once(tabs, services):
    a, b = tabs
    project = services.create_project(unique("Concurrent import"), ["PER", "LOC"])
    texts = [f"Bob number {i} went to Berlin ." for i in range(40)]
    data = jsonl_bytes([{"text": t, "spans": [{"start": 0, "end": 3, "label": "PER"}]} for t in texts])
    both_on(a, b, "Data", project.name)
    for app in (a, b):
        app.page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
            files=[{"name": "same.jsonl", "mimeType": "application/jsonl", "buffer": data}])
        app.wait_for_run()
        expect(app.page.get_by_text("Preview of same.jsonl")).to_be_visible()
    at_once(a, b, lambda app: app.page.get_by_role("button", name="Import", exact=True).click(),
            re.compile(r"Imported \d+ documents"))
    no_traceback(a, b)
    added = []
    for app in (a, b):
        message = app.page.get_by_text(re.compile(r"Imported \d+ documents")).inner_text()
        added.append(int(re.search(r"Imported (\d+) documents", message).group(1)))
    assert sorted(added) == [0, len(texts)]
    assert services.queue_progress(project.id).total == len(texts)


def test_two_tabs_adding_the_same_label_keep_one_and_tell_the_other(tabs, services):
    a, b = tabs
    project = services.create_project(unique("Concurrent labels"), ["PER"])
    both_on(a, b, "Settings", project.name)
    for app in (a, b):
        app.page.get_by_label("New label").fill("EVENT")
    at_once(a, b, lambda app: app.page.get_by_role("button", name="Add label").click())
    eventually(lambda: sum(app.page.get_by_text("already exists").count() for app in (a, b)) == 1)
    no_traceback(a, b)
    assert services.project(project.id).label_names == ["PER", "EVENT"]


def test_saving_a_label_that_another_tab_renamed_is_refused_with_a_message(tabs, services):
    a, b = tabs
    project = services.create_project(unique("Stale label"), ["PER", "LOC"])
    both_on(a, b, "Settings", project.name)
    # tab A renames PER; tab B still shows PER and changes its shortcut
    a.page.get_by_label("Label", exact=True).first.fill("PERSON")
    a.page.get_by_role("button", name="Save label").first.click()
    a.wait_for_run()
    b.page.get_by_label("Key", exact=True).first.fill("7")
    b.page.get_by_role("button", name="Save label").first.click()
    b.wait_for_run()
    no_traceback(a, b)
    expect(b.page.get_by_text("no label 'PER'")).to_be_visible()
    labels = {label.name: label.shortcut for label in services.project(project.id).labels}
    assert labels == {"PERSON": "1", "LOC": "2"}  # B's change went nowhere, and nowhere else


def test_two_tabs_starting_training_make_one_job(tabs, services, tiny_base):
    from tests.conftest import add_labelled_project

    a, b = tabs
    project = add_labelled_project(services, tiny_base, n=40, name=unique("Concurrent train"))
    both_on(a, b, "Train", project.name)
    at_once(a, b, lambda app: app.page.get_by_role("button", name="Start training").click(),
            re.compile(r"Job #\d+"))
    no_traceback(a, b)
    jobs = services.jobs(project.id)
    try:
        assert len(jobs) == 1
    finally:
        for job in jobs:
            if job.state in ("queued", "running"):
                services.cancel_training(job.id)


def test_two_tabs_activating_different_versions_leave_exactly_one_active(tabs, services, trained_dir):
    a, b = tabs
    project = services.create_project(unique("Concurrent models"), ["PER", "LOC", "ORG"])
    first = services.register_version(project.id, trained_dir)
    second = services.register_version(project.id, trained_dir)
    both_on(a, b, "Models", project.name)
    for app, version in ((a, first), (b, second)):
        app.page.get_by_test_id("stSelectbox").filter(has_text="Version").first.click()
        app.page.get_by_role("option", name=version.name, exact=True).click()
        app.wait_for_run()
    at_once(a, b, lambda app: app.page.get_by_role("button", name=re.compile(r"^(Activate|Roll back to) ")).click(),
            re.compile(r"is now active|error"))
    no_traceback(a, b)
    active = [v for v in services.versions(project.id) if v.active]
    assert len(active) == 1
    for app in (a, b):  # each tab, on its next look, shows the one that is active now
        app.open("Models")
        choose_project(app, project.name)
        expect(app.page.get_by_text(f"Active: {active[0].name}")).to_be_visible()
