"""The Tag, Annotate and Settings pages through AppTest, on a real SQLite file and a tiny trained model."""

from __future__ import annotations

import json
import re

import pytest
from streamlit.components.v2.bidi_component.main import _make_trigger_id
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest

import ui
from tagger.spans import Span
from tests.apptest import PAGES, page, shown, unmd

XSS = "<img src=x onerror=alert(1)> Alice went to Paris ."


@pytest.fixture()
def svc(page_svc):
    return page_svc


@pytest.fixture()
def project(svc):
    return svc.ensure_default_project()


@pytest.fixture()
def with_model(svc, project, trained_dir):
    """The tiny BiLSTM+CRF model (PER/LOC/ORG on templated sentences) as the active version."""
    return svc.register_version(project.id, trained_dir, activate=True)


# ----------------------------------------------------------------------------- Tag


def test_tag_page_without_a_model_explains_and_still_saves(svc, project):
    at = page("tag")
    assert not at.exception
    assert any("No model is trained" in t for t in shown(at))
    at.text_area(key="tag_text").input("Carol Smith works at Globex .")
    at.button(key="tag_button").click().run()
    assert not at.exception
    at.button(key="tag_save").click().run()
    doc = svc.next_document(project.id, after_id=max(d for d in svc.documents_frame(project.id)["id"]) - 1)
    assert doc.text == "Carol Smith works at Globex ." and doc.status == "new"


def test_tag_page_highlights_the_active_models_entities(svc, project, with_model):
    at = page("tag")
    at.text_area(key="tag_text").input("Alice went to Paris .")
    at.button(key="tag_button").click().run()
    assert not at.exception
    data = editor_data(at)  # the Annotate editor's renderer, read-only
    assert data["mode"] == "view" and data["scores"]
    spans = {(text, label) for text, label in shown_spans(at)}
    assert {("Alice", "PER"), ("Paris", "LOC")} <= spans
    assert all(0 <= score <= 1 for *_, score in data["spans"])
    table = at.dataframe[0].value
    assert {("Alice", "PER"), ("Paris", "LOC")} <= set(zip(table["text"], table["label"]))
    assert any("model version v1" in t for t in shown(at))


def test_tag_page_saves_the_predictions_as_suggestions(svc, project, with_model):
    at = page("tag")
    at.text_area(key="tag_text").input("Bob works at Acme Corp in Berlin .")
    at.button(key="tag_button").click().run()
    at.button(key="tag_save").click().run()
    assert not at.exception
    assert any("Annotate queue" in t for t in shown(at))
    doc = svc.document(int(re.search(r"#(\d+)", unmd(at.success[0].value)).group(1)))
    assert doc.status == "predicted" and doc.sources and set(doc.sources) == {"model"}
    assert ("Acme Corp", "ORG") in {(doc.text[s.start:s.end], s.label) for s in doc.spans}


def test_tag_page_escapes_html_in_the_text(svc, project, with_model):
    at = page("tag")
    at.text_area(key="tag_text").input(XSS)
    at.button(key="tag_button").click().run()
    assert not any("<img" in h.value for h in at.html)
    data = editor_data(at)  # text the browser sets with textContent: exactly the typed text
    assert "".join(g + u for g, u in zip(data["gaps"], data["units"])) + data["gaps"][-1] == XSS


@pytest.mark.parametrize("text, message", [("   \n ", "empty"), ("a\x00b", "NUL"), ("x" * 100_001, "100,000")])
def test_tag_page_refuses_bad_text_with_a_message(svc, project, text, message):
    at = page("tag")
    at.text_area(key="tag_text").input(text)
    at.button(key="tag_button").click().run()
    assert not at.exception
    assert at.error and message in unmd(at.error[0].value)
    assert "tag_save" not in [b.key for b in at.button]


def test_a_newly_activated_version_is_used_without_restarting(svc, project, trained_dir, trained_softmax_dir):
    first = svc.register_version(project.id, trained_dir, activate=True)
    at = page("tag")
    assert any("model version v1" in t for t in shown(at))
    svc.register_version(project.id, trained_softmax_dir, activate=True)
    at.run()
    assert any("model version v2" in t for t in shown(at))
    svc.activate_version(first.id)  # rollback
    at.run()
    assert any("model version v1" in t for t in shown(at))


