"""User text in real Chromium: names that are markdown show as typed on every page and fetch
nothing; quotes and HTML show as typed; a lone surrogate typed into a text field is replaced and
said, instead of the connection dropping (issue 10 items 2, 6, 10)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from db import jobs
from db.session import write_session
from tagger.spans import Span
from tests.browser.steps import choose_project, tag

pytestmark = pytest.mark.browser

BOLD, LINK = "**BOLD**", "[x](javascript:alert(1))"
QUOTED = ["Bob's NER", "a < b & c > d", '"quoted"', "<img src=x onerror=alert(1)>"]
# Markup the page would show if it rendered user text: images, links, bold, and where it points.
MARKUP = """port => {
    const found = [];
    const walk = root => {
        for (const el of root.querySelectorAll('*')) {
            if (el.shadowRoot) walk(el.shadowRoot);
            const src = el.getAttribute('src') || '', href = el.getAttribute('href') || '';
            if (src.includes(':' + port) || href.includes(':' + port) || href.startsWith('javascript:')
                || (el.tagName === 'IMG' && el.closest('[data-testid=stMain], [data-testid=stSidebar], [data-testid=stToast]'))
                || (['STRONG', 'B'].includes(el.tagName) && el.textContent.includes('BOLD')))
                found.push(el.outerHTML.slice(0, 200));
        }
    };
    walk(document);
    return found;
}"""
LONE_SURROGATE_TYPED = """text => {
    const field = document.querySelector('textarea[aria-label="Text to tag"]');
    field.focus();
    const value = text.replace('@', String.fromCharCode(0xD800));  // made here: Playwright's transport would mend it
    Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value').set.call(field, value);
    field.dispatchEvent(new Event('input', {bubbles: true}));
}"""


class _Counter(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).requests.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def tracker():
    """A local HTTP server on a free port that counts the requests it gets (a tracking pixel's)."""
    _Counter.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], _Counter.requests
    server.shutdown()
    server.server_close()


def page_text(app) -> str:
    return app.page.evaluate("() => document.body.innerText")


def no_markup(app, port: int, where: str) -> None:
    found = app.page.evaluate(MARKUP, port)
    assert found == [], f"{where} renders user text as markup: {found}"
    assert "&#" not in page_text(app) and "&amp;" not in page_text(app) and "&quot;" not in page_text(app), where


def test_markdown_names_show_as_typed_on_every_page_and_fetch_nothing(app, services, trained_dir, tracker):
    port, requests = tracker
    pixel = f"![i](http://127.0.0.1:{port}/x)"
    page_requests = []
    app.page.on("request", lambda r: page_requests.append(r.url) if f":{port}" in r.url else None)
    project = services.create_project(QUOTED[0], [BOLD, LINK])
    services.save_for_correction(project.id, "Bob visited Berlin .", [Span(0, 3, LINK)])  # Annotate's queue
    services.register_version(project.id, trained_dir)
    failure = f"unknown label {QUOTED[3]!r} in {QUOTED[0]} {QUOTED[1]} {QUOTED[2]} {LINK}"
    with write_session(services.factory) as s:  # one transaction: no worker of another journey can claim it
        job, _ = jobs.enqueue(s, project.id, {}, "test-escaping")
        assert jobs.claim_next(s, "test-escaping").id == job.id
        jobs.finish(s, job.id, "failed", failure)

    # Settings: add the tracking-pixel label by hand, then save it ("Label ... saved").
    app.open("Settings")
    choose_project(app, QUOTED[0])
    page = app.page
    page.get_by_label("New label").fill(pixel)
    page.get_by_role("button", name="Add label").click()
    app.wait_for_run()
    page.get_by_role("button", name="Save label").nth(2).click()
    app.wait_for_run()
    expect(page.get_by_test_id("stToast").filter(has_text="saved")).to_contain_text(f"Label {pixel} saved")
    no_markup(app, port, "Settings")
    app.screenshot("escaping-settings")

    app.go("Annotate")
    for name in (pixel, BOLD, LINK):
        expect(page.get_by_test_id("stMain")).to_contain_text(name)
    no_markup(app, port, "Annotate")

    app.go("Tag")
    tag(app, " ".join(QUOTED))
    assert " ".join(QUOTED) in page.locator(".seqlab-text").inner_text()
    assert [BOLD, LINK, pixel] == page.locator("mark.seqlab-legend").all_inner_texts()
    no_markup(app, port, "Tag")

    app.go("Data")
    assert f"Project {QUOTED[0]}:" in page_text(app)
    # Not QUOTED[2]: a browser sends a `"` in a file name as %22 (HTML's multipart/form-data encoding).
    name = f"{QUOTED[1]} {QUOTED[0]}.jsonl"
    record = {"text": "Alice went home .", "spans": [{"start": 0, "end": 5, "label": QUOTED[3]}]}
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": name, "mimeType": "application/jsonl", "buffer": json.dumps(record).encode()}])
    app.wait_for_run()
    assert f"Preview of {name}: " in page_text(app)
    assert f"'{QUOTED[3]}' (1 span)" in page_text(app)  # the offer to add the label quotes it as typed
    page.get_by_text("Add them to the project when importing").click()  # refused instead
    app.wait_for_run()
    page.get_by_role("button", name="Import", exact=True).click()
    app.wait_for_run()
    error = page.get_by_test_id("stAlertContentError").first.inner_text()
    assert f"unknown label {QUOTED[3]!r}; {QUOTED[0]!r} has" in error, error
    no_markup(app, port, "Data")
    app.screenshot("escaping-data")

    app.go("Models")
    expect(page.get_by_role("button", name="Activate v1")).to_be_visible()
    no_markup(app, port, "Models")

    app.go("Train")
    error = page.get_by_test_id("stAlertContentError").first.inner_text()
    assert error == f"Job #{job.id} failed: {failure}", error
    no_markup(app, port, "Train")
    assert page.get_by_test_id("stSidebar").get_by_role("combobox", name="Project").input_value() == QUOTED[0]

    page.wait_for_timeout(500)  # a lazily loaded image would have asked by now
    assert requests == [] and page_requests == [], (requests, page_requests)


def test_a_lone_surrogate_typed_into_text_to_tag_is_replaced_and_said(app, seqlab_home):
    app.open("Tag")
    page = app.page
    log = seqlab_home / "streamlit.log"
    before = log.read_text(errors="replace").count("Error deserializing back message")
    page.locator("html[data-seqlab-text-guard=ready]").wait_for(state="attached")
    page.evaluate(LONE_SURROGATE_TYPED, "Alice went to Paris @ today .")
    page.get_by_role("button", name="Tag", exact=True).click()
    app.wait_for_run()
    toast = page.get_by_test_id("stToast").filter(has_text="lone surrogate")
    expect(toast).to_contain_text("The text in \u201cText to tag\u201d contained a broken character (a lone "
                                  "surrogate): replaced with U+FFFD \ufffd.")
    expect(page.locator(".seqlab-text")).to_contain_text("\ufffd today .")  # tagged
    assert page.get_by_label("Text to tag").input_value() == "Alice went to Paris \ufffd today ."
    assert log.read_text(errors="replace").count("Error deserializing back message") == before
    app.screenshot("tag-lone-surrogate")
