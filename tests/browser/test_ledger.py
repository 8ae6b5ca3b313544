"""The correction ledger and the error cells in real Chromium: an entry of the Models page opens
its sentence in Annotate, on the stored correction."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from db import ledger
from db.session import write_session
from services import ledger as ledger_service
from tagger.spans import Span
from tests.browser.steps import choose_project, editor, jsonl_bytes, shown_spans
from tests.browser.test_journeys import UPLOAD

pytestmark = pytest.mark.browser


class Fake:
    def __init__(self, answers):
        self.answers = answers

    def predict(self, texts):
        return [list(self.answers.get(t, [])) for t in texts]


@pytest.fixture(scope="module")
def ledger_project(services, trained_dir, trained_softmax_dir):
    """A project whose v2 regressed on "Alice went to Paris ." (v1 had it right, v2 calls Alice an ORG)."""
    project = services.create_project("Ledger journey", ["PER", "LOC"])
    records = [{**r, "split": "dev"} for r in UPLOAD]
    services.import_file(project.id, "gold.jsonl", jsonl_bytes(records))
    v1 = services.register_version(project.id, trained_dir, activate=True)
    v2 = services.register_version(project.id, trained_softmax_dir)
    gold = {r["text"]: [Span(s["start"], s["end"], s["label"]) for s in r["spans"]] for r in UPLOAD}
    broken = [Span(0, 5, "ORG"), *gold[UPLOAD[0]["text"]][1:]]
    ledger_service.score_version(services.factory, project.id, v2.id,
                                 Fake({**gold, UPLOAD[0]["text"]: broken}), Fake(gold))
    with write_session(services.factory) as s:
        ledger.save_summary(s, v2.id, v1.id)
        [entry] = ledger.entries(s, v2.id, "regressed")
    return project, entry.document_id


def open_version(app, project_name: str, version: str) -> None:
    app.open("Models")
    choose_project(app, project_name)
    page = app.page
    page.get_by_test_id("stMain").get_by_test_id("stSelectbox").filter(has_text="Version").first.click()
    page.get_by_role("option", name=version, exact=True).click()
    app.wait_for_run()


def opens_in_annotate(app, doc_id: int) -> None:
    page = app.page
    page.get_by_role("button", name=f"Open #{doc_id} in Annotate").first.click()
    app.wait_for_run()
    expect(page.get_by_role("heading", name="Annotate")).to_be_visible()
    # the stored version, or the draft the editor kept of it when an earlier journey left the page
    expect(page.get_by_text(f"Document #{doc_id} · split dev · ")).to_be_visible()
    assert sorted(shown_spans(page)) == [("Alice", "PER"), ("Paris", "LOC")]  # the correction, not a model's guess
    editor(page)


def test_a_regressed_correction_opens_in_annotate(app, ledger_project):
    project, doc_id = ledger_project
    open_version(app, project.name, "v2")
    page = app.page
    expect(page.get_by_text("regressed (1)")).to_be_visible()
    app.screenshot("models-ledger")

    opens_in_annotate(app, doc_id)
    app.screenshot("annotate-from-ledger")


def test_a_confusion_cell_lists_its_sentence_and_opens_it_in_annotate(app, ledger_project):
    project, doc_id = ledger_project
    open_version(app, project.name, "v2")
    page = app.page
    page.get_by_test_id("stHorizontalBlock").filter(has_text="wrong label").get_by_role(
        "button", name="wrong label: 1").click()
    app.wait_for_run()
    expect(page.get_by_text("wrong label: 1 document", exact=True)).to_be_visible()
    app.screenshot("models-error-cell")

    opens_in_annotate(app, doc_id)
