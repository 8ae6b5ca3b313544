"""The queue asks for what the model is least sure of (issue 12, part 1): expected errors and
uncertainty from the model's marginals, diversity, the per-project order, and the worker ranking
after a retrain."""

from __future__ import annotations

import shutil

import pytest
import torch

import worker
from db.session import data_home
from services.loop import RankConfig, diverse_order, interleave, rank_queue
from tagger.predict import Tagger
from tagger.spans import SeqLabError
from tests.conftest import FAST_TRAINING, add_labelled_project

SURE = "alice went to paris ."
UNSURE = "bob went to berlin ."  # the oracle below gives "berlin" no clear tag


class _Oracle:
    """Emissions from a table: every subword a clear O, but ``berlin`` split between O and B-LOC."""

    def __init__(self, tagger: Tagger):
        tags = tagger.model.head.tags
        vocab = tagger.encoder.tokenizer.get_vocab()
        self.table = torch.zeros(len(vocab), len(tags))
        self.table[:, tags.index("O")] = 9.0  # p(O) > 0.999: a sure word adds < 0.001 expected errors
        for word, tag in (("alice", "B-PER"), ("bob", "B-PER"), ("paris", "B-LOC")):
            self.table[vocab[word]] = 0.0
            self.table[vocab[word], tags.index(tag)] = 9.0
        self.table[vocab["berlin"]] = 0.0
        self.table[vocab["berlin"], tags.index("O")] = 1.0
        self.table[vocab["berlin"], tags.index("B-LOC")] = 1.2

    def __call__(self, batch, offset):
        width = int(batch["lengths"].max())
        return self.table[batch["input_ids"][:, offset : offset + width]]


@pytest.fixture()
def oracle_tagger(trained_softmax_dir, monkeypatch) -> Tagger:
    tagger = Tagger.load(trained_softmax_dir)
    monkeypatch.setattr(tagger.model, "emissions", _Oracle(tagger))
    return tagger


def _pool(svc, texts, order="uncertainty"):
    project = svc.create_project("Pool", ["PER", "LOC", "ORG"])
    if order != "uncertainty":
        svc.update_project(project.id, queue_order=order)
    docs = [svc.save_for_correction(project.id, t) for t in texts]
    return project, docs


def _queue(svc, project_id) -> list[str]:
    out, doc = [], svc.next_document(project_id)
    while doc is not None:
        out.append(doc.text)
        doc = svc.next_document(project_id, after_id=doc.id)
    return out


# ---------------------------------------------------------------------- uncertainty


def test_a_sentence_the_model_is_sure_of_is_less_uncertain_than_one_it_is_not(oracle_tagger):
    sure, unsure = oracle_tagger.analyse([SURE, UNSURE])
    assert 0.0 <= sure.uncertainty < 0.02 < unsure.uncertainty <= 1.0
    assert [(s.label, s.start) for s in unsure.unsure] == [("LOC", len("bob went to "))]


def test_uncertainty_does_not_grow_with_length_alone(oracle_tagger):
    short, long = oracle_tagger.analyse([UNSURE, UNSURE + " " + " ".join([SURE] * 8)])
    assert long.uncertainty < short.uncertainty


def test_expected_errors_count_the_words_the_model_may_have_wrong(oracle_tagger):
    sure, unsure, twice, padded = oracle_tagger.analyse(
        [SURE, UNSURE, "bob went to berlin and berlin .", UNSURE + " " + " ".join([SURE] * 8)])
    assert 0.0 <= sure.expected_errors < 0.02
    assert 0.3 < unsure.expected_errors < 1.0  # one word of five split about evenly between two tags
    assert twice.expected_errors == pytest.approx(2 * unsure.expected_errors, abs=0.02)  # a sum, not a mean
    assert padded.expected_errors == pytest.approx(unsure.expected_errors, abs=0.05)  # sure words add ~nothing
    assert padded.uncertainty < unsure.uncertainty  # while the normalised score falls


def test_analyse_gives_the_spans_predict_gives(trained_dir, corpus):
    tagger = Tagger.load(trained_dir)
    texts = [ex.text for ex in corpus[100:110]] + ["", "北京 🙂 paris"]
    assert [p.spans for p in tagger.analyse(texts)] == tagger.predict(texts)
    assert all(0.0 <= p.uncertainty <= 1.0 for p in tagger.analyse(texts))


