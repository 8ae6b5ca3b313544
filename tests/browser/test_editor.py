"""The Annotate page's span editor in real Chromium against ``streamlit run``: every way of editing,
what Accept stores, drafts across a reload, exact offsets for emoji and CJK, a 10,000-word
document, two tabs on one document; and editor.js's edit rules against ui/editor/model.py's."""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tagger.formats import read_jsonl
from tagger.spans import Span
from tests.browser.conftest import App, new_context
from tests.browser.steps import accept, choose_project, drag, editor, shown_spans, unit
from ui.editor import model

pytestmark = pytest.mark.browser

EDITOR_JS = Path(__file__).resolve().parents[2] / "ui" / "editor" / "editor.js"
LABELS = ["PER", "ORG", "LOC"]  # keys 1, 2, 3
DRAFT_S = 15  # the draft is sent 2 s after the last edit; then one rerun on a busy machine


def open_document(app, services, name: str, text: str, labels=LABELS, spans=()):
    """A new project whose queue holds ``text`` (with suggested ``spans``), open on Annotate."""
    project = services.create_project(name, list(labels))
    doc = services.save_for_correction(project.id, text, spans)
    app.open("Annotate")
    choose_project(app, name)
    expect(app.page.get_by_text(f"Document #{doc.id} ·")).to_be_visible()
    editor(app.page)
    return project, doc


def stored(services, doc_id: int) -> list[tuple[str, str]]:
    doc = services.document(doc_id)
    return [(doc.text[s.start:s.end], s.label) for s in doc.spans]


def wait_for_draft(services, doc_id: int, annotator: str = "you"):
    deadline = time.monotonic() + DRAFT_S
    while (draft := services.draft(doc_id, annotator)) is None:
        if time.monotonic() > deadline:
            pytest.fail(f"no draft of document #{doc_id} stored {DRAFT_S} s after the edit")
        time.sleep(0.25)
    return draft


def test_a_drag_across_words_and_a_label_key_make_one_span(app, services):
    _, doc = open_document(app, services, "Drag", "He joined the United Nations today .")
    page = app.page
    drag(page, unit(page, "United"), unit(page, "Nations"))
    page.keyboard.press("2")
    assert shown_spans(page) == [("United Nations", "ORG")]
    accept(app)
    assert stored(services, doc.id) == [("United Nations", "ORG")]


def test_a_double_click_on_a_word_and_the_labels_key_make_that_word_a_span(app, services):
    _, doc = open_document(app, services, "Double click", "Alice met Bob in Paris .")
    page = app.page
    unit(page, "Paris").dblclick()
    page.keyboard.press("3")
    expect(page.locator('mark.seqlab-entity[data-label="LOC"]', has_text="Paris")).to_have_count(1)
    unit(page, "Alice").click()
    page.keyboard.press("Shift+ArrowRight")  # shift+arrow extends the selection one unit
    editor(page).locator(".seqlab-chip", has_text="PER").click()  # a label's chip works like its key
    assert shown_spans(page) == [("Alice met", "PER"), ("Paris", "LOC")]


def test_a_shift_click_extends_the_selection_and_a_new_span_replaces_those_it_overlaps(app, services):
    text = "He joined the United Nations today ."
    start = len("He joined the ")
    _, doc = open_document(app, services, "Replace", text, spans=[Span(start + len("United "), start + len("United Nations"), "LOC")])
    page = app.page
    assert shown_spans(page) == [("Nations", "LOC")]
    unit(page, "United").click()
    unit(page, "Nations").click(modifiers=["Shift"])
    page.keyboard.press("2")
    assert shown_spans(page) == [("United Nations", "ORG")]


