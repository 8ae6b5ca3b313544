"""Steps that several browser journeys take (on :class:`conftest.App`), and the data they compare."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import Locator, expect

from tagger.formats import read_jsonl
from ui.text import counted


def jsonl_bytes(records: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def spans_by_text(jsonl: str) -> dict[str, list[tuple[int, int, str]]]:
    """{text: [(start, end, label), ...]} of a JSONL export (scores and metadata left out)."""
    return {ex.text: [(s.start, s.end, s.label) for s in ex.spans] for ex in read_jsonl(jsonl)}


def upload_and_import(app, filename: str, data: bytes, documents: int) -> None:
    """Upload a file on the Data page, check its preview, import it, see the count."""
    page = app.page
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": filename, "mimeType": "application/jsonl", "buffer": data}])
    app.wait_for_run()
    expect(page.get_by_text(f"Preview of {filename}")).to_be_visible()
    page.get_by_role("button", name="Import", exact=True).click()
    app.wait_for_run()
    expect(page.get_by_text(f"Imported {counted(documents, 'document')}")).to_be_visible()


def download(app, button: str) -> str:
    with app.page.expect_download() as info:
        app.page.get_by_role("button", name=button).click()
    return Path(info.value.path()).read_text(encoding="utf-8")


def choose_project(app, name: str) -> None:
    """Pick a project in the sidebar's "Project" selectbox."""
    page = app.page
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has_text="Project").click()
    # the option list is virtual (only the options in view exist): type to filter it first
    page.keyboard.type(name)
    page.get_by_role("option", name=name, exact=True).click()
    app.wait_for_run()
    unfocus(page)


def unfocus(page) -> None:
    """Take the focus off a selectbox just used: its focus ring is red, as if it were an error, in
    a screenshot. (Not for a text input: leaving one submits it.)"""
    page.evaluate("() => document.activeElement?.blur()")


def tag(app, text: str) -> None:
    """Type ``text`` on the Tag page, press "Tag", wait for the highlighted result."""
    page = app.page
    page.get_by_label("Text to tag").fill(text)
    page.get_by_role("button", name="Tag", exact=True).click()
    app.wait_for_run()
    expect(page.locator(".seqlab-text")).to_be_visible()


def grid_cells(dataframe: Locator, row: int = 0) -> Locator:
    """The cells of a row of an ``st.dataframe`` (0: the first row under the header), from the
    table for screen readers that the data grid keeps inside its canvas. CSS selectors, not roles:
    Playwright's role queries do not look into a canvas. That table follows new data a moment
    after the canvas, so compare with ``expect(...).to_have_text``, which waits."""
    return dataframe.locator("tbody [role='row']").nth(row).locator("[role='gridcell']")


def start_training(app, options: dict[str, str]) -> None:
    """On the Train page: fill the advanced options (label -> value), then press "Start training"."""
    page = app.page
    page.get_by_text("Advanced options", exact=True).click()
    for label, value in options.items():
        page.get_by_label(label, exact=True).fill(value)
        page.get_by_label(label, exact=True).press("Enter")
        app.wait_for_run()
    page.get_by_role("button", name="Start training").click()
    app.wait_for_run()


# ----------------------------------------------------------------------------- the span editor (Annotate)

EDITOR = ".seqlab-editor.seqlab-editable"
# (text, label) of every span the editor shows: the span's own text, its label tag left out.
SHOWN_SPANS = """root => [...root.querySelectorAll('mark.seqlab-entity')].map(m => [
    [...m.childNodes].filter(n => !(n.classList && n.classList.contains('seqlab-tag')))
        .map(n => n.textContent).join(''),
    m.dataset.label])"""


def editor(page) -> Locator:
    """The Annotate page's span editor (in the page's own DOM, no iframe), once it has drawn and
    the previous document's editor has gone (for a moment after a rerun the page holds both)."""
    root = page.locator(EDITOR)
    expect(root).to_have_count(1)
    root.locator(".seqlab-text").wait_for(state="visible")
    return root


def unit(page, text: str, nth: int = 0) -> Locator:
    """The editor's unit (word, character or emoji) whose text is ``text``."""
    return page.locator(f"{EDITOR} .seqlab-unit").filter(has_text=re.compile(f"^{re.escape(text)}$")).nth(nth)


def shown_spans(page) -> list[tuple[str, str]]:
    return [tuple(s) for s in editor(page).evaluate(SHOWN_SPANS)]


def drag(page, first: Locator, last: Locator) -> None:
    """Press the mouse on one unit and release it on another."""
    a, b = first.bounding_box(), last.bounding_box()
    page.mouse.move(a["x"] + 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=5)
    page.mouse.up()


def accept(app) -> None:
    """The editor's Accept button (the spans go with it), then the rerun that opens the next document."""
    editor(app.page).get_by_role("button", name="Accept").click()
    app.wait_for_run()
