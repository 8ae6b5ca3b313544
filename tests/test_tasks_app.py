"""A tags (POS) project in the store and the app: import and export unchanged, a file of another
task refused, the worker training a tags model whose accuracy is the version's figure, and the
Tag page showing a tag under every word."""

from __future__ import annotations

import io

import pytest

import worker
from db import jobs
from db.session import data_home, write_session
from tagger.task_formats import write_tags_column
from tests.apptest import page, shown
from tests.conftest import FAST_TRAINING
from tests.test_tasks import pos_corpus

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py
TAGS = sorted({s.label for e in pos_corpus(80) for s in e.spans})


def _file(examples) -> bytes:
    """A tags column file of ``examples``, each text once (the store skips a repeated text)."""
    out = io.StringIO()
    write_tags_column(list({e.text: e for e in examples}.values()), out)
    return out.getvalue().encode("utf-8")


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