def test_a_clicked_span_is_relabelled_by_key_and_removed_by_delete(app, services):
    _, doc = open_document(app, services, "Relabel", "Alice met Bob in Paris .",
                           spans=[Span(0, 5, "PER"), Span(10, 13, "ORG")])
    page = app.page
    page.locator("mark.seqlab-entity", has_text="Bob").click()
    page.keyboard.press("1")
    assert shown_spans(page) == [("Alice", "PER"), ("Bob", "PER")]
    page.locator("mark.seqlab-entity", has_text="Alice").click()
    page.keyboard.press("Delete")
    assert shown_spans(page) == [("Bob", "PER")]
    page.locator("mark.seqlab-entity", has_text="Bob").click()
    page.keyboard.press("Backspace")
    assert shown_spans(page) == []


def test_shift_and_alt_arrows_resize_a_span_never_past_its_neighbour_or_to_nothing(app, services):
    text = "Bank of New York Mellon hired Ann Lee ."
    _, doc = open_document(app, services, "Resize", text,
                           spans=[Span(0, 4, "ORG"), Span(len("Bank of New York Mellon hired "), len(text) - 2, "PER")])
    page = app.page
    page.locator("mark.seqlab-entity", has_text="Bank").click()
    for _ in range(4):
        page.keyboard.press("Shift+ArrowRight")  # the end, one unit at a time
    assert shown_spans(page)[0] == ("Bank of New York Mellon", "ORG")
    for _ in range(3):
        page.keyboard.press("Shift+ArrowRight")  # "hired" is free, "Ann" belongs to PER: stops there
    assert shown_spans(page)[0] == ("Bank of New York Mellon hired", "ORG")
    for _ in range(9):
        page.keyboard.press("Shift+ArrowLeft")  # never empty
    assert shown_spans(page)[0] == ("Bank", "ORG")
    page.keyboard.press("ArrowRight")  # the next span
    page.keyboard.press("Alt+ArrowLeft")  # its start: "hired"
    page.keyboard.press("Alt+ArrowLeft")  # "Mellon" (free since ORG shrank back to "Bank")
    assert shown_spans(page)[1] == ("Mellon hired Ann Lee", "PER")
    page.keyboard.press("Alt+ArrowRight")
    page.keyboard.press("Alt+ArrowRight")
    page.keyboard.press("Alt+ArrowRight")
    page.keyboard.press("Alt+ArrowRight")  # never empty
    assert shown_spans(page)[1] == ("Lee", "PER")
    accept(app)
    assert stored(services, doc.id) == [("Bank", "ORG"), ("Lee", "PER")]


def test_undo_and_redo_take_back_and_replay_edits(app, services):
    _, doc = open_document(app, services, "Undo", "Alice met Bob in Paris .", spans=[Span(0, 5, "PER")])
    page = app.page
    unit(page, "Paris").dblclick()
    page.keyboard.press("3")
    page.locator("mark.seqlab-entity", has_text="Alice").click()
    page.keyboard.press("Delete")
    assert shown_spans(page) == [("Paris", "LOC")]
    page.keyboard.press("Control+z")
    assert shown_spans(page) == [("Alice", "PER"), ("Paris", "LOC")]
    page.keyboard.press("Control+z")
    assert shown_spans(page) == [("Alice", "PER")]
    page.keyboard.press("Control+Shift+z")
    assert shown_spans(page) == [("Alice", "PER"), ("Paris", "LOC")]
    editor(page).get_by_role("button", name="Undo").click()
    assert shown_spans(page) == [("Alice", "PER")]


def test_keyboard_alone_annotates_a_document_from_start_to_accept(app, services):
    _, doc = open_document(app, services, "Keyboard", "Ann Lee met Bob in Paris .",
                           spans=[Span(len("Ann Lee met "), len("Ann Lee met Bob"), "ORG")])
    page = app.page
    text = editor(page).locator(".seqlab-text")
    text.focus()
    expect(text).to_be_focused()
    page.keyboard.press("ArrowRight")  # nothing selected: the first span
    page.keyboard.press("1")  # relabel Bob
    page.keyboard.press("Escape")
    page.keyboard.press("Shift+ArrowRight")  # a unit selection at the caret (Bob)
    page.keyboard.press("ArrowRight")  # walk unit by unit: "in"
    page.keyboard.press("ArrowRight")  # "Paris"
    page.keyboard.press("3")
    page.keyboard.press("Home")  # the first unit
    page.keyboard.press("Shift+ArrowRight")  # Ann Lee
    page.keyboard.press("1")
    assert shown_spans(page) == [("Ann Lee", "PER"), ("Bob", "PER"), ("Paris", "LOC")]
    page.keyboard.press("Control+Enter")
    app.wait_for_run()
    expect(page.get_by_text("Nothing left to correct in this project")).to_be_visible()
    assert stored(services, doc.id) == [("Ann Lee", "PER"), ("Bob", "PER"), ("Paris", "LOC")]


