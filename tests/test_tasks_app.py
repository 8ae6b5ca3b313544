"""A tags (POS) project in the store and the app: import and export unchanged, a file of another
task refused, the worker training a tags model whose accuracy is the version's figure, and the
Tag page showing a tag under every word."""

from __future__ import annotations

import json

import pytest

import worker
from db import jobs
from db.session import data_home, write_session
from tagger.task_formats import write_tags_column
from tests.apptest import page, shown
from tests.conftest import FAST_TRAINING
from tests.test_tasks import pos_corpus, task_file

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py
TAGS = sorted({s.label for e in pos_corpus(80) for s in e.spans})


def _file(examples) -> bytes:
    return task_file(write_tags_column, examples)


@pytest.fixture()
def pos_project(training_svc, tiny_base):
    return training_svc.create_project("POS", TAGS, task_kind="tags", base_model=tiny_base)


def test_a_tags_file_imports_and_exports_unchanged(training_svc, pos_project):
    data = _file(pos_corpus(30, seed=4))
    result = training_svc.import_file(pos_project.id, "ewt.txt", data)
    assert result.added == data.count(b"\n\n") + 1 > 10 and result.duplicates == 0
    assert training_svc.export_column(pos_project.id).encode("utf-8") == data
    jsonl = training_svc.export_jsonl(pos_project.id)
    assert '"tags": [{"start": 0' in jsonl and '"spans"' not in jsonl


def test_a_file_of_another_task_is_refused_saying_what_it_holds(training_svc, pos_project):
    from tagger.formats import FormatError

    with pytest.raises(FormatError, match="holds entity spans"):
        training_svc.import_file(pos_project.id, "ner.txt", b"EU B-ORG\nrejects O\n")
    ner = training_svc.create_project("NER", ["ORG"])
    with pytest.raises(FormatError, match="holds a tag per word"):
        training_svc.import_file(ner.id, "ewt.txt", _file(pos_corpus(3)))
    preview = training_svc.preview_upload("ewt.txt", _file(pos_corpus(3)), project_id=pos_project.id)
    assert preview.total == len(_file(pos_corpus(3)).split(b"\n\n")) and not preview.new_labels


def test_the_worker_trains_a_tags_project(training_svc, pos_project):
    training_svc.import_file(pos_project.id, "ewt.txt", _file(pos_corpus(60, seed=5)))
    training_svc.start_training(pos_project.id, **{**FAST_TRAINING, "epochs": 8})
    with write_session(training_svc.factory) as s:
        job = jobs.claim_next(s, "test")
    done = worker.run_job(training_svc.factory, job, data_home())
    assert done.state == "succeeded", done.message
    version = training_svc.active_version(pos_project.id)
    assert version.config["task"] == "tags" and version.metrics["accuracy"] == version.f1 > 0.5
    tagger = training_svc.load_tagger(version)
    words = training_svc.tag_text(tagger, "Alice went to Paris .")
    assert [s.end - s.start for s in words] == [5, 4, 2, 5, 1] and all(s.label in TAGS for s in words)


def test_the_tag_page_shows_a_tag_under_every_word(page_svc, tiny_base, tmp_path):
    from tagger.train import TrainConfig, train

    result = train(pos_corpus(40, seed=1), [], TrainConfig(base_model=tiny_base, task="tags", epochs=6, batch_size=8,
                                                           lr=3e-3, head_lr=1e-2, max_length=64, lstm_hidden=16))
    folder = result.save(tmp_path / "pos-model")
    project = page_svc.create_project("POS", TAGS, task_kind="tags", base_model=tiny_base)
    page_svc.register_version(project.id, str(folder), activate=True)
    at = page("tag", project_id=project.id)
    at.text_area(key="tag_text").input("Bob <b>went</b> to Berlin .")
    at.button(key="tag_button").click().run()
    assert not at.exception
    html = "".join(h.proto.body for h in at.get("html"))
    assert html.count('class="seqlab-word') == len(at.dataframe[0].value) >= 5
    assert "&lt;" in html and "<b>" not in html  # the text is escaped
    assert set(at.dataframe[0].value["tag"]) <= set(TAGS)