# ----------------------------------------------------------------------------- Annotate


def editor(at: AppTest, nth: int | None = None):
    """The span editor element on the page (AppTest shows a components v2 element as unknown);
    with ``nth``, the nth of several (frame mode has one per predicate)."""
    found = [e for e in at.main if getattr(e, "proto", None) is not None
             and getattr(e.proto, "component_name", "") == "seqlab_span_editor"]
    if nth is not None:
        return found[nth]
    assert len(found) == 1, f"{len(found)} span editors on the page"
    return found[0]


def editor_data(at: AppTest, nth: int | None = None) -> dict:
    """What the page sent to the browser: units, gaps, spans as unit ranges, document and version."""
    return json.loads(editor(at, nth).proto.json)


def unit_index(at: AppTest, word: str) -> int:
    return editor_data(at)["units"].index(word)


def send(at: AppTest, event: str, ranges, nth: int | None = None, **changes) -> AppTest:
    """Run the page as if the browser's editor (the ``nth`` one, when there are several) sent
    ``event`` ("work", "accept" or "skip") with the spans ``ranges`` [(first unit, last unit + 1,
    label)], for the document and version it shows (``changes`` overrides them, e.g. an older version)."""
    data = editor_data(at, nth)
    value = {"doc": data["doc"], "version": data["version"], "revision": data["revision"],
             "seq": changes.pop("seq", 1), "spans": [list(r) for r in ranges], **changes}
    states = at._tree.get_widget_states()
    element_id = editor(at, nth).proto.id
    if event == "work":
        state = WidgetState(id=element_id, json_value=json.dumps({"work": value}))
    else:
        state = WidgetState(id=_make_trigger_id(element_id, "events"),
                            json_trigger_value=json.dumps([{"event": event, "value": value}]))
    kept = [w for w in states.widgets if w.id != state.id]
    del states.widgets[:]
    states.widgets.extend([*kept, state])
    return at._run(states)  # AppTest has no setter for a custom component's value


def shown_spans(at: AppTest) -> list[tuple[str, str]]:
    """(text, label) of each span the editor shows."""
    data = editor_data(at)
    units, gaps = data["units"], data["gaps"]
    return [("".join(gaps[k] + units[k] if k > i else units[k] for k in range(i, j)), label)
            for i, j, label, *_ in data["spans"]]


def queue(svc, texts: str, labels=("PER", "ORG", "LOC"), name="Fresh"):
    fresh = svc.create_project(name, list(labels))
    svc.import_file(fresh.id, "queue.txt", texts.encode())
    return fresh, svc.next_document(fresh.id)


def test_annotate_opens_the_document_in_the_editor_as_units(svc, project):
    fresh, doc = queue(svc, "Alice met Bob in Paris .\nCarol went home .\n")
    at = page("annotate", project_id=fresh.id)
    assert not at.exception
    data = editor_data(at)
    assert data["units"] == ["Alice", "met", "Bob", "in", "Paris", "."]
    assert (data["doc"], data["version"], data["mode"]) == (doc.id, doc.version, "edit")
    assert [(lb["name"], lb["key"]) for lb in data["labels"]] == [("PER", "1"), ("ORG", "2"), ("LOC", "3")]
    assert any(f"Document #{doc.id} ·" in t for t in shown(at))


def test_accept_stores_the_spans_the_editor_sent_and_opens_the_next_document(svc, project):
    fresh, doc = queue(svc, "Alice met Bob in Paris .\nCarol went home .\n")
    at = page("annotate", project_id=fresh.id)
    send(at, "accept", [(0, 1, "PER"), (2, 3, "PER")])
    assert not at.exception
    saved = svc.document(doc.id)
    assert saved.status == "corrected" and saved.spans == (Span(0, 5, "PER"), Span(10, 13, "PER"))
    assert set(saved.sources) == {"human"}
    assert svc.history(doc.id)[-1].annotator == "you"
    nxt = svc.next_document(fresh.id)
    assert at.session_state["annotate_doc"] == nxt.id and nxt.text == "Carol went home ."
    assert editor_data(at)["doc"] == nxt.id and editor_data(at)["units"][0] == "Carol"
    assert at.get("progress")[0].value is not None