def test_accept_stores_exactly_what_the_editor_shows(app, services):
    text = "Dr. Ann-Marie O'Neil (ACME Corp.) met Bob"
    _, doc = open_document(app, services, "Exact", text)
    page = app.page
    drag(page, unit(page, "Ann"), unit(page, "Neil"))  # "Ann", "-", "Marie", "O", "'", "Neil"
    page.keyboard.press("1")
    drag(page, unit(page, "ACME"), unit(page, "Corp"))
    page.keyboard.press("2")
    unit(page, "Bob").dblclick()
    page.keyboard.press("1")
    shown = shown_spans(page)
    accept(app)
    assert stored(services, doc.id) == shown


def test_a_reload_restores_the_draft_marked_as_a_draft(app, services):
    _, doc = open_document(app, services, "Draft", "Alice met Bob in Paris .")
    page = app.page
    unit(page, "Paris").dblclick()
    page.keyboard.press("3")
    draft = wait_for_draft(services, doc.id)
    assert [(doc.text[s.start:s.end], s.label) for s in draft.spans] == [("Paris", "LOC")]
    page.reload()
    app.wait_for_run()
    expect(page.get_by_text("Your draft of this document")).to_be_visible()
    assert shown_spans(page) == [("Paris", "LOC")]
    assert services.document(doc.id).status == "new"


def test_an_emoji_and_cjk_document_exports_with_exact_offsets(app, services):
    text = "👩‍👩‍👧 Zoë 👍🏽 met 王小明 in 北京 ."
    project, doc = open_document(app, services, "Scripts", text)
    page = app.page
    drag(page, unit(page, "王"), unit(page, "明"))
    page.keyboard.press("1")
    unit(page, "北").click()
    unit(page, "京").click(modifiers=["Shift"])
    page.keyboard.press("3")
    unit(page, "Zoë").dblclick()
    page.keyboard.press("1")
    accept(app)
    (exported,) = read_jsonl(services.export_jsonl(project.id))
    zoe, wang, beijing = (text.index(w) for w in ("Zoë", "王小明", "北京"))
    assert exported.text == text
    assert [(s.start, s.end, s.label) for s in exported.spans] == [
        (zoe, zoe + 3, "PER"), (wang, wang + 3, "PER"), (beijing, beijing + 2, "LOC")]


def test_a_span_across_a_line_break_joins_the_two_drawn_blocks_and_keeps_its_offsets(app, services):
    text = "She moved to New\r\nYork last year .\nAnd stayed ."
    _, doc = open_document(app, services, "Line break", text)
    page = app.page
    assert editor(page).locator(".seqlab-chunk").count() == 3  # a block per line
    drag(page, unit(page, "New"), unit(page, "York"))
    page.keyboard.press("3")
    assert shown_spans(page) == [("New\r\nYork", "LOC")]
    assert editor(page).locator(".seqlab-chunk").count() == 2
    accept(app)
    assert stored(services, doc.id) == [("New\r\nYork", "LOC")]


def long_text(words: int, seed: int = 5) -> str:
    rng = random.Random(seed)
    vocab = ["the", "council", "met", "in", "Paris", "on", "Monday", "and", "said", "that", "Alice", "Smith",
             "would", "visit", "Acme", "Corp", "next", "year", "while", "prices", "rose", "sharply"]
    out = []
    for n in range(words):
        out.append(rng.choice(vocab))
        if n % 17 == 16:
            out.append(".")
    return " ".join(out) + " ZZTOP ."