def test_near_copies_are_pushed_back_behind_distinct_documents():
    items = [(0.9, "the cat sat on the mat"), (0.89, "the cat sat on the mat ."), (0.88, "the cat sat on a mat"),
             (0.5, "stocks fell in tokyo"), (0.4, "rain is expected in london")]
    assert diverse_order(items) == [0, 3, 4, 1, 2]
    assert diverse_order(items, RankConfig(similar=1.01)) == [0, 1, 2, 3, 4]  # diversity off


# ---------------------------------------------------------------------- the queue


def test_the_ranked_queue_asks_for_the_most_uncertain_first(svc, oracle_tagger, trained_softmax_dir):
    project, docs = _pool(svc, [SURE, UNSURE, "alice went to paris today ."])
    version = svc.register_version(project.id, trained_softmax_dir, activate=True)
    assert _queue(svc, project.id)[0] == SURE  # not ranked yet: file order
    rank_queue(svc.factory, project.id, version.id, oracle_tagger)
    assert _queue(svc, project.id)[0] == UNSURE
    reason = svc.queue_reason(docs[1].id)
    assert (reason.rank, reason.ranked) == (0, 3) and reason.uncertainty > 0.02
    assert [s.label for s in reason.unsure] == ["LOC"]


def test_a_sentence_with_more_words_in_doubt_ranks_first_though_its_mean_doubt_is_lower(svc, oracle_tagger,
                                                                                         trained_softmax_dir):
    longer = "bob went to berlin , alice went to paris and dave went to berlin ."
    project, docs = _pool(svc, [SURE, UNSURE, longer])
    version = svc.register_version(project.id, trained_softmax_dir, activate=True)
    rank_queue(svc.factory, project.id, version.id, oracle_tagger, RankConfig(explore_every=0))
    assert _queue(svc, project.id) == [longer, UNSURE, SURE]
    reasons = [svc.queue_reason(d.id) for d in docs]
    assert reasons[2].uncertainty < reasons[1].uncertainty  # Annotate still shows the normalised uncertainty


def test_a_pool_larger_than_the_diversity_window_is_ranked_whole(svc, oracle_tagger, trained_softmax_dir):
    texts = [SURE, UNSURE, "bob said berlin and berlin .", "carol smith works at acme corp .", "dave said nothing ."]
    project, _ = _pool(svc, texts)
    version = svc.register_version(project.id, trained_softmax_dir, activate=True)
    # only the texts of the top 2 are kept while the pool streams past (rank_queue's bounded memory)
    rank_queue(svc.factory, project.id, version.id, oracle_tagger, RankConfig(diversity_window=2, explore_every=0))
    small = _queue(svc, project.id)
    rank_queue(svc.factory, project.id, version.id, oracle_tagger, RankConfig(explore_every=0))
    assert small == _queue(svc, project.id) and sorted(small) == sorted(texts)
    assert small[:2] == ["bob said berlin and berlin .", UNSURE]
    scores = {t: p.expected_errors for t, p in zip(texts, oracle_tagger.analyse(texts))}
    assert [scores[t] for t in small] == sorted(scores.values(), reverse=True)


def test_every_other_place_goes_to_the_next_random_draw_not_yet_placed():
    ranked, drawn = list(range(8)), [7, 1, 6, 0, 5, 4, 3, 2]
    assert interleave(ranked, drawn) == [0, 7, 1, 6, 2, 5, 3, 4]
    assert interleave(ranked, drawn, RankConfig(explore_every=3)) == [0, 1, 7, 2, 3, 6, 4, 5]
    assert interleave(ranked, drawn, RankConfig(explore_every=0)) == ranked


def test_the_ranked_queue_mixes_in_random_draws_the_same_way_each_time(svc, oracle_tagger, trained_softmax_dir):
    texts = [SURE, UNSURE, "bob said berlin and berlin ."] + [f"dave said nothing {i} ." for i in range(9)]
    project, docs = _pool(svc, texts)
    version = svc.register_version(project.id, trained_softmax_dir, activate=True)
    rank_queue(svc.factory, project.id, version.id, oracle_tagger)
    queue = _queue(svc, project.id)
    rank_queue(svc.factory, project.id, version.id, oracle_tagger)
    assert _queue(svc, project.id) == queue and sorted(queue) == sorted(texts)
    assert queue[0] == "bob said berlin and berlin ." and UNSURE in queue[:4]  # by score, places 0 and 2
    by_id = {d.text: d.id for d in docs}
    assert [svc.queue_reason(by_id[t]).drawn for t in queue[:4]] == [False, True, False, True]


