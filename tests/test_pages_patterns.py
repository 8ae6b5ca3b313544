"""Patterns and label-adding imports on the pages, through AppTest: Settings (add, bad regex, import a
list), Annotate and Tag before a model (pattern suggestions) and after one (hints), Data (a file's new
labels added in the import step; a repaired tag sequence listed)."""

from __future__ import annotations

import pytest

from tagger.spans import Span
from tests.apptest import page, shown, unmd
from tests.test_pages import editor_data, project, send, shown_spans, svc, with_model  # noqa: F401  (fixtures)

WNUT = ("@paulwalk\tO\nIt\tO\nthe\tO\nEmpire\tB-location\nState\tI-location\nBuilding\tI-location\n\n"
        "Alice\tB-person\nat\tO\nBig\tB-creative-work\nFish\tI-creative-work\n\nBob\tB-person\n")


@pytest.fixture()
def fresh(svc):
    """A project with no model, one document waiting and two patterns."""
    made = svc.create_project("Fresh", ["PER", "ORG", "LOC"])
    svc.import_file(made.id, "queue.txt", b"Bob joined Acme Corp in Paris .\n")
    svc.add_pattern(made.id, "ORG", "acme corp")
    svc.add_pattern(made.id, "LOC", r"Par\w+", "regex")
    return made


# ----------------------------------------------------------------------------- Settings


def test_settings_adds_a_pattern_and_shows_it(svc, project):
    at = page("settings")
    at.selectbox(key="pattern_label").set_value("ORG")
    at.text_input(key="pattern_text").input("Acme Corp")
    at.button(key=f"FormSubmitter:add_pattern_{project.id}-Add pattern").click().run()
    assert not at.exception and not at.error
    assert [(p.label, p.pattern, p.kind) for p in svc.patterns(project.id)] == [("ORG", "Acme Corp", "term")]
    table = at.dataframe(key=f"patterns_table_{project.id}").value
    assert list(table["pattern"]) == ["Acme Corp"] and list(table["label"]) == ["ORG"]


def test_settings_names_a_bad_regex_and_stores_nothing(svc, project):
    at = page("settings")
    at.selectbox(key="pattern_kind").set_value("regex")
    at.text_input(key="pattern_text").input("(Acme")
    at.button(key=f"FormSubmitter:add_pattern_{project.id}-Add pattern").click().run()
    assert not at.exception
    assert [unmd(e.value) for e in at.error] == ["the regex '(Acme' does not compile: missing ) at position 5"]
    assert svc.patterns(project.id) == []


def test_settings_tries_the_patterns_on_a_text(svc, project):
    svc.add_pattern(project.id, "PER", "Alice")
    at = page("settings")
    at.text_input(key=f"try_patterns_{project.id}").input("Alice met alice .").run()
    assert "Matches: 'Alice' PER, 'alice' PER" in shown(at)


# ----------------------------------------------------------------------------- Annotate and Tag


def test_annotate_without_a_model_prefills_the_pattern_matches_drawn_as_such(svc, fresh):
    at = page("annotate", project_id=fresh.id)
    assert not at.exception
    data = editor_data(at)
    assert data["spans"] == [[2, 4, "ORG", None, "pattern"], [5, 6, "LOC", None, "pattern"]]
    assert shown_spans(at) == [("Acme Corp", "ORG"), ("Paris", "LOC")]
    assert any("suggestions from your patterns (no model yet)" in t for t in shown(at))
    send(at, "accept", [(2, 4, "ORG"), (0, 1, "PER")])  # one confirmed, one dropped, one added
    doc = svc.documents_frame(fresh.id)
    stored = svc.document(int(doc["id"][0]))
    assert stored.status == "corrected" and stored.spans == (Span(0, 3, "PER"), Span(11, 20, "ORG"))


