"""The annotation loop in real Chromium: tag a text, correct it, export and re-import it; import
labelled data, train in the background worker, activate the version, tag with it.

These journeys also take the README's screenshots (tag, annotate, data, train, models, settings).
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from tagger.formats import read_jsonl
from tests.browser.steps import (accept, choose_project, download, editor, grid_cells, jsonl_bytes, spans_by_text,
                                 start_training, tag, unit, upload_and_import)
from tests.conftest import make_corpus

pytestmark = pytest.mark.browser

LABELS = ["PER", "LOC", "ORG"]  # created in this order: shortcuts 1, 2, 3
# The tiny model of tests/conftest.py suggests Alice (PER) and Acme Corp (ORG); it never saw Zoe
# or Tokyo.
TEXT = "Alice met Zoe at Acme Corp in Tokyo ."
# Advanced options of the Train page: enough for the tiny BERT to learn the templated sentences
# and to run for a few seconds, so the progress bar is seen moving.
TRAIN_OPTIONS = {"Epochs": "6", "Batch size": "8", "Learning rate": "0.003"}
TRAINING_S = 120
STEP = re.compile(r"step (\d+) / (\d+|\?)")


def at(text: str, part: str) -> tuple[int, int]:
    start = text.index(part)
    return start, start + len(part)


def marks(page: Page, text: str, label: str | None = None):
    """The highlighted entities showing ``text`` (with ``label``, if given)."""
    selector = ".seqlab-text mark.seqlab-entity" + (f'[data-label="{label}"]' if label else "")
    return page.locator(selector, has_text=text)


def test_a_tagged_text_is_corrected_on_annotate_then_exported_and_reimported(app, services, trained_dir):
    name = "Correction loop"
    project = services.create_project(name, LABELS)
    services.register_version(project.id, trained_dir, activate=True)
    page = app.page

    # Tag: the model's entities are highlighted; the text goes to the correction queue.
    app.open("Tag")
    choose_project(app, name)
    tag(app, TEXT)
    expect(marks(page, "Alice", "PER")).to_have_count(1)
    app.screenshot("tag")
    page.get_by_role("button", name="Save for correction").click()
    app.wait_for_run()
    expect(page.get_by_text("it is in the Annotate queue")).to_be_visible()
    doc = services.next_document(project.id)
    suggested = {(TEXT[s.start:s.end], s.label) for s in doc.spans}
    assert doc.text == TEXT and {("Alice", "PER"), ("Acme Corp", "ORG")} <= suggested, suggested

    # Annotate, in the same session (the project stays chosen): the saved text is the one shown.
    app.go("Annotate")
    expect(page.get_by_text(f"Document #{doc.id} ·")).to_be_visible()
    expect(marks(page, "Acme Corp", "ORG")).to_have_count(1)
    work = {(s.start, s.end): s.label for s in doc.spans}  # what the page should hold, edit by edit

    editor(page)
    unit(page, "Tokyo").dblclick()  # add a span: double-click a word, then its label's key
    page.keyboard.press("2")
    expect(marks(page, "Tokyo", "LOC")).to_have_count(1)
    work[at(TEXT, "Tokyo")] = "LOC"

    unit(page, "Zoe").click()  # add a span with the label's chip
    editor(page).locator(".seqlab-chip", has_text="PER").click()
    expect(marks(page, "Zoe", "PER")).to_have_count(1)
    work[at(TEXT, "Zoe")] = "PER"

    marks(page, "Alice").click()  # select a span, delete it
    page.keyboard.press("Delete")
    expect(marks(page, "Alice")).to_have_count(0)
    del work[at(TEXT, "Alice")]

    marks(page, "Acme Corp").click()  # relabel ORG -> LOC by key
    page.keyboard.press("2")
    expect(marks(page, "Acme Corp", "LOC")).to_have_count(1)
    work[at(TEXT, "Acme Corp")] = "LOC"
    page.keyboard.press("Escape")  # no selection outline in the picture
    app.screenshot("annotate")

    accept(app)
    expect(page.get_by_text("Nothing left to correct in this project")).to_be_visible()
    made = sorted((start, end, label) for (start, end), label in work.items())
    accepted = services.document(doc.id)
    assert accepted.status == "corrected"
    assert [(s.start, s.end, s.label) for s in accepted.spans] == made
    assert set(accepted.sources) == {"human"}
    assert services.history(doc.id)[-1].annotator == "you"

    # Data: both exports hold the correction; the JSONL goes into a new project through the upload.
    copy = services.create_project(f"{name} copy", LABELS)  # before the page run lists the projects
    app.go("Data")
    exported = download(app, "Download JSONL")
    assert spans_by_text(exported) == {TEXT: made}
    column = [line.split() for line in download(app, "Download column file").splitlines() if line.strip()]
    assert column == [["Alice", "O"], ["met", "O"], ["Zoe", "B-PER"], ["at", "O"], ["Acme", "B-LOC"],
                      ["Corp", "I-LOC"], ["in", "O"], ["Tokyo", "B-LOC"], [".", "O"]]
    choose_project(app, copy.name)
    upload_and_import(app, "correction_loop.jsonl", exported.encode(), documents=1)
    assert read_jsonl(services.export_jsonl(copy.id)) == read_jsonl(services.export_jsonl(project.id))

    app.go("Settings")
    choose_project(app, name)
    expect(page.get_by_label("Name", exact=True)).to_have_value(name)
    expect(page.get_by_test_id("stToast")).to_have_count(0)  # "Saved document #..." lasts 4 s
    app.screenshot("settings")


def training_records(n: int = 200, seed: int = 11) -> list[dict]:
    """``n`` labelled templated sentences as JSONL records (no text twice); every fifth is dev."""
    records, seen = [], set()
    for ex in make_corpus(3 * n, seed=seed):
        if ex.text not in seen and len(records) < n:
            seen.add(ex.text)
            records.append({"text": ex.text, "split": "dev" if len(records) % 5 == 4 else "train",
                            "spans": [{"start": s.start, "end": s.end, "label": s.label} for s in ex.spans]})
    return records


def watch_training(app) -> list[str]:
    """Read the Train page's progress bar until the job's outcome shows; the distinct "step k / n"
    texts seen. The picture "train" is taken at the first step past 0 and again a third of the
    way through (the bar and the loss chart show more by then), if the page shows that step."""
    page = app.page
    bar = page.get_by_test_id("stProgress")
    outcome = page.get_by_text(re.compile(r"Job #\d+(: .* See the Models page| failed)"))
    seen: list[str] = []
    pictures = 0
    deadline = time.monotonic() + TRAINING_S
    while not outcome.count():
        if time.monotonic() > deadline:
            pytest.fail(f"no outcome of the training job after {TRAINING_S} s; progress seen: {seen}")
        try:
            found = STEP.search(bar.inner_text(timeout=1_000)) if bar.count() else None
        except PlaywrightError:  # the fragment redrew the bar between count() and inner_text()
            found = None
        if found and found.group(0) not in seen:
            seen.append(found.group(0))
            step, total = int(found.group(1)), found.group(2)
            if step and (not pictures or pictures == 1 and total.isdigit() and 3 * step >= int(total)):
                app.screenshot("train")
                pictures += 1
        page.wait_for_timeout(200)
    return seen


def test_training_on_imported_data_gives_a_version_that_tags_once_activated(app, services, tiny_base):
    name = "Training loop"
    project = services.create_project(name, LABELS, base_model=tiny_base)
    services.update_project(project.id, auto_activate=False)  # so that Models offers "Activate"
    records = training_records()
    train_docs = sum(r["split"] == "train" for r in records)
    page = app.page

    app.open("Data")
    choose_project(app, name)
    upload_and_import(app, "training.jsonl", jsonl_bytes(records), documents=len(records))
    app.screenshot("data")

    app.go("Train")
    expect(page.get_by_text(f"Training data: {train_docs} corrected train documents")).to_be_visible()
    expect(page.get_by_text(f"evaluated on {len(records) - train_docs} dev documents")).to_be_visible()
    start_training(app, TRAIN_OPTIONS)
    seen = watch_training(app)

    job = services.jobs(project.id)[0]
    assert job.state == "succeeded", job.message
    # "Start from" left at its default (the active version, else the base model) sends no option
    assert job.config == {"epochs": 6, "batch_size": 8, "lr": pytest.approx(0.003)}
    assert job.started_at is not None and job.loss_history and job.step == job.total > 0
    # The bar moved on the page: at least two different steps while the job ran (the first of
    # them is in the picture "train").
    running = [s for s in seen if not s.startswith("step 0 ")]
    assert len(running) >= 2, f"progress seen on the page: {seen}"
    history = grid_cells(page.get_by_test_id("stDataFrame"))
    expect(history.nth(0)).to_have_text(str(job.id))
    expect(history.nth(1)).to_have_text("succeeded")

    # Models: the new version's dev F1 as the services have it; not active until activated.
    version = services.versions(project.id)[0]
    assert version.job_id == job.id and not version.active and version.f1 is not None
    app.go("Models")
    row = grid_cells(page.get_by_test_id("stDataFrame").first)  # version, active, dev F1, ...
    expect(row.nth(0)).to_have_text(version.name)
    expect(row.nth(1)).to_have_text("")
    assert float(row.nth(2).inner_text()) == pytest.approx(version.f1, abs=1e-4)
    page.get_by_role("button", name=f"Activate {version.name}").click()
    app.wait_for_run()
    expect(page.get_by_text(f"{version.name} is now active")).to_be_visible()
    assert services.active_version(project.id).id == version.id
    expect(row.nth(1)).to_have_text("✓")
    app.screenshot("models")

    # Tag: predictions come from the version just activated, without a restart.
    app.go("Tag")
    tag(app, "Alice went to Paris .")
    expect(page.get_by_text(f"Predictions from model version {version.name}, dev F1 {version.f1:.3f}.")).to_be_visible()
    expect(marks(page, "Alice", "PER")).to_have_count(1)
    expect(marks(page, "Paris", "LOC")).to_have_count(1)
