"""A newcomer's first hour in real Chromium: a new project, patterns that suggest spans before any
model, a WNUT-style file whose labels the project lacks (added in the import step), one click of
training, then the queue asking for what the new model is least sure of."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.steps import accept, editor, shown_spans, start_training, unfocus
from tests.browser.test_concurrency import eventually
from tests.browser.test_loop import TRAIN_OPTIONS, training_records, watch_training

pytestmark = pytest.mark.browser

NAME = "Newcomer"
# the labels of the WNUT-style file: the project starts without them
WNUT_LABELS = {"PER": "person", "LOC": "location", "ORG": "corporation"}
WAITING = ["Bob joined Acme Corp in Paris .", "Zoe visited Globex in Lima .", "The weather was fine ."]


def wnut_file(records: list[dict]) -> bytes:
    """The records as a WNUT-17 style column file: ``token<TAB>tag``, lower-case label names."""
    lines = []
    for r in records:
        spans = sorted((s["start"], s["end"], WNUT_LABELS[s["label"]]) for s in r["spans"])
        at = 0
        for token in r["text"].split(" "):
            start = r["text"].index(token, at)
            at = start + len(token)
            tag = "O"
            for a, b, label in spans:
                if a <= start < b:
                    tag = ("B-" if start == a else "I-") + label
            lines.append(f"{token}\t{tag}")
        lines.append("")
    return ("\n".join(lines) + "\n").encode()


def test_patterns_suggest_before_a_model_then_training_ranks_the_queue(app, services, tiny_base):
    page = app.page
    app.open("Settings")

    # A new project, made on the page.
    page.get_by_text("New project", exact=True).click()
    page.get_by_label("Project name").fill(NAME)
    page.get_by_label("Labels (comma-separated)").fill("MISC")
    page.get_by_role("button", name="Create project").click()
    app.wait_for_run()
    project = services.project(NAME)
    services.update_project(project.id, base_model=tiny_base, auto_activate=True)  # the tiny test BERT
    app.go("Settings")  # the page chose the new project when it made it
    # on a loaded machine the rerun's old elements (the first project's settings) can linger a
    # moment, even beside the new ones: wait for the new project's field alone
    fields = page.get_by_label("Name", exact=True)
    eventually(lambda: fields.evaluate_all("els => els.map(e => e.value)") == [NAME])

    # A pattern, added on the page: a term for the only label there is.
    page.get_by_label("Term or expression").fill("Acme Corp")
    page.get_by_role("button", name="Add pattern").click()
    app.wait_for_run()  # (its toast lasts 4 s: on a loaded machine it can be gone before a check, so none)
    eventually(lambda: [(p.label, p.pattern) for p in services.patterns(project.id)] == [("MISC", "Acme Corp")])

    # Texts to annotate, then Annotate: the pattern's match is pre-filled and drawn as a pattern's.
    app.go("Data")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": "waiting.txt", "mimeType": "text/plain", "buffer": ("\n".join(WAITING) + "\n").encode()}])
    app.wait_for_run()
    page.get_by_role("button", name="Import", exact=True).click()
    app.wait_for_run()
    expect(page.get_by_text("Imported 3 documents")).to_be_visible()
    app.go("Annotate")
    expect(page.get_by_text("suggestions from your patterns (no model yet)")).to_be_visible()
    expect(editor(page).locator("mark.seqlab-entity.seqlab-pattern", has_text="Acme Corp")).to_have_count(1)
    assert shown_spans(page) == [("Acme Corp", "MISC")]
    app.screenshot("annotate-patterns")
    accept(app)
    first = services.documents_frame(project.id, status="corrected")
    assert services.document(int(first["id"][0])).text == WAITING[0]

    # A labelled file whose labels the project does not have: offered, added, imported in one step.
    records = training_records()
    app.go("Data")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": "wnut17train.conll", "mimeType": "text/plain", "buffer": wnut_file(records)}])
    app.wait_for_run()
    expect(page.get_by_text("This file uses 3 labels that Newcomer does not have:")).to_be_visible()
    page.get_by_role("button", name="Add 3 labels and import").click()
    app.wait_for_run()
    expect(page.get_by_text(f"Imported {len(records)} documents")).to_be_visible()
    expect(page.get_by_text("added the labels")).to_be_visible()
    assert set(services.project(project.id).label_names) == {"MISC", *WNUT_LABELS.values()}

    # One click of training; the worker activates the version and ranks the queue after the job.
    app.go("Train")
    start_training(app, TRAIN_OPTIONS)
    watch_training(app)
    job = services.jobs(project.id)[0]
    assert job.state == "succeeded", job.message
    version = services.active_version(project.id)
    assert version is not None and version.job_id == job.id

    # Annotate: the next document is the one the model is least sure of, and the page says why.
    for _ in range(120):  # the worker ranks between jobs: a moment after the job's end
        reason = services.queue_reason(services.next_document(project.id).id)
        if reason is not None:
            break
        page.wait_for_timeout(500)
    else:
        pytest.fail("the worker did not rank the queue within 60 s of the job")
    assert reason.ranked == len(WAITING) - 1 and reason.rank == 0
    app.go("Annotate")
    unfocus(page)
    expect(page.get_by_text("Next because the model is unsure of it")).to_be_visible()
    expect(page.get_by_text(f"number 1 of the {reason.ranked} it ranked")).to_be_visible()
    doc_id = int(page.locator(".seqlab-editor.seqlab-editable").get_attribute("data-doc"))
    assert services.queue_reason(doc_id).rank == 0