def test_annotate_with_a_model_shows_the_pattern_matches_it_missed_and_adds_them(svc, project, with_model):
    svc.add_pattern(project.id, "ORG", "joined")  # no model tags a verb: a hint for sure
    svc.import_file(project.id, "queue.txt", b"Dave joined London .\n")
    doc = next(d for d in [svc.next_document(project.id, after_id=i) for i in range(20)]
               if d and d.text == "Dave joined London .")
    at = page("annotate", annotate_doc=doc.id)
    assert not at.exception
    data = editor_data(at)
    assert data["hints"] == [[1, 2, "ORG"]] and all(len(s) == 4 for s in data["spans"])  # not pre-filled
    assert any("Your patterns also match 'joined' ORG (underlined), which the model did not mark." in t
               for t in shown(at))
    at.button(key=f"annotate_add_hints_{doc.id}_0").click().run()
    assert not at.exception
    assert ("joined", "ORG") in shown_spans(at)
    assert Span(5, 11, "ORG") in svc.draft(doc.id, "you").spans


def test_tag_without_a_model_shows_the_pattern_matches(svc, fresh):
    at = page("tag", project_id=fresh.id)
    at.text_area(key="tag_text").input("Acme Corp opened in Paris .")
    at.button(key="tag_button").click().run()
    assert not at.exception and not at.warning
    assert shown_spans(at) == [("Acme Corp", "ORG"), ("Paris", "LOC")]
    assert all(s[4] == "pattern" for s in editor_data(at)["spans"])
    assert "No model yet: these are what your patterns (Settings) match, drawn dotted." in shown(at)


# ----------------------------------------------------------------------------- Data


def test_data_offers_to_add_a_files_new_labels_in_the_import_step(svc, project):
    at = page("data")
    at.file_uploader(key="upload").set_value(("wnut17train.conll", WNUT.encode(), "text/plain")).run()
    assert not at.exception
    assert [unmd(w.value) for w in at.warning] == [
        "This file uses 3 labels that English NER does not have: 'location' (1 span), 'person' (2 spans), "
        "'creative-work' (1 span)."]
    button = at.button(key="import_button")
    assert button.label == "Add 3 labels and import"
    button.click().run()
    assert not at.exception and not at.error
    assert [unmd(s.value) for s in at.success] == [
        "Imported 3 documents (0 duplicates skipped); added the labels location, person, creative-work."]
    assert svc.project(project.id).label_names[-3:] == ["location", "person", "creative-work"]


def test_data_lists_the_tag_sequences_it_repaired(svc, project):
    data = b"EU\tB-ORG\nrejects\tO\nGerman\tI-MISC\ncall\tO\n\nPeter\tB-PER\n"
    at = page("data")
    at.file_uploader(key="upload").set_value(("test.txt", data, "text/plain")).run()
    assert [unmd(w.value) for w in at.warning] == [
        "test.txt: 1 tag sequence was repaired as conlleval does: line 3: tag 'I-MISC' follows 'O' in IOB2 "
        "(a strict reading refuses it)"]
    at.button(key="import_button").click().run()
    assert not at.exception and not at.error
    stored = svc.document(int(svc.documents_frame(project.id)["id"].max()) - 1)
    assert stored.text == "EU rejects German call" and Span(11, 17, "MISC") in stored.spans


# ----------------------------------------------------------------------------- text the base model cannot see


def test_train_and_settings_say_when_the_base_model_cannot_see_most_of_the_text(svc, tiny_base):
    chinese = svc.create_project("Chinese", ["PER"], base_model=tiny_base)  # the tiny vocabulary has no 甲乙
    svc.import_file(chinese.id, "zh.txt", "甲乙见了丙丁\n北京大学\n".encode())  # 6 of 10 unknown
    expected = ("60% of this project's characters are unknown ([UNK]) to the base model")
    for name in ("train", "settings"):
        at = page(name, project_id=chinese.id)
        assert not at.exception
        assert any(expected in unmd(w.value) for w in at.warning), [w.value for w in at.warning]
    english = svc.create_project("English", ["PER"])  # the embedded model's vocabulary
    svc.import_file(english.id, "en.txt", b"Alice Johnson flew from London to Paris on Monday.\n")
    at = page("train", project_id=english.id)
    assert not any("unknown ([UNK])" in unmd(w.value) for w in at.warning), (english, [unmd(w.value) for w in at.warning])
