"""The Tag, Annotate and Settings pages through AppTest, on a real SQLite file and a tiny trained model."""

from __future__ import annotations

import re
from html import unescape

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import ui
from services import Services
from tagger.spans import Span
from tests.apptest import page, shown, unmd

XSS = "<img src=x onerror=alert(1)> Alice went to Paris ."


@pytest.fixture()
def svc(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("SEQLAB_DB_URL", url)
    st.cache_resource.clear()
    service = Services(url)
    yield service
    service.close()
    st.cache_resource.clear()


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
    html = at.html[-1].value
    assert re.search(r'data-label="PER"[^>]*>Alice<span class="seqlab-tag"[^>]*>PER 0\.\d\d', html)
    assert 'data-label="LOC"' in html
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
    html = at.html[-1].value
    assert "<img" not in html and "<script" not in html
    visible = re.sub(r'<span class="seqlab-tag"[^>]*>[^<]*</span>|<[^>]+>', "", html)
    assert unescape(visible) == XSS


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


def words(at: AppTest, doc_id: int) -> list[str]:
    return [unmd(o) for o in at.pills(key=f"annotate_sel_{doc_id}").options]


def pick(at: AppTest, doc_id: int, words: list[int]) -> None:
    pills = at.pills(key=f"annotate_sel_{doc_id}")
    pills.set_value(words)


def test_annotate_adds_relabels_deletes_and_accepts(svc, project):
    fresh = svc.create_project("Fresh", ["PER", "ORG", "LOC"])
    svc.import_file(fresh.id, "queue.txt", b"Alice met Bob in Paris .\nCarol went home .\n")
    doc = svc.next_document(fresh.id)
    at = page("annotate", project_id=fresh.id)
    assert not at.exception
    assert words(at, doc.id) == ["Alice", "met", "Bob", "in", "Paris", "."]
    pick(at, doc.id, [0])
    at.button(key="annotate_add_PER").click().run()
    pick(at, doc.id, [2])
    at.button(key="annotate_add_ORG").click().run()
    pick(at, doc.id, [4])
    at.button(key="annotate_add_LOC").click().run()
    assert not at.exception
    assert at.session_state[f"annotate_work_{doc.id}"] == [Span(0, 5, "PER"), Span(10, 13, "ORG"), Span(17, 22, "LOC")]
    at.selectbox(key=f"annotate_label_{doc.id}_1_10_13").select("PER").run()  # relabel Bob
    at.button(key=f"annotate_del_{doc.id}_2_17").click().run()  # delete Paris
    at.button(key="annotate_accept").click().run()
    assert not at.exception
    saved = svc.document(doc.id)
    assert saved.status == "corrected" and saved.spans == (Span(0, 5, "PER"), Span(10, 13, "PER"))
    assert set(saved.sources) == {"human"}
    assert svc.history(doc.id)[-1].annotator == "you"
    nxt = svc.next_document(fresh.id)
    assert at.session_state["annotate_doc"] == nxt.id and nxt.text == "Carol went home ."
    assert at.get("progress")[0].value is not None


def test_annotate_prefills_the_active_models_suggestions(svc, project, with_model):
    svc.import_file(project.id, "queue.txt", b"Dave went to London .\n")
    doc = next(d for d in [svc.next_document(project.id, after_id=i) for i in range(20)]
               if d and d.text == "Dave went to London .")
    at = page("annotate", annotate_doc=doc.id)
    assert not at.exception
    work = at.session_state[f"annotate_work_{doc.id}"]
    assert {(doc.text[s.start:s.end], s.label) for s in work} >= {("Dave", "PER"), ("London", "LOC")}
    assert any("suggestions from model v1" in t for t in shown(at))


def test_selecting_first_and_last_word_makes_one_span_and_replaces_overlaps(svc, project):
    fresh = svc.create_project("Multi", ["ORG", "LOC"])
    svc.import_file(fresh.id, "q.txt", b"He joined the United Nations today .\n")
    doc = svc.next_document(fresh.id)
    at = page("annotate", project_id=fresh.id)
    pick(at, doc.id, [4])
    at.button(key="annotate_add_LOC").click().run()
    pick(at, doc.id, [3, 4])
    at.button(key="annotate_add_ORG").click().run()
    start = len("He joined the ")
    assert at.session_state[f"annotate_work_{doc.id}"] == [Span(start, start + len("United Nations"), "ORG")]


def test_annotate_works_per_character_for_chinese_and_keeps_emoji_whole(svc, project):
    fresh = svc.create_project("Chinese", ["LOC"])
    text = "我在北京工作👩‍👩‍👧。"
    svc.import_file(fresh.id, "zh.txt", text.encode())
    doc = svc.next_document(fresh.id)
    at = page("annotate", project_id=fresh.id)
    # (Streamlit shows an option that is only an emoji as the pill's icon, so its text is empty)
    assert words(at, doc.id) == ["我", "在", "北", "京", "工", "作", "", "。"]
    pick(at, doc.id, [2, 3])
    at.button(key="annotate_add_LOC").click().run()
    at.button(key="annotate_accept").click().run()
    assert not at.exception
    saved = svc.document(doc.id)
    assert [(saved.text[s.start:s.end], s.label) for s in saved.spans] == [("北京", "LOC")]


def test_a_span_edge_inside_a_subword_is_warned_about(svc, project):
    fresh = svc.create_project("Edges", ["ORG"])
    svc.import_file(fresh.id, "q.txt", b"Unbelievable results .\n")
    doc = svc.next_document(fresh.id)
    at = page("annotate", project_id=fresh.id)
    at.number_input(key=f"annotate_start_{doc.id}").set_value(0)
    at.number_input(key=f"annotate_end_{doc.id}").set_value(3).run()
    at.button(key=f"annotate_exact_add_{doc.id}").click().run()
    assert not at.exception
    assert at.session_state[f"annotate_work_{doc.id}"] == [Span(0, 3, "ORG")]
    assert any("Cuts a model subword" in unmd(w.value) for w in at.warning)


def test_annotate_says_when_the_queue_is_empty(svc, project):
    fresh = svc.create_project("Empty", ["PER"])
    at = page("annotate", project_id=fresh.id)
    assert not at.exception
    assert any("Nothing left to correct" in t for t in shown(at))


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


def test_highlight_html_escapes_text_and_labels():
    html = ui.highlight_html("<b>x</b> y", [Span(0, 8, "<i>")], {"<i>": "#ffffff"})
    assert "<b>" not in html and "<i>" not in html
    assert 'data-label="&lt;i&gt;"' in html and "&lt;b&gt;x&lt;/b&gt;" in html


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