def test_a_ten_thousand_word_document_opens_and_stays_editable(app, services):
    text = long_text(10_000)
    _, doc = open_document(app, services, "Long", text)
    page = app.page
    assert editor(page).locator(".seqlab-unit").count() >= 10_000
    last = unit(page, "ZZTOP")  # the end of the document
    last.scroll_into_view_if_needed()
    last.dblclick()
    page.keyboard.press("2")
    expect(page.locator('mark.seqlab-entity[data-label="ORG"]', has_text="ZZTOP")).to_have_count(1)
    first = unit(page, "Alice")
    first.scroll_into_view_if_needed()
    first.dblclick()
    page.keyboard.press("1")
    page.keyboard.press("Shift+ArrowRight")
    accept(app)
    spans = stored(services, doc.id)
    assert spans[-1] == ("ZZTOP", "ORG") and spans[0][1] == "PER" and spans[0][0].startswith("Alice ")


def test_a_save_from_a_second_tab_over_a_newer_version_is_refused_and_keeps_its_work(app, services, chromium,
                                                                                      app_server):
    name = "Two tabs"
    project, doc = open_document(app, services, name, "Alice met Bob .")
    services.import_file(project.id, "more.txt", b"Carol went home .\n")
    context = new_context(chromium)
    try:
        tab_b = App(context.new_page(), app_server)
        tab_b.open("Annotate")
        choose_project(tab_b, name)
        editor(tab_b.page)
        expect(tab_b.page.get_by_text(f"Document #{doc.id} ·")).to_be_visible()

        unit(app.page, "Alice").dblclick()  # tab A: a span, accepted
        app.page.keyboard.press("1")
        accept(app)
        assert stored(services, doc.id) == [("Alice", "PER")]

        unit(tab_b.page, "Bob").dblclick()  # tab B, on the version it opened: refused
        tab_b.page.keyboard.press("1")
        accept(tab_b)
        expect(tab_b.page.get_by_text(re.compile("was changed.*after you opened it"))).to_be_visible()
        assert stored(services, doc.id) == [("Alice", "PER")]
        second = services.next_document(project.id)
        assert services.document(second.id).spans == () and services.document(second.id).status == "new"
        assert shown_spans(tab_b.page) == [("Bob", "PER")]  # B's work is still on screen...
        assert [(doc.text[s.start:s.end]) for s in services.draft(doc.id, "you").spans] == ["Bob"]  # ...and stored

        tab_b.page.get_by_role("button", name="Save mine over it").click()  # on purpose
        tab_b.wait_for_run()
        assert stored(services, doc.id) == [("Bob", "PER")]
        assert [h.after for h in services.history(doc.id)][-2:] == [(Span(0, 5, "PER"),), (Span(10, 13, "PER"),)]
    finally:
        context.close()


def test_low_confidence_suggestions_are_dashed_and_n_jumps_to_the_next(app, services):
    _, doc = open_document(app, services, "Unsure", "Alice met Bob in Paris .",
                           spans=[Span(0, 5, "PER", 0.97), Span(10, 13, "PER", 0.41), Span(17, 22, "LOC", 0.55)])
    page = app.page
    unsure = editor(page).locator("mark.seqlab-entity.seqlab-unsure")
    expect(unsure).to_have_count(2)
    editor(page).locator(".seqlab-text").focus()
    page.keyboard.press("n")
    expect(editor(page).locator("mark.seqlab-active")).to_have_text(re.compile("^Bob"))
    page.keyboard.press("2")  # corrected: no longer unsure
    page.keyboard.press("n")
    expect(editor(page).locator("mark.seqlab-active")).to_have_text(re.compile("^Paris"))
    expect(unsure).to_have_count(1)


