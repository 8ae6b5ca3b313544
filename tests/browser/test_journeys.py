"""User journeys in real Chromium against ``streamlit run app.py`` (fixtures: conftest.py here)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.steps import choose_project, download, jsonl_bytes, spans_by_text, tag, upload_and_import

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


def create_project_in_settings(app, name: str, labels: str) -> None:
    app.open("Settings")
    page = app.page
    page.get_by_text("New project", exact=True).click()
    page.get_by_label("Project name").fill(name)
    page.get_by_label("Labels (comma-separated)").fill(labels)
    page.get_by_role("button", name="Create project").click()
    app.wait_for_run()
    app.screenshot("settings-project-created")


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