def test_a_corrected_document_leaves_the_ranked_queue_and_new_ones_come_after(svc, oracle_tagger,
                                                                                 trained_softmax_dir):
    project, docs = _pool(svc, [SURE, UNSURE])
    version = svc.register_version(project.id, trained_softmax_dir, activate=True)
    rank_queue(svc.factory, project.id, version.id, oracle_tagger)
    svc.save_correction(docs[1].id, [], annotator="ann")
    assert svc.queue_reason(docs[1].id) is None
    later = svc.save_for_correction(project.id, "carol smith works at acme corp .")
    assert _queue(svc, project.id) == [SURE, later.text]


def test_after_an_accept_the_queue_goes_on_with_the_most_uncertain_left(svc, oracle_tagger, trained_softmax_dir):
    texts = [SURE, UNSURE, "bob said berlin .", "alice went to paris today ."]
    project, docs = _pool(svc, texts)
    version = svc.register_version(project.id, trained_softmax_dir, activate=True)
    rank_queue(svc.factory, project.id, version.id, oracle_tagger)
    ranked = _queue(svc, project.id)
    first = svc.next_document(project.id)
    svc.save_correction(first.id, [], annotator="ann")  # accepted: it leaves the queue
    assert svc.next_document(project.id, after_id=first.id).text == ranked[1]
    skipped = svc.next_document(project.id, after_id=first.id)
    assert svc.next_document(project.id, after_id=skipped.id).text == ranked[2]  # skip: the next in rank


def test_the_queue_order_is_kept_per_project_and_checked(svc):
    project, _ = _pool(svc, ["a", "b"])
    other = svc.create_project("Other", ["PER"])
    assert svc.project(project.id).queue_order == "uncertainty"
    svc.update_project(project.id, queue_order="random")
    assert (svc.project(project.id).queue_order, svc.project(other.id).queue_order) == ("random", "uncertainty")
    with pytest.raises(SeqLabError, match="queue order must be one of uncertainty, file, random"):
        svc.update_project(project.id, queue_order="loudest")


def test_the_random_order_is_stable_and_asks_for_every_document_once(svc):
    texts = [f"document number {i}" for i in range(30)]
    project, _ = _pool(svc, texts, order="random")
    first = _queue(svc, project.id)
    assert sorted(first) == sorted(texts) and first != texts
    assert _queue(svc, project.id) == first


def test_file_order_ignores_a_ranking(svc, oracle_tagger, trained_softmax_dir):
    project, _ = _pool(svc, [SURE, UNSURE], order="file")
    version = svc.register_version(project.id, trained_softmax_dir, activate=True)
    rank_queue(svc.factory, project.id, version.id, oracle_tagger)
    assert _queue(svc, project.id) == [SURE, UNSURE]


# ---------------------------------------------------------------------- the worker


def test_the_worker_ranks_the_queue_after_a_job_and_again_after_a_rollback(training_svc, tiny_base):
    svc = training_svc
    project = add_labelled_project(svc, tiny_base, n=40)
    waiting = [svc.save_for_correction(project.id, t) for t in ("alice went to berlin .", "dave said nothing .")]
    svc.start_training(project.id, **FAST_TRAINING)
    worker.serve(svc.factory, data_home(), once=True)
    first = svc.active_version(project.id)
    assert first is not None
    assert all(svc.queue_reason(d.id).version_id == first.id for d in waiting)
    # a second version, then a rollback to the first: the worker ranks with whichever is active
    svc.start_training(project.id, **{**FAST_TRAINING, "epochs": 4})
    worker.serve(svc.factory, data_home(), once=True)
    svc.activate_version(first.id)
    assert worker.rank_queues(svc.factory) == 1
    assert svc.queue_reason(waiting[0].id).version_id == first.id
    assert worker.rank_queues(svc.factory) == 0  # nothing changed since