def test_annotate_prefills_the_active_models_suggestions(svc, project, with_model):
    svc.import_file(project.id, "queue.txt", b"Dave went to London .\n")
    doc = next(d for d in [svc.next_document(project.id, after_id=i) for i in range(20)]
               if d and d.text == "Dave went to London .")
    at = page("annotate", annotate_doc=doc.id)
    assert not at.exception
    assert {("Dave", "PER"), ("London", "LOC")} <= set(shown_spans(at))
    assert all(score is not None for *_, score in editor_data(at)["spans"])  # for the dashed unsure ones
    assert any("suggestions from model v1" in t for t in shown(at))


def test_annotate_works_per_character_for_chinese_and_keeps_emoji_whole(svc, project):
    fresh, doc = queue(svc, "我在北京工作👩‍👩‍👧。", labels=["LOC"], name="Chinese")
    at = page("annotate", project_id=fresh.id)
    assert editor_data(at)["units"] == ["我", "在", "北", "京", "工", "作", "👩‍👩‍👧", "。"]
    send(at, "accept", [(2, 4, "LOC")])
    assert not at.exception
    saved = svc.document(doc.id)
    assert [(saved.text[s.start:s.end], s.label) for s in saved.spans] == [("北京", "LOC")]


def test_a_span_edge_inside_a_subword_is_warned_about_and_cuts_the_word_in_the_editor(svc, project):
    fresh, doc = queue(svc, "Unbelievable results .\n", labels=["ORG"], name="Edges")
    at = page("annotate", project_id=fresh.id)
    at.number_input(key=f"annotate_start_{doc.id}").set_value(0)
    at.number_input(key=f"annotate_end_{doc.id}").set_value(3).run()
    at.button(key=f"annotate_exact_add_{doc.id}").click().run()
    assert not at.exception
    assert editor_data(at)["units"][:2] == ["Unb", "elievable"]
    assert shown_spans(at) == [("Unb", "ORG")]
    assert any("Cuts a model subword" in unmd(w.value) for w in at.warning)
    send(at, "accept", [(0, 1, "ORG")])
    assert svc.document(doc.id).spans == (Span(0, 3, "ORG"),)


def test_annotate_says_when_the_queue_is_empty(svc, project):
    fresh = svc.create_project("Empty", ["PER"])
    at = page("annotate", project_id=fresh.id)
    assert not at.exception
    assert any("Nothing left to correct" in t for t in shown(at))


def test_the_editors_draft_is_stored_and_a_new_session_restores_it(svc, project):
    fresh, doc = queue(svc, "Alice met Bob in Paris .\n")
    at = page("annotate", project_id=fresh.id)
    send(at, "work", [(4, 5, "LOC")])
    assert not at.exception
    draft = svc.draft(doc.id, "you")
    assert draft.spans == (Span(17, 22, "LOC"),) and draft.base_version == doc.version
    assert svc.document(doc.id).status == "new"  # a draft is not a correction
    again = page("annotate", project_id=fresh.id)  # a reload: a new session
    assert shown_spans(again) == [("Paris", "LOC")]
    assert any("Your draft of this document" in unmd(i.value) for i in again.info)


def test_discarding_the_draft_goes_back_to_the_suggestions(svc, project):
    fresh, doc = queue(svc, "Alice met Bob in Paris .\n")
    svc.save_draft(doc.id, "you", [Span(17, 22, "LOC")], base_version=doc.version)
    at = page("annotate", project_id=fresh.id)
    at.button(key=f"annotate_discard_{doc.id}").click().run()
    assert not at.exception
    assert shown_spans(at) == [] and svc.draft(doc.id, "you") is None


def test_skip_keeps_the_edits_as_a_draft_and_opens_the_next_document(svc, project):
    fresh, doc = queue(svc, "Alice met Bob .\nCarol went home .\n")
    at = page("annotate", project_id=fresh.id)
    send(at, "skip", [(0, 1, "PER")])
    assert not at.exception
    assert svc.draft(doc.id, "you").spans == (Span(0, 5, "PER"),)
    assert svc.document(doc.id).status == "new"
    assert editor_data(at)["units"][0] == "Carol"