# ----------------------------------------------------------------------------- frames (SRL)

from tagger.task_formats import write_frames_column  # noqa: E402
from tests.test_tasks import srl_corpus  # noqa: E402

ROLES = sorted({a.label for e in srl_corpus(80) for f in e.frames for a in f.arguments})


def _frames_file(examples) -> bytes:
    return task_file(write_frames_column, examples)


@pytest.fixture()
def srl_project(training_svc, tiny_base):
    return training_svc.create_project("SRL", ROLES, task_kind="frames", base_model=tiny_base)


def test_a_frames_file_imports_and_exports_unchanged_with_history(training_svc, srl_project):
    from db import repo

    data = _frames_file(srl_corpus(30, seed=4))
    result = training_svc.import_file(srl_project.id, "up.txt", data)
    assert result.added > 5 and result.duplicates == 0
    assert training_svc.export_column(srl_project.id).encode("utf-8") == data
    assert '"frames": [{"predicate"' in training_svc.export_jsonl(srl_project.id)
    with training_svc.factory() as s:
        doc = next(repo.iter_documents(s, srl_project.id))
    assert doc.frames and doc.status == "corrected"
    frame = doc.frames[0]
    fixed = (type(frame)(frame.predicate, frame.arguments[1:]),) + doc.frames[1:]
    saved = training_svc.save_frames_correction(doc.id, fixed, "ann", expected_version=doc.version)
    assert saved.frames == fixed and saved.version == doc.version + 1
    entry = training_svc.history(doc.id)[-1]
    assert entry.before_frames == doc.frames and entry.after_frames == fixed and entry.annotator == "ann"


def test_a_stale_or_bad_frames_correction_is_refused(training_svc, srl_project):
    from db.repo import StaleDocument
    from tagger.spans import Frame, Span, SpanError

    training_svc.import_file(srl_project.id, "up.txt", _frames_file(srl_corpus(5, seed=4)))
    doc = training_svc.next_document(srl_project.id) or training_svc.document(1)
    frames = (Frame(Span(0, 3, "x.01"), (Span(0, 3, "ARG0"),)),)
    with pytest.raises(SpanError, match="overlaps its predicate"):
        training_svc.save_frames_correction(doc.id, frames, "ann")
    with pytest.raises(SpanError, match="unknown label"):
        training_svc.save_frames_correction(doc.id, (Frame(Span(0, 3, "x.01"), (Span(4, 5, "NOPE"),)),), "ann")
    with pytest.raises(StaleDocument):
        training_svc.save_frames_correction(doc.id, (), "ann", expected_version=doc.version + 5)


def test_the_worker_trains_a_frames_project_and_the_tag_page_shows_its_frames(training_svc, srl_project, monkeypatch):
    training_svc.import_file(srl_project.id, "up.txt", _frames_file(srl_corpus(60, seed=5)))
    training_svc.start_training(srl_project.id, **{**FAST_TRAINING, "epochs": 10})
    with write_session(training_svc.factory) as s:
        job = jobs.claim_next(s, "test")
    done = worker.run_job(training_svc.factory, job, data_home())
    assert done.state == "succeeded", done.message
    version = training_svc.active_version(srl_project.id) or training_svc.versions(srl_project.id)[0]
    assert version.config["task"] == "frames" and "ARG0" in version.metrics["per_label"]
    tagger = training_svc.load_tagger(version)
    frames = training_svc.tag_frames(tagger, "The Acme Corp said Bob visited Paris today .")
    assert all(f.predicate.label.endswith(".01") for f in frames)
    # the worker ranks the project's queue with it (raw text: the predicate finder, then the arguments)
    waiting = [training_svc.save_for_correction(srl_project.id, t)
               for t in ("Dave visited Berlin today .", "The Globex Corp said nothing .")]
    assert worker.rank_queues(training_svc.factory) == 1
    reasons = [training_svc.queue_reason(d.id) for d in waiting]
    assert all(r is not None and r.version_id == version.id for r in reasons), reasons