def test_two_hundred_labels_wrap_and_a_filter_finds_one(app, services):
    labels = [f"TYPE_{n:03d}" for n in range(200)]
    _, doc = open_document(app, services, "Many labels", "Alice met Bob .", labels=labels)
    page = app.page
    chips = editor(page).locator(".seqlab-chip")
    expect(chips).to_have_count(200)
    toolbar = editor(page).locator(".seqlab-chips").bounding_box()
    assert toolbar["height"] < 200 and toolbar["width"] <= 1280  # wraps, scrolls, stays on the page
    unit(page, "Bob").dblclick()
    filter_box = editor(page).get_by_label("Filter labels")
    filter_box.fill("137")
    expect(editor(page).locator(".seqlab-chip:visible")).to_have_count(1)
    filter_box.press("Enter")
    assert shown_spans(page) == [("Bob", "TYPE_137")]


# ----------------------------------------------------------------------------- editor.js's rules = model.py's

RULES_PAGE = """<!doctype html><meta charset="utf-8"><body></body>"""
RUN_SCRIPT = """([ops, n]) => {
    const R = window.__rules;
    let spans = [];
    const history = new R.History(spans);
    const states = [];
    for (const op of ops) {
        const [kind, a, b, c] = op;
        let next = spans;
        if (kind === "add") next = R.addSpan(spans, a, b, c);
        else if (kind === "relabel") next = R.relabel(spans, a, b);
        else if (kind === "remove") next = R.removeSpan(spans, a);
        else if (kind === "end") next = R.moveEnd(spans, a, b, n);
        else if (kind === "start") next = R.moveStart(spans, a, b);
        if (kind === "undo") spans = history.undo();
        else if (kind === "redo") spans = history.redo();
        else { history.push(next); spans = history.present; }
        states.push(spans.map(s => [s.i, s.j, s.label]));
    }
    return states;
}"""


def random_ops(rng: random.Random, n: int, steps: int) -> tuple[list[list], list[list]]:
    """A random edit session over ``n`` units, and the states model.py goes through."""
    ranges: list = []
    history = model.History(ranges)
    ops, states = [], []
    for _ in range(steps):
        kinds = ["add", "undo", "redo"] + (["relabel", "remove", "end", "start"] if ranges else [])
        kind = rng.choice(kinds)
        if kind == "add":
            i = rng.randrange(n)
            op = [kind, i, rng.randint(i + 1, n), rng.choice(LABELS)]
            new = model.add(ranges, op[1], op[2], op[3])
        elif kind == "relabel":
            op = [kind, rng.randrange(len(ranges)), rng.choice(LABELS)]
            new = model.relabel(ranges, op[1], op[2])
        elif kind == "remove":
            op = [kind, rng.randrange(len(ranges))]
            new = model.remove(ranges, op[1])
        elif kind in ("end", "start"):
            op = [kind, rng.randrange(len(ranges)), rng.choice([-2, -1, 1, 2, 5])]
            new = (model.move_end(ranges, op[1], op[2], n) if kind == "end" else model.move_start(ranges, op[1], op[2]))
        else:
            op = [kind]
        if kind == "undo":
            ranges = history.undo()
        elif kind == "redo":
            ranges = history.redo()
        else:
            history.push(new)
            ranges = history.present
        ops.append(op)
        states.append([list(r) for r in ranges])
    return ops, states


def test_the_editors_javascript_rules_are_the_python_rules(chromium):
    page = chromium.new_page()
    try:
        page.set_content(RULES_PAGE)
        source = EDITOR_JS.read_text(encoding="utf-8")
        page.add_script_tag(type="module", content=source + "\nwindow.__rules = {addSpan, relabel, removeSpan, "
                                                            "moveEnd, moveStart, History};")
        page.wait_for_function("() => window.__rules !== undefined")
        rng = random.Random(2024)
        for _ in range(60):
            n = rng.randint(1, 15)
            ops, expected = random_ops(rng, n, 25)
            got = page.evaluate(RUN_SCRIPT, [ops, n])
            assert got == expected, json.dumps(ops)
    finally:
        page.close()