def test_a_ranking_that_fails_leaves_the_queue_in_file_order(svc, tmp_path, trained_softmax_dir):
    project, _ = _pool(svc, [SURE, UNSURE])
    folder = tmp_path / "gone"
    shutil.copytree(trained_softmax_dir, folder)
    svc.register_version(project.id, folder, activate=True)
    shutil.rmtree(folder)
    assert worker.rank_queues(svc.factory) == 1
    assert _queue(svc, project.id) == [SURE, UNSURE]
    assert worker.rank_queues(svc.factory) == 0  # not retried on every poll


# ---------------------------------------------------------------------- Settings


def test_settings_changes_the_queue_order_of_the_project(page_svc):
    from tests.apptest import page

    project = page_svc.ensure_default_project()
    at = page("settings")
    at.selectbox(key=f"queue_order_{project.id}").set_value("random").run()
    assert not at.exception
    assert page_svc.project(project.id).queue_order == "random"
    assert at.selectbox(key=f"queue_order_{project.id}").value == "random"


# ---------------------------------------------------------------------- python -m tagger rank


def _rank(argv, capsys) -> tuple[int, list[dict], str]:
    import json

    from tagger.__main__ import main

    code = main(["rank", *map(str, argv)])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_rank_writes_every_text_in_the_queue_order(trained_dir, corpus, tmp_path, capsys):
    texts = [ex.text for ex in corpus[100:120]] + ["zq xv qq jj", "北京 🙂 paris"]
    path = tmp_path / "pool.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    code, records, _ = _rank(["--model", trained_dir, path], capsys)
    assert code == 0
    assert sorted(r["text"] for r in records) == sorted(texts)
    scores = [r["expected_errors"] for r in records]  # what the worker ranks the queue by
    assert scores == sorted(scores, reverse=True) and all(0 <= u <= 1 for u in (r["uncertainty"] for r in records))
    tagger = Tagger.load(trained_dir, quantize=True)
    expected = {t: p for t, p in zip(texts, tagger.analyse(texts))}
    assert all(r["uncertainty"] == expected[r["text"]].uncertainty for r in records)
    assert all(r["expected_errors"] == expected[r["text"]].expected_errors for r in records)
    assert all({"start", "end", "label", "score"} <= set(s) for r in records for s in r["spans"] + r["unsure"])


def test_rank_reads_standard_input_and_keeps_the_top(trained_dir, corpus, monkeypatch, capsys):
    import io
    import sys

    texts = [ex.text for ex in corpus[100:110]]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(texts) + "\n"))
    code, records, _ = _rank(["--model", trained_dir, "--top", 3], capsys)
    assert code == 0 and len(records) == 3
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(texts) + "\n"))
    _, everything, _ = _rank(["--model", trained_dir], capsys)
    assert records == everything[:3]


def test_rank_refuses_a_top_below_one(trained_dir, tmp_path, capsys):
    path = tmp_path / "pool.txt"
    path.write_text("alice went to paris .\n", encoding="utf-8")
    code, _, err = _rank(["--model", trained_dir, "--top", 0, path], capsys)
    assert code == 2 and "--top must be at least 1" in err


def test_annotate_says_why_the_document_is_next(page_svc, oracle_tagger, trained_softmax_dir):
    from tests.apptest import page, shown

    svc = page_svc
    project, docs = _pool(svc, [SURE, UNSURE])
    version = svc.register_version(project.id, trained_softmax_dir, activate=True)
    rank_queue(svc.factory, project.id, version.id, oracle_tagger)
    at = page("annotate", project_id=project.id)
    assert not at.exception
    assert at.session_state["annotate_doc"] == docs[1].id  # the unsure one first
    reason = svc.queue_reason(docs[1].id)
    assert any(f"Next because the model is unsure of it: uncertainty {reason.uncertainty:.2f}, number 1 of "
               f"the 2 it ranked; unsure of 'berlin' LOC" in t for t in shown(at)), shown(at)
    svc.save_correction(docs[1].id, [], annotator="ann")  # the second place is the random draw
    at = page("annotate", project_id=project.id)
    assert any(t.startswith("Next as a random draw") and "number 2 of the 2 it ranked" in t for t in shown(at)), \
        shown(at)
