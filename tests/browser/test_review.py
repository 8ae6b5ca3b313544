"""Review in real Chromium (team mode): annotators correct their assigned documents, one with an
overlap; a reviewer adjudicates the two corrections side by side and reads the agreement table,
the names (markdown in one) shown as text; training then uses the adjudicated gold."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import browse, serve
from tests.browser.steps import EDITOR, accept, editor, shown_spans, unit

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
BOLD_NAME = "**ben**"
TEXTS = ("Alice lives in Paris today .", "Carol visited Rome last week .", "Dave met Erin in Oslo .")


@pytest.fixture(scope="module")
def review_home(tmp_path_factory):
    """A project of three documents and a team: a reviewer and three annotators (one with a
    markdown name); the first document goes to ann and ben, the others to one annotator each."""
    from services import Services

    home = tmp_path_factory.mktemp("seqlab-review").resolve()
    svc = Services(f"sqlite:///{home / 'seqlab.db'}")
    try:
        project = svc.create_project("Team NER", ["PER", "LOC"])
        svc.ensure_default_project()
        for text in TEXTS:
            svc.save_for_correction(project.id, text)
        for name, role in (("rev", "reviewer"), ("ann", "annotator"), (BOLD_NAME, "annotator"),
                           ("cat", "annotator")):
            svc.add_account(name, role, PASSWORD)
            svc.add_member(project.id, name)
        docs = sorted(int(i) for i in svc.documents_frame(project.id)["id"])
        svc.assign(docs[0], ["ann", BOLD_NAME])
        svc.assign(docs[1], ["cat"])
        svc.assign(docs[2], [BOLD_NAME])
    finally:
        svc.close()
    return home


@pytest.fixture(scope="module")
def review_server(review_home):
    yield from serve(review_home, SEQLAB_AUTH="on")


@pytest.fixture()
def team(request, chromium, review_server):
    yield from browse(request, chromium, review_server)


def signed_in(app, name: str, project: str = "Team NER") -> None:
    page = app.page
    page.goto(app.url)
    page.locator("[data-testid='stAppViewContainer']").wait_for(state="attached")
    app.wait_for_run()
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    app.wait_for_run()
    picker = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has_text="Project")
    if project not in picker.inner_text():
        picker.click()
        page.get_by_role("option", name=project).click()
        app.wait_for_run()


def label_word(app, word: str, key: str) -> None:
    unit(app.page, word).dblclick()
    app.page.keyboard.press(key)


def test_two_annotators_correct_a_shared_document_and_a_reviewer_adjudicates(team, review_home):
    from services import Services

    page = team.page
    signed_in(team, "ann")
    team.go("Annotate")
    expect(page.get_by_text("0 of 1 document assigned to you corrected")).to_be_visible()
    editor(page)
    expect(unit(page, "Alice")).to_be_visible()
    label_word(team, "Alice", "1")
    label_word(team, "Paris", "2")
    assert shown_spans(page) == [("Alice", "PER"), ("Paris", "LOC")]
    accept(team)
    expect(page.get_by_text("Nothing assigned to you is left to correct")).to_be_visible()

    signed_in(team, BOLD_NAME)
    team.go("Annotate")
    expect(page.get_by_text("0 of 2 documents assigned to you corrected")).to_be_visible()
    label_word(team, "Alice", "1")
    label_word(team, "Paris", "1")  # ben disagrees: Paris as a person
    accept(team)
    expect(page.get_by_text("1 of 2 documents assigned to you corrected")).to_be_visible()

    svc = Services(f"sqlite:///{review_home / 'seqlab.db'}")
    try:
        project = svc.project("Team NER")
        first = min(int(i) for i in svc.documents_frame(project.id)["id"])
        assert svc.document(first).status in ("new", "predicted")  # the gold waits for review
        assert first not in svc.training_documents(project.id).train_ids + svc.training_documents(project.id).dev_ids

        signed_in(team, "rev")
        team.go("Review")
        main = page.get_by_test_id("stMain")
        heads = main.get_by_test_id("stHorizontalBlock").locator("strong")
        expect(heads.filter(has_text=re.compile("^ann$"))).to_be_visible()
        expect(heads.filter(has_text=re.compile(f"^{re.escape(BOLD_NAME)}$"))).to_be_visible()  # as typed
        expect(main.get_by_text("“Paris” [15, 20) LOC: ann only")).to_be_visible()
        expect(main.get_by_text(f"“Paris” [15, 20) PER: {BOLD_NAME} only")).to_be_visible()
        table = main.get_by_test_id("stDataFrame")
        expect(table).to_be_visible()
        team.screenshot("review")
        page.get_by_role("button", name="Adopt ann's").click()
        team.wait_for_run()
        expect(main.get_by_text(f"Document #{first}: ann's correction is now its gold.")).to_be_visible()
        gold = svc.document(first)
        assert gold.status == "reviewed" and [(gold.text[s.start:s.end], s.label) for s in gold.spans] == \
            [("Alice", "PER"), ("Paris", "LOC")]
        assert svc.history(first)[-1].annotator == "rev"
        data = svc.training_documents(project.id)
        assert first in data.train_ids + data.dev_ids
        expect(main.get_by_text("Krippendorff's alpha")).to_be_visible()
    finally:
        svc.close()


def test_a_reviewer_merges_two_corrections_in_the_editor_and_reads_the_agreement(team, review_home):
    from services import Services
    from tagger.spans import Span

    text = "Frank flew to Lima with Gina ."
    svc = Services(f"sqlite:///{review_home / 'seqlab.db'}")
    try:
        project = svc.project("Team NER")
        doc = svc.save_for_correction(project.id, text)
        svc.assign(doc.id, ["cat", "ann"])
        frank, lima, gina = Span(0, 5, "PER"), Span(14, 18, "LOC"), Span(24, 28, "PER")
        svc.submit_annotation(doc.id, [frank, lima], annotator="cat")  # misses Gina
        svc.submit_annotation(doc.id, [frank, Span(14, 18, "PER")], annotator="ann")  # Lima as a person
        page = team.page
        signed_in(team, "rev")
        team.go("Review")
        main = page.get_by_test_id("stMain")
        expect(page.get_by_role("combobox", name="Document", exact=True).first).to_have_value(
            f"#{doc.id} · cat, ann · differ · {text}")
        expect(page.get_by_role("button", name="Adopt cat's")).to_be_visible()
        editor(page)  # the merge editor starts from the first correction: cat's
        assert shown_spans(page) == [("Frank", "PER"), ("Lima", "LOC")]
        label_word(team, "Gina", "1")
        assert shown_spans(page) == [("Frank", "PER"), ("Lima", "LOC"), ("Gina", "PER")]
        accept(team)
        expect(main.get_by_text(f"Document #{doc.id}: the merged version is now its gold.")).to_be_visible()
        gold = svc.document(doc.id)
        assert gold.status == "reviewed" and gold.spans == (frank, lima, gina)
        assert svc.adjudications(doc.id)[-1].adopted_from is None
        table = main.get_by_test_id("stDataFrame")
        expect(table).to_be_visible()
        expect(main.get_by_text("Krippendorff's alpha")).to_be_visible()
        figure = page.get_by_role("combobox", name="Disagreeing documents of")
        expect(figure).to_have_value("every pair · LOC")  # Paris and Lima: LOC against PER
        picked = page.get_by_role("combobox", name="Document", exact=True).nth(1).input_value()  # a disagreeing document
        page.get_by_role("button", name="Open it to adjudicate").click()
        team.wait_for_run()
        chosen = page.get_by_role("combobox", name="Document", exact=True).first
        expect(chosen).to_have_value(re.compile(f"^{re.escape(picked)} · "))
        team.screenshot("review-agreement")
    finally:
        svc.close()


def test_an_srl_team_corrects_frames_and_a_reviewer_adopts_one(team, review_home):
    """A frames project: ben changes a role in frame mode on a document shared with ann; the
    reviewer sees both people's frames and the difference under its predicate, merges them
    predicate by predicate, then adopts ben's whole."""
    from db import repo
    from db.session import write_session
    from services import Services
    from tagger.spans import Frame, Span

    text = "Hana said Ivan visited Kyoto"
    said, visited = Span(5, 9, "say.01"), Span(15, 22, "visit.01")
    model = (Frame(said, (Span(0, 4, "ARG0"),)), Frame(visited, (Span(10, 14, "ARG0"), Span(23, 28, "ARG1"))))
    svc = Services(f"sqlite:///{review_home / 'seqlab.db'}")
    try:
        project = svc.create_project("Team SRL", ["ARG0", "ARG1"], task_kind="frames")
        for name in ("rev", "ann", BOLD_NAME):
            svc.add_member(project.id, name)
        doc = svc.save_for_correction(project.id, text)
        with write_session(svc.factory) as s:
            repo.save_frames(s, doc.id, model, annotator="model", source="model", status="predicted")
        svc.assign(doc.id, ["ann", BOLD_NAME])
        svc.submit_frames_annotation(doc.id, model, annotator="ann")
        shortcut = {label.name: label.shortcut for label in svc.project("Team SRL").labels}

        page = team.page
        signed_in(team, BOLD_NAME, project="Team SRL")
        team.go("Annotate")
        rows = page.locator(EDITOR)
        expect(rows).to_have_count(2)
        second = rows.nth(1)  # "visited": Kyoto becomes its ARG0 for ben
        mark = second.locator("mark.seqlab-entity").filter(has_text="Kyoto")
        mark.click()
        second.locator(".seqlab-text").press(shortcut["ARG0"])
        expect(mark).to_have_attribute("data-label", "ARG0")
        second.get_by_role("button", name="Accept").click()
        team.wait_for_run()
        mine = {a.annotator: a.frames for a in svc.annotations_of(doc.id)}
        assert mine[BOLD_NAME][1].arguments == (Span(10, 14, "ARG0"), Span(23, 28, "ARG0"))
        assert svc.document(doc.id).frames == model  # shared: the gold waits for the reviewer

        signed_in(team, "rev", project="Team SRL")
        team.go("Review")
        main = page.get_by_test_id("stMain")
        expect(main.locator(".seqlab-frames .seqlab-frame")).to_have_count(6)  # ann, ben, the gold: 2 rows each
        expect(main.get_by_text("“Kyoto” [23, 28) ARG0 of “visited”: " + BOLD_NAME + " only")).to_be_visible()
        expect(main.get_by_text("“Kyoto” [23, 28) ARG1 of “visited”: ann only")).to_be_visible()
        expect(main.get_by_test_id("stDataFrame")).to_be_visible()
        # the merge, predicate by predicate: "said" left out, ben's frame of "visited"
        for predicate, whose in (("said", "(leave it out)"), ("visited", BOLD_NAME)):
            main.get_by_test_id("stSelectbox").filter(has_text=f"“{predicate}”").click()
            page.get_by_role("option", name=whose, exact=True).click()
            team.wait_for_run()
        team.screenshot("review-frames")
        page.get_by_role("button", name="Save the merge as gold").click()
        team.wait_for_run()
        expect(main.get_by_text(f"Document #{doc.id}: the merged frames (1 predicate) are now its gold.")).to_be_visible()
        assert svc.document(doc.id).frames == (mine[BOLD_NAME][1],)
        page.get_by_role("button", name=f"Adopt {BOLD_NAME}'s").click()
        team.wait_for_run()
        expect(main.get_by_text(f"Document #{doc.id}: {BOLD_NAME}'s frames are now its gold.")).to_be_visible()
        gold = svc.document(doc.id)
        assert gold.status == "reviewed" and gold.frames == mine[BOLD_NAME]
    finally:
        svc.close()