def two_tabs_on_one_document(svc):
    """Tab A and tab B (two sessions) open the same document; A accepts a span on it."""
    fresh, doc = queue(svc, "Alice met Bob .\nCarol went home .\n")
    tab_a = page("annotate", project_id=fresh.id)
    tab_b = page("annotate", project_id=fresh.id)
    assert editor_data(tab_a)["doc"] == editor_data(tab_b)["doc"] == doc.id
    send(tab_a, "accept", [(0, 1, "PER")])
    return fresh, doc, tab_b


def test_a_save_over_a_newer_version_is_refused_and_keeps_the_work_as_a_draft(svc, project):
    fresh, doc, tab_b = two_tabs_on_one_document(svc)
    send(tab_b, "accept", [(2, 3, "PER")])  # B marks Bob, accepts on the version it opened
    assert not tab_b.exception
    assert any("was changed" in unmd(e.value) for e in tab_b.error)
    assert svc.document(doc.id).spans == (Span(0, 5, "PER"),)  # A's correction stands
    assert svc.draft(doc.id, "you").spans == (Span(10, 13, "PER"),)  # B's work is kept
    second = svc.next_document(fresh.id)
    assert svc.document(second.id).status == "new" and not svc.document(second.id).spans  # nothing saved there
    assert editor_data(tab_b)["doc"] == doc.id  # B still sees the document it worked on
    assert editor_data(tab_b)["attempts"] == 1  # the editor unlocks


def test_after_a_refused_save_mine_can_be_saved_over_it_on_purpose(svc, project):
    fresh, doc, tab_b = two_tabs_on_one_document(svc)
    send(tab_b, "accept", [(2, 3, "PER")])
    tab_b.button(key=f"annotate_save_over_{doc.id}").click().run()
    assert not tab_b.exception
    assert svc.document(doc.id).spans == (Span(10, 13, "PER"),)
    assert [h.after for h in svc.history(doc.id)][-2:] == [(Span(0, 5, "PER"),), (Span(10, 13, "PER"),)]
    assert editor_data(tab_b)["doc"] != doc.id


def test_after_a_refused_save_the_stored_version_can_be_loaded(svc, project):
    fresh, doc, tab_b = two_tabs_on_one_document(svc)
    send(tab_b, "accept", [(2, 3, "PER")])
    tab_b.button(key=f"annotate_load_stored_{doc.id}").click().run()
    assert not tab_b.exception
    assert shown_spans(tab_b) == [("Alice", "PER")]
    assert editor_data(tab_b)["version"] == svc.document(doc.id).version
    assert svc.draft(doc.id, "you") is None
    send(tab_b, "accept", [(0, 1, "PER"), (2, 3, "PER")])  # now on the newest version: saved
    assert svc.document(doc.id).spans == (Span(0, 5, "PER"), Span(10, 13, "PER"))


def test_the_page_warns_as_soon_as_the_document_changed_elsewhere(svc, project):
    fresh, doc, tab_b = two_tabs_on_one_document(svc)
    send(tab_b, "work", [(2, 3, "PER")])  # B's draft arrives after A's save
    assert any("after you opened it" in unmd(w.value) for w in tab_b.warning)
    assert editor_data(tab_b)["doc"] == doc.id


def test_a_value_from_an_older_editor_of_the_document_is_not_applied(svc, project):
    fresh, doc = queue(svc, "Alice met Bob .\n")
    at = page("annotate", project_id=fresh.id)
    send(at, "accept", [(0, 1, "PER")], revision=5)
    assert svc.document(doc.id).status == "new"


def test_a_new_session_opens_the_document_in_the_address_in_its_project(svc, project):
    fresh, doc = queue(svc, "Alice met Bob .\nCarol went home .\n")
    second = svc.next_document(fresh.id, after_id=doc.id)
    at = AppTest.from_file(str(PAGES / "annotate.py"), default_timeout=60)
    at.query_params["doc"] = str(second.id)  # a reload of the page that showed the second document
    at.run()
    assert not at.exception
    assert at.session_state["project_id"] == fresh.id and editor_data(at)["doc"] == second.id


def test_two_hundred_labels_all_reach_the_editor_with_keys_only_where_set(svc, project):
    fresh, doc = queue(svc, "Alice met Bob .\n", labels=[f"L{n:03d}" for n in range(200)], name="Many")
    at = page("annotate", project_id=fresh.id)
    assert not at.exception
    labels = editor_data(at)["labels"]
    assert len(labels) == 200 and sum(bool(lb["key"]) for lb in labels) == 9


