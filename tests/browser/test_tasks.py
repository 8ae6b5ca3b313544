"""POS in real Chromium: a tags project imports a tags file and exports it unchanged; the Tag page
shows a tag under every word; Annotate's tag mode is keyboard-first (the first word selected, a
tag's key relabels it and moves on), and the accepted correction is what the export holds."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tagger.formats import read
from tagger.task_formats import write_tags_column
from tests.browser.steps import accept, choose_project, download, editor, unfocus, upload_and_import
from tests.test_tasks import POS, pos_corpus, task_file

pytestmark = pytest.mark.browser

NAME = "POS journey"
TAGS = sorted(set(POS.values()) | {"PROPN"})


@pytest.fixture(scope="module")
def pos_model(tiny_base, tmp_path_factory):
    from tagger.train import TrainConfig, train

    result = train(pos_corpus(60, seed=1), [], TrainConfig(base_model=tiny_base, task="tags", epochs=10, batch_size=8,
                                                           lr=3e-3, head_lr=1e-2, max_length=64, lstm_hidden=16))
    return str(result.save(tmp_path_factory.mktemp("pos") / "model"))


def test_a_tags_project_imports_tags_corrects_a_word_by_keyboard_and_exports_it(app, services, tiny_base, pos_model):
    project = services.create_project(NAME, TAGS, task_kind="tags", base_model=tiny_base)
    services.register_version(project.id, pos_model, activate=True)
    shortcut = {label.name: label.shortcut for label in services.project(NAME).labels}
    page = app.page

    # Data: a tags file in, the same file out.
    app.open("Data")
    choose_project(app, NAME)
    data = task_file(write_tags_column, pos_corpus(12, seed=4))
    upload_and_import(app, "ewt.conllu", data, documents=len(read(data, fmt="column").examples))
    assert download(app, "Download column file").encode() == data

    # Tag: a tag under every word; saved for correction with the model's tags as suggestions.
    app.go("Tag")
    page.get_by_label("Text to tag").fill("Dave went to London .")
    page.get_by_role("button", name="Tag", exact=True).click()
    app.wait_for_run()
    words = page.locator(".seqlab-tags .seqlab-word")
    expect(words).to_have_count(5)
    app.screenshot("tags-tag-page")
    page.get_by_role("button", name="Save for correction").click()
    app.wait_for_run()

    # Annotate, tag mode: the first word is selected; its tag's key relabels it and moves to "went".
    app.go("Annotate")
    root = editor(page)
    marks = root.locator("mark.seqlab-entity")
    expect(marks).to_have_count(5)
    active = root.locator("mark.seqlab-active")
    expect(active).to_have_count(1)
    expect(active).to_contain_text("Dave")
    root.locator(".seqlab-text").focus()
    page.keyboard.press(shortcut["NOUN"])  # "Dave" is a PROPN: a wrong tag on purpose, then back
    expect(root.locator("mark.seqlab-active")).to_contain_text("went")
    page.keyboard.press("ArrowLeft")
    expect(root.locator("mark.seqlab-active")).to_contain_text("Dave")
    page.keyboard.press("Delete")  # nothing removes a word's tag
    expect(marks).to_have_count(5)
    page.keyboard.press(shortcut["PROPN"])
    expect(root.locator("mark.seqlab-active")).to_contain_text("went")
    page.keyboard.press("ArrowRight")
    page.keyboard.press(shortcut["NOUN"])  # "to" as a NOUN: the one correction kept
    app.screenshot("tags-annotate")
    accept(app)
    unfocus(page)

    doc = services.documents_frame(project.id)
    text = "Dave went to London ."
    exported = read(services.export_jsonl(project.id), fmt="jsonl").examples
    saved = next(e for e in exported if e.text == text)
    assert [(text[s.start:s.end], s.label) for s in saved.spans][:3] == [("Dave", "PROPN"), ("went", "VERB"),
                                                                          ("to", "NOUN")]
    assert len(saved.spans) == 5 and len(doc) == len(data.split(b"\n\n")) + 1


# ----------------------------------------------------------------------------- frames (SRL)

from tagger.task_formats import write_frames_column  # noqa: E402
from tests.browser.steps import EDITOR  # noqa: E402
from tests.test_tasks import srl_corpus  # noqa: E402

SRL = "SRL journey"
ROLES = sorted({a.label for e in srl_corpus(80) for f in e.frames for a in f.arguments})


@pytest.fixture(scope="module")
def srl_model(tiny_base, tmp_path_factory):
    from tagger.train import TrainConfig, train

    result = train(srl_corpus(60, seed=1), [], TrainConfig(base_model=tiny_base, task="frames", epochs=12,
                                                           batch_size=8, lr=3e-3, head_lr=1e-2, max_length=64,
                                                           lstm_hidden=16))
    return str(result.save(tmp_path_factory.mktemp("srl") / "model"))


def test_a_frames_project_imports_frames_and_corrects_a_role_in_frame_mode(app, services, tiny_base, srl_model):
    project = services.create_project(SRL, ROLES, task_kind="frames", base_model=tiny_base)
    version = services.register_version(project.id, srl_model, activate=True)
    shortcut = {label.name: label.shortcut for label in services.project(SRL).labels}
    page = app.page

    # Data: a predicate-block file in, the same file out; a raw text to annotate.
    app.open("Data")
    choose_project(app, SRL)
    data = task_file(write_frames_column, srl_corpus(8, seed=4))
    upload_and_import(app, "up.txt", data, documents=len(read(data, fmt="column").examples))
    assert download(app, "Download column file").encode() == data
    text = "The Globex said Dave visited Berlin today ."
    services.save_for_correction(project.id, text)

    # Tag: a row per predicate.
    app.go("Tag")
    page.get_by_label("Text to tag").fill(text)
    page.get_by_role("button", name="Tag", exact=True).click()
    app.wait_for_run()
    predicted = services.tag_frames(services.load_tagger(version), text)
    expect(page.locator(".seqlab-frames .seqlab-frame")).to_have_count(len(predicted))
    assert predicted and predicted[0].arguments, predicted

    # Annotate, frame mode: the first row's first argument gets another role; Accept stores every row.
    app.go("Annotate")
    rows = page.locator(EDITOR)
    expect(rows).to_have_count(len(predicted))
    first = rows.nth(0)
    mark = first.locator("mark.seqlab-entity").first
    old = predicted[0].arguments[0].label
    new = next(r for r in ROLES if r != old and shortcut.get(r))
    mark.click()
    first.locator(".seqlab-text").press(shortcut[new])
    expect(first.locator("mark.seqlab-entity").first).to_have_attribute("data-label", new)
    app.screenshot("frames-annotate")
    first.get_by_role("button", name="Accept").click()
    app.wait_for_run()
    unfocus(page)

    saved = next(e for e in read(services.export_jsonl(project.id), fmt="jsonl").examples if e.text == text)
    expected = [(f.predicate.start, f.predicate.end, [(a.start, a.end, a.label) for a in f.arguments])
                for f in predicted]
    expected[0][2][0] = (*expected[0][2][0][:2], new)
    assert [(f.predicate.start, f.predicate.end, [(a.start, a.end, a.label) for a in f.arguments])
            for f in saved.frames] == expected