def test_the_tag_and_annotate_pages_of_a_frames_project(page_svc, tiny_base, tmp_path):
    from tagger.train import TrainConfig, train

    result = train(srl_corpus(40, seed=1), [], TrainConfig(base_model=tiny_base, task="frames", epochs=6,
                                                           batch_size=8, lr=3e-3, head_lr=1e-2, max_length=64,
                                                           lstm_hidden=16))
    folder = result.save(tmp_path / "srl-model")
    project = page_svc.create_project("SRL", ROLES, task_kind="frames", base_model=tiny_base)
    page_svc.register_version(project.id, str(folder), activate=True)
    at = page("tag", project_id=project.id)
    at.text_area(key="tag_text").input("The <i>Acme</i> Corp said Bob visited Paris today .")
    at.button(key="tag_button").click().run()
    assert not at.exception
    html = "".join(h.proto.body for h in at.get("html"))
    assert html.count('class="seqlab-frame"') == html.count('class="seqlab-predicate"') >= 1
    assert "<i>" not in html
    page_svc.save_for_correction(project.id, "Alice went to Berlin .")
    annotate = page("annotate", project_id=project.id)
    assert not annotate.exception
    assert any("One row per predicate" in t for t in shown(annotate))
    rows = [m.value for m in annotate.markdown if m.value.startswith("**Predicate ")]  # the model's, one row each
    assert len(_editors(annotate)) == len(rows) >= 1


def _editors(at) -> list:
    return [e for e in at.main if getattr(e, "proto", None) is not None
            and getattr(e.proto, "component_name", "") == "seqlab_span_editor"]


def _send(at, k: int, event: str, ranges):
    """The page run as if the k-th row's editor sent ``event`` with ``ranges``."""
    from tests.test_pages import send

    return send(at, event, ranges, nth=k)


def test_frame_mode_adds_predicates_and_stores_every_rows_arguments(page_svc):
    from tagger.spans import Frame, Span

    project = page_svc.create_project("SRL", ROLES, task_kind="frames")
    text = "The Acme Corp said Bob visited Paris today ."
    page_svc.import_file(project.id, "raw.txt", (text + "\n").encode())
    at = page("annotate", project_id=project.id)
    assert not at.exception and any("No predicate in this document yet" in t for t in shown(at))
    for word, sense in (("visited", "visit.01"), ("said", "say.01")):
        # the box on screen: session state also keeps the key of the box before the last predicate
        box = next(b for b in at.selectbox if str(b.key).startswith("annotate_new_predicate_"))
        box.select(next(o for o in box.options if o.startswith(word + " "))).run()
        at.text_input(key="annotate_new_sense_1").input(sense).run()
        at.button(key="annotate_add_predicate_1").click().run()
        assert not at.exception
    assert len(_editors(at)) == 2  # rows in text order: "said", then "visited"
    units = json.loads(_editors(at)[0].proto.json)["units"]
    said = [(0, units.index("said"), "ARG0"), (units.index("Bob"), units.index("."), "ARG1")]
    at = _send(at, 0, "work", said)
    units = json.loads(_editors(at)[1].proto.json)["units"]
    visited = [(units.index("Bob"), units.index("Bob") + 1, "ARG0"), (units.index("Paris"), units.index("Paris") + 1,
                                                                       "ARG1")]
    at = _send(at, 1, "accept", visited)
    assert not at.exception
    doc = page_svc.document(1)
    assert doc.status == "corrected"
    assert [(text[f.predicate.start:f.predicate.end], f.predicate.label,
             [(text[a.start:a.end], a.label) for a in f.arguments]) for f in doc.frames] == [
        ("said", "say.01", [("The Acme Corp", "ARG0"), ("Bob visited Paris today", "ARG1")]),
        ("visited", "visit.01", [("Bob", "ARG0"), ("Paris", "ARG1")])]
    assert isinstance(doc.frames[0], Frame) and doc.frames[0].predicate == Span(14, 18, "say.01")