# ----------------------------------------------------------------------------- Settings


def test_settings_creates_a_project_and_selects_it(svc, project):
    at = page("settings")
    at.text_input(key="new_project_name").input("POS tags")
    at.radio(key="new_project_kind").set_value("tags")
    at.text_input(key="new_project_labels").input("NOUN, VERB")
    at.button(key="FormSubmitter:new_project_form-Create project").click().run()
    assert not at.exception
    created = svc.project("POS tags")
    assert created.task_kind == "tags" and created.label_names == ["NOUN", "VERB"]
    assert at.session_state["project_id"] == created.id


def test_settings_renames_the_project_and_a_label_keeping_history(svc, project):
    svc.import_file(project.id, "x.jsonl", b'{"text": "Acme hired Bob", "spans": [{"start": 0, "end": 4, "label": "ORG"}]}\n')
    at = page("settings")
    at.text_input(key=f"project_name_{project.id}").input("News NER").run()
    at.button(key="rename_project").click().run()
    assert not at.exception and svc.project(project.id).name == "News NER"
    at.text_input(key=f"label_name_{project.id}_ORG").input("COMPANY")
    at.button(key=f"label_save_{project.id}_ORG").click().run()
    assert not at.exception
    assert "COMPANY" in svc.project(project.id).label_names
    doc = svc.documents_frame(project.id, status="corrected")
    entry = svc.history(int(doc["id"][0]))[-1]
    assert entry.before == (Span(0, 4, "ORG"),) and entry.after == (Span(0, 4, "COMPANY"),)


@pytest.mark.parametrize("shortcut, message", [("r", "reserved"), ("2", "already used"), ("ab", None)])
def test_settings_refuses_a_bad_shortcut(svc, project, shortcut, message):
    at = page("settings")
    at.text_input(key=f"label_key_{project.id}_PER").input(shortcut)
    at.button(key=f"label_save_{project.id}_PER").click().run()
    assert not at.exception
    if message:
        assert message in unmd(at.error[0].value)
        assert svc.project(project.id).labels[0].shortcut == "1"


def test_settings_adds_a_label_and_refuses_a_duplicate(svc, project):
    at = page("settings")
    at.text_input(key="new_label_name").input("DATE")
    at.button(key=f"FormSubmitter:add_label_{project.id}-Add label").click().run()
    assert "DATE" in svc.project(project.id).label_names
    at.text_input(key="new_label_name").input("PER")
    at.button(key=f"FormSubmitter:add_label_{project.id}-Add label").click().run()
    assert not at.exception
    assert "already exists" in unmd(at.error[0].value)


def test_settings_refuses_a_base_model_that_is_not_there(svc, project, tmp_path):
    at = page("settings")
    at.text_input(key="base_model").input(str(tmp_path / "no-such-model"))
    at.selectbox(key="decoder").select("softmax")
    at.button(key=f"FormSubmitter:model_form_{project.id}-Save model settings").click().run()
    assert not at.exception
    assert at.error and "no-such-model" in unmd(at.error[0].value)
    assert svc.project(project.id).decoder == "crf"  # nothing half-saved


def test_settings_saves_decoder_encoder_and_a_local_base_model(svc, project, tiny_base):
    at = page("settings")
    at.text_input(key="base_model").input(tiny_base)
    at.selectbox(key="decoder").select("softmax")
    at.selectbox(key="encoder").select("none")
    at.checkbox(key="auto_activate").uncheck()
    at.button(key=f"FormSubmitter:model_form_{project.id}-Save model settings").click().run()
    assert not at.exception
    saved = svc.project(project.id)
    assert (saved.base_model, saved.decoder, saved.encoder, saved.auto_activate) == (tiny_base, "softmax", "none", False)


def test_selection_units_cover_every_non_space_character_once():
    from hypothesis import given
    from hypothesis import strategies as hs

    @given(hs.text(max_size=60))
    def check(text):
        units = ui.selection_units(text)
        covered = "".join(text[a:b] for a, b in units)
        assert covered == "".join(ch for ch in text if not ch.isspace()) or any(
            text[a:b].strip() != text[a:b] for a, b in units)
        assert all(a < b for a, b in units) and all(b1 <= a2 for (_, b1), (a2, _) in zip(units, units[1:]))

    check()
