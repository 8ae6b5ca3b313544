"""User journeys in real Chromium against ``streamlit run app.py`` (fixtures: conftest.py here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tagger.formats import read_jsonl

pytestmark = pytest.mark.browser

# Offsets written the readable way: start = len("Alice went to ").
UPLOAD = [
    {"text": "Alice went to Paris .",
     "spans": [{"start": 0, "end": 5, "label": "PER"},
               {"start": len("Alice went to "), "end": len("Alice went to Paris"), "label": "LOC"}]},
    {"text": "Bob visited Berlin today .",
     "spans": [{"start": 0, "end": 3, "label": "PER"},
               {"start": len("Bob visited "), "end": len("Bob visited Berlin"), "label": "LOC"}]},
    {"text": "Carol Smith said nothing .",
     "spans": [{"start": 0, "end": len("Carol Smith"), "label": "PER"}]},
]
IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>window.__pwned=1</script>Alice went to Paris ."
# The text of the highlighted result as a person reads it: each mark's decorations (the label
# and confidence, in child elements of the mark) left out, only the marked text kept.
PLAIN_RESULT_TEXT = """el => {
    const copy = el.cloneNode(true);
    copy.querySelectorAll('mark.seqlab-entity *').forEach(child => child.remove());
    return copy.textContent;
}"""


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
    expect(page.get_by_text(f"Imported {documents} documents")).to_be_visible()


def download(app, button: str) -> str:
    with app.page.expect_download() as info:
        app.page.get_by_role("button", name=button).click()
    return Path(info.value.path()).read_text(encoding="utf-8")


def choose_project(app, name: str) -> None:
    """Pick a project in the sidebar's "Project" selectbox."""
    page = app.page
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has_text="Project").click()
    page.get_by_role("option", name=name, exact=True).click()
    app.wait_for_run()


def create_project_in_settings(app, name: str, labels: str) -> None:
    app.open("Settings")
    page = app.page
    page.get_by_text("New project", exact=True).click()
    page.get_by_label("Project name").fill(name)
    page.get_by_label("Labels (comma-separated)").fill(labels)
    page.get_by_role("button", name="Create project").click()
    app.wait_for_run()
    app.screenshot("settings-project-created")


def tag(app, text: str) -> None:
    """Type ``text`` on the Tag page, press "Tag", wait for the highlighted result."""
    page = app.page
    page.get_by_label("Text to tag").fill(text)
    page.get_by_role("button", name="Tag", exact=True).click()
    app.wait_for_run()
    expect(page.locator(".seqlab-text")).to_be_visible()


def test_uploaded_file_is_imported_exported_and_reimported_into_a_new_project(app, services):
    app.open("Data")
    upload_and_import(app, "people.jsonl", jsonl_bytes(UPLOAD), documents=len(UPLOAD))
    app.screenshot("data-imported")

    exported = download(app, "Download JSONL")
    uploaded = {r["text"]: [(s["start"], s["end"], s["label"]) for s in r["spans"]] for r in UPLOAD}
    assert uploaded.items() <= spans_by_text(exported).items()
    column = [line.split() for line in download(app, "Download column file").splitlines() if line.strip()]
    assert ["Alice", "B-PER"] in column and ["Paris", "B-LOC"] in column and ["Smith", "I-PER"] in column

    create_project_in_settings(app, "Round trip", "PER, LOC")
    app.open("Data")
    choose_project(app, "Round trip")
    upload_and_import(app, "English_NER.jsonl", exported.encode(), documents=len(exported.splitlines()))
    app.screenshot("data-reimported")

    original = services.project("English NER")
    copy = services.project("Round trip")
    assert spans_by_text(services.export_jsonl(copy.id)) == spans_by_text(services.export_jsonl(original.id))


@pytest.mark.parametrize("text", [IMG, SCRIPT], ids=["img-onerror", "script"])
def test_html_typed_on_the_tag_page_is_shown_as_text_and_never_run(app, text):
    app.open("Tag")
    tag(app, text)
    app.screenshot(f"tag-{'img' if text == IMG else 'script'}")
    page = app.page
    assert app.dialogs == []
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator(".seqlab-text script").count() == 0
    assert not page.evaluate("() => [...document.scripts].some(s => s.textContent.includes('__pwned'))")
    literal = text if text == IMG else "<script>window.__pwned=1</script>"
    assert literal in page.locator(".seqlab-text").evaluate(PLAIN_RESULT_TEXT)


def test_tag_page_highlights_a_person_with_the_active_model(app):
    app.open("Tag")
    tag(app, SCRIPT)
    person = app.page.locator('.seqlab-text mark.seqlab-entity[data-label="PER"]', has_text="Alice")
    expect(person).to_have_count(1)
    expect(person).to_contain_text("PER")
