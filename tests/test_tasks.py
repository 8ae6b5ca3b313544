"""The tags (POS) and frames (SRL) tasks: formats (round trips, detection, bad input), the engine
(a tiny model per task trained, saved, reloaded, predicting the same), the predicate finder, and
the CLI from files."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagger.formats import FormatError, read, write_jsonl
from tagger.formats import _looks_char_level as looks_char_level
from tagger.spans import Example, Frame, SpanError, Span, make_example, validate_tags
from tagger.task_formats import detect_task, write_frames_column, write_tags_column
from tests.conftest import ORGS, PERSONS, PLACES

ROOT = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------------------- tiny corpora

POS = {"went": "VERB", "visited": "VERB", "works": "VERB", "said": "VERB", "to": "ADP", "at": "ADP", "in": "ADP",
       "from": "ADP", "the": "DET", "and": "CCONJ", "today": "NOUN", ".": "PUNCT", ",": "PUNCT"}


def _words(rng: random.Random, template: list[str]) -> tuple[list[str], list[str]]:
    """(words, slot of each word) of a template whose slots PER/LOC/ORG become names."""
    pools = {"PER": PERSONS, "LOC": PLACES, "ORG": ORGS}
    words, slots = [], []
    for slot in template:
        if slot in pools:
            for w in rng.choice(pools[slot]).split():
                words.append(w.capitalize())
                slots.append(slot)
        else:
            words.append(slot)
            slots.append(slot)
    return words, slots


TEMPLATES = [["PER", "went", "to", "LOC", "."], ["PER", "works", "at", "ORG", "in", "LOC", "."],
             ["the", "ORG", "said", "PER", "visited", "LOC", "today", "."]]


def pos_corpus(n: int, seed: int = 0) -> list[Example]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words, slots = _words(rng, rng.choice(TEMPLATES))
        text, spans = _join(words)
        out.append(Example(text, tuple(Span(a, b, POS.get(w, "PROPN")) for (a, b), w in zip(spans, words))))
    return out


def _join(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    spans, pos = [], 0
    for w in words:
        spans.append((pos, pos + len(w)))
        pos += len(w) + 1
    return " ".join(words), spans


def _cover(offsets, slots, wanted: set[str], after: int | None = None, before: int | None = None):
    """[start, end) over the words whose slot is in ``wanted`` (between word indices)."""
    idx = [k for k, s in enumerate(slots) if s in wanted and (after is None or k > after)
           and (before is None or k < before)]
    return (offsets[idx[0]][0], offsets[idx[-1]][1]) if idx else None


def srl_corpus(n: int, seed: int = 0) -> list[Example]:
    """Sentences with one predicate ("went", "works") or two ("said" and "visited")."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        template = rng.choice(TEMPLATES)
        words, slots = _words(rng, template)
        text, offsets = _join(words)
        k = {w: i for i, w in enumerate(words)}
        frames = []
        if "went" in k:
            v = k["went"]
            frames.append(Frame(Span(*offsets[v], "go.01"), (
                Span(*_cover(offsets, slots, {"PER"}), "ARG0"),
                Span(offsets[k["to"]][0], _cover(offsets, slots, {"LOC"})[1], "ARG4"))))
        elif "works" in k:
            v = k["works"]
            frames.append(Frame(Span(*offsets[v], "work.01"), (
                Span(*_cover(offsets, slots, {"PER"}), "ARG0"),
                Span(offsets[k["at"]][0], _cover(offsets, slots, {"ORG"})[1], "ARG2"),
                Span(offsets[k["in"]][0], _cover(offsets, slots, {"LOC"})[1], "ARGM-LOC"))))
        else:
            s, v = k["said"], k["visited"]
            frames.append(Frame(Span(*offsets[s], "say.01"), (
                Span(0, _cover(offsets, slots, {"ORG"})[1], "ARG0"),
                Span(_cover(offsets, slots, {"PER"})[0], offsets[k["today"]][1], "ARG1"))))
            frames.append(Frame(Span(*offsets[v], "visit.01"), (
                Span(*_cover(offsets, slots, {"PER"}), "ARG0"),
                Span(*_cover(offsets, slots, {"LOC"}), "ARG1"),
                Span(*offsets[k["today"]], "ARGM-TMP"))))
        out.append(make_example(text, frames=frames))
    return out


def task_file(write, examples) -> bytes:
    """``examples`` written by ``write`` (write_tags_column, write_frames_column), each text once
    (the store skips a repeated text), as the bytes of an upload."""
    out = io.StringIO()
    write(list({e.text: e for e in examples}.values()), out)
    return out.getvalue().encode("utf-8")


# ----------------------------------------------------------------------------- formats

_token = st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "S")), min_size=1, max_size=6)
_tag = st.sampled_from(["NOUN", "VERB", "ADP", "PUNCT", "X", "SYM", "PROPN"])


@st.composite
def tags_examples(draw) -> Example:
    words = draw(st.lists(_token.filter(lambda t: t != "-DOCSTART-"), min_size=1, max_size=8))
    text, offsets = _join(words)
    return Example(text, tuple(Span(a, b, draw(_tag)) for a, b in offsets))


@st.composite
def frames_examples(draw) -> Example:
    words = draw(st.lists(_token.filter(lambda t: t != "-DOCSTART-"), min_size=1, max_size=8))
    text, offsets = _join(words)
    frames = []
    for v in sorted(draw(st.sets(st.integers(0, len(words) - 1), max_size=3))):
        free = [k for k in range(len(words)) if k != v]
        arguments, k = [], 0
        while k < len(free):  # runs of consecutive free words, some of them arguments
            j = k
            while j + 1 < len(free) and free[j + 1] == free[j] + 1 and draw(st.booleans()):
                j += 1
            if draw(st.booleans()):
                arguments.append(Span(offsets[free[k]][0], offsets[free[j]][1],
                                      draw(st.sampled_from(["ARG0", "ARG1", "ARGM-TMP", "C-ARG1", "R-ARG0"]))))
            k = j + 1
        frames.append(Frame(Span(*offsets[v], draw(st.sampled_from(["run.01", "-", "say.02"]))), tuple(arguments)))
    return make_example(text, frames=frames)


@settings(max_examples=60, deadline=None)
@given(st.lists(tags_examples(), min_size=1, max_size=5))
def test_tags_column_and_jsonl_round_trip(examples):
    column = io.StringIO()
    write_tags_column(examples, column)
    if not looks_char_level([w for e in examples for w in e.text.split(" ")]):
        # (a file of single characters, most of them CJK, reads back unspaced: "0 㐀" as "0㐀")
        assert list(read(column.getvalue(), fmt="column", task="tags").examples) == examples
    jsonl = io.StringIO()
    write_jsonl(examples, jsonl, task="tags")
    back = read(jsonl.getvalue(), fmt="jsonl")
    assert back.task == "tags" and list(back.examples) == examples


@settings(max_examples=60, deadline=None)
@given(st.lists(frames_examples(), min_size=1, max_size=5))
def test_frames_column_and_jsonl_round_trip(examples):
    column = io.StringIO()
    write_frames_column(examples, column)
    if not looks_char_level([w for e in examples for w in e.text.split(" ")]):
        # (a file of single characters, most of them CJK, reads back unspaced: "0 㐀" as "0㐀")
        assert list(read(column.getvalue(), fmt="column", task="frames").examples) == examples
    jsonl = io.StringIO()
    write_jsonl(examples, jsonl, task="frames")
    back = read(jsonl.getvalue(), fmt="jsonl")
    assert back.task == "frames" and list(back.examples) == examples


def test_a_repeated_sentence_reads_back_as_two():
    one = make_example("I ran", frames=[Frame(Span(2, 5, "run.01"), (Span(0, 1, "ARG0"),))])
    out = io.StringIO()
    write_frames_column([one, one], out)
    assert "# sentence" in out.getvalue()
    assert list(read(out.getvalue(), fmt="column").examples) == [one, one]


POS_FILE = "From\tADP\nthe\tDET\nAP\tPROPN\n\nGood\tADJ\nfood\tNOUN\n"
SRL_FILE = ("President\t-\tB-ARG0\nBush\t-\tI-ARG0\nnominated\tnominate.01\tB-V\ntwo\t-\tB-ARG1\n\n"
            "Good\t\tB-V\nfood\t-\tB-\n")


def test_the_task_is_detected_from_the_content():
    assert detect_task("column", POS_FILE) == "tags"
    assert detect_task("column", SRL_FILE) == "frames"
    assert detect_task("column", "EU B-ORG\nrejects O\n") == "spans"
    assert detect_task("jsonl", '{"text": "a", "tags": []}\n') == "tags"
    assert detect_task("text", "a line\n") is None
    assert detect_task("column", "#\tSYM\n") == "tags"  # the word "#" (hypothesis found "#" NOUN read as spans)
    assert detect_task("column", "# sent_id = 1\nGood\tADJ\n") == "tags"
    pos = read(POS_FILE, fmt="column")
    assert pos.task == "tags" and [e.text for e in pos.examples] == ["From the AP", "Good food"]
    assert [s.label for s in pos.examples[0].spans] == ["ADP", "DET", "PROPN"]
    srl = read(SRL_FILE, fmt="column")
    assert srl.task == "frames" and len(srl.examples) == 2
    frame = srl.examples[0].frames[0]
    assert frame.predicate == Span(15, 24, "nominate.01")
    assert [(a.label, srl.examples[0].text[a.start:a.end]) for a in frame.arguments] == [
        ("ARG0", "President Bush"), ("ARG1", "two")]
    # UP's empty sense and role-less "B-": the predicate without a sense, the word outside any argument
    assert srl.examples[1].frames == (Frame(Span(0, 4, "-"), ()),) and srl.warnings


@pytest.mark.parametrize("content, fmt, task, message, line", [
    ("From\tADP\nthe\tB-DET\nAP\tPROPN\n", "column", "tags", "a file mixes the tasks", 2),
    ("ran\trun.01\tB-V\nhome\tB-ARG1\n", "column", "frames", "a file mixes the tasks", 2),
    ("ran\trun.01\tB-V\nfast\tgo.01\tB-V\n", "column", "frames", "second predicate", 2),
    ("ran\t-\tB-V\nhome\tgo.01\tO\n", "column", "frames", "away from the B-V", 2),
    ("ran\trun.01\tO\n", "column", "frames", "no word is tagged B-V", 1),
    ('{"text": "a b", "tags": [{"start": 0, "end": 1, "tag": "X"}, {"start": 2, "end": 3, "tag": "X"}]}\n'
     '{"text": "c", "spans": []}\n', "jsonl", "tags", "a file mixes the tasks", 2),
    ('{"text": "a b", "tags": [{"start": 0, "end": 1, "tag": "X"}]}\n', "jsonl", "tags", "has no tag", 1),
    ('{"text": "a b", "frames": [{"predicate": {"start": 0, "end": 1}, "arguments": '
     '[{"start": 0, "end": 3, "label": "ARG0"}]}]}\n', "jsonl", "frames", "overlaps its predicate", 1),
    ('{"text": "a b", "frames": [{"predicate": {"start": 0, "end": 1}}, {"predicate": {"start": 0, "end": 1}}]}\n',
     "jsonl", "frames", "two frames on the predicate", 1),
    ('{"text": "a b", "frames": [{"predicate": "a"}]}\n', "jsonl", "frames", "each of \"frames\"", 1),
])
def test_bad_task_files_are_refused_naming_the_line(content, fmt, task, message, line):
    with pytest.raises(FormatError, match=message) as caught:
        read(content, fmt=fmt, name="f.txt", task=task if "mixes" not in message or fmt == "jsonl" else None)
    assert caught.value.line == line


def test_a_file_of_another_task_is_refused_by_name():
    with pytest.raises(FormatError, match="holds a tag per word"):
        read(POS_FILE, fmt="column", task="spans")
    with pytest.raises(FormatError, match="holds predicates and their arguments"):
        read(SRL_FILE, fmt="column", task="tags")
    assert read("plain text\n", fmt="text", task="frames").task == "frames"


def test_strict_reading_refuses_role_less_tags():
    with pytest.raises(FormatError, match="names no role"):
        read(SRL_FILE, fmt="column", strict=True)


def test_tags_cover_every_word():
    with pytest.raises(SpanError, match="'b' at 2 has no tag"):
        validate_tags("a b", [Span(0, 1, "X")])


# ----------------------------------------------------------------------------- engine


TINY = dict(epochs=12, batch_size=8, lr=3e-3, head_lr=1e-2, max_length=64, lstm_hidden=16)


@pytest.fixture(scope="module")
def pos_model(tiny_base, tmp_path_factory):
    from tagger.train import TrainConfig, train

    result = train(pos_corpus(60, seed=1), pos_corpus(15, seed=2), TrainConfig(base_model=tiny_base, task="tags", **TINY))
    return result, result.save(tmp_path_factory.mktemp("pos") / "model")


@pytest.fixture(scope="module")
def srl_model(tiny_base, tmp_path_factory):
    from tagger.train import TrainConfig, train

    result = train(srl_corpus(60, seed=1), srl_corpus(15, seed=2), TrainConfig(base_model=tiny_base, task="frames",
                                                                                **TINY))
    return result, result.save(tmp_path_factory.mktemp("srl") / "model")


def test_a_tags_model_learns_saves_and_reloads_the_same(pos_model):
    from tagger.predict import Tagger

    result, folder = pos_model
    assert result.report.accuracy > 0.9, result.history
    dev = pos_corpus(10, seed=5)
    texts, units = [e.text for e in dev], [[(s.start, s.end) for s in e.spans] for e in dev]
    before = result.tagger().predict_tags(texts, units)
    after = Tagger.load(folder).predict_tags(texts, units)
    assert before == after and all(len(p) == len(e.spans) for p, e in zip(after, dev))
    assert all(0.0 <= s.score <= 1.0 and s.label != "O" for p in after for s in p)
    meta = json.loads((folder / "seqlab.json").read_text())
    assert meta["task"] == "tags" and meta["head"]["task"] == "tags" and "NOUN" in meta["labels"]
    raw = Tagger.load(folder).predict_tags(["Alice went to Paris ."])[0]  # no units: the tokenizer's words
    assert [s.label for s in raw] == ["PROPN", "VERB", "ADP", "PROPN", "PUNCT"]


def test_a_tags_model_with_softmax_decodes_every_word(tiny_base):
    from tagger.train import TrainConfig, train

    result = train(pos_corpus(20, seed=3), [], TrainConfig(base_model=tiny_base, task="tags", decoder="softmax",
                                                           **{**TINY, "epochs": 2}))
    words = result.tagger().predict_tags(["Bob works at Globex ."])[0]
    assert len(words) == 5 and all(s.label in {*POS.values(), "PROPN"} for s in words)


def test_a_frames_model_learns_saves_and_reloads_the_same(srl_model):
    from tagger.predict import Tagger

    result, folder = srl_model
    assert result.report.f1 > 0.8, result.history
    dev = srl_corpus(10, seed=6)
    texts, predicates = [e.text for e in dev], [[f.predicate for f in e.frames] for e in dev]
    before = result.tagger().predict_frames(texts, predicates)
    after = Tagger.load(folder).predict_frames(texts, predicates)
    assert before == after
    assert (folder / "predicates" / "seqlab.json").is_file()
    meta = json.loads((folder / "seqlab.json").read_text())
    assert meta["task"] == "frames" and "ARG0" in meta["labels"] and "V" not in meta["labels"]


def test_the_predicate_finder_finds_both_predicates_of_a_sentence(srl_model):
    from tagger.predict import Tagger

    _, folder = srl_model
    tagger = Tagger.load(folder)
    text = "The Acme Corp said Dave visited Berlin today ."
    found = tagger.find_predicates([text])[0]
    assert [(text[s.start:s.end], s.label) for s in found] == [("said", "say.01"), ("visited", "visit.01")]
    frames = tagger.predict_frames([text])[0]
    said, visited = frames
    assert {(text[a.start:a.end], a.label) for a in visited.arguments} >= {("Dave", "ARG0"), ("Berlin", "ARG1")}
    assert all(not (a.start < said.predicate.end and said.predicate.start < a.end) for a in said.arguments)


def test_a_frames_model_analyses_raw_text_for_the_queue(srl_model):
    """What ranking needs of raw text: the finder's predicates, and errors expected of them and
    of every predicate's arguments."""
    from tagger.predict import Tagger

    tagger = Tagger.load(srl_model[1])
    texts = ["The Acme Corp said Dave visited Berlin today .", "."]
    both, empty = tagger.analyse(texts)
    assert both.spans == tagger.find_predicates(texts[:1])[0] and len(both.spans) == 2
    finder = tagger.finder.analyse(texts[:1])[0]
    assert both.expected_errors > finder.expected_errors > 0  # the arguments' expected errors count too
    assert 0.0 < both.uncertainty < 1.0 and both.uncertainty >= finder.uncertainty
    assert all(s.score < 0.6 for s in both.unsure)
    assert empty.spans == [] and empty.expected_errors < 1.0
    assert [p.spans for p in tagger.analyse(texts, detailed=False)] == [both.spans, []]


def test_a_model_of_one_task_refuses_the_others_calls(pos_model, srl_model):
    from tagger.predict import Tagger
    from tagger.spans import SeqLabError

    with pytest.raises(SeqLabError, match="not a frames model"):
        Tagger.load(pos_model[1]).predict_frames(["a"])
    with pytest.raises(SeqLabError, match="not a tags model"):
        Tagger.load(srl_model[1]).predict_tags(["a"])


# ----------------------------------------------------------------------------- CLI


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tagger", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_cli_trains_evaluates_and_predicts_tags_from_files(tiny_base, tmp_path):
    train_file, dev_file = tmp_path / "train.txt", tmp_path / "dev.txt"
    write_tags_column(pos_corpus(40, seed=1), train_file)
    write_tags_column(pos_corpus(10, seed=2), dev_file)
    out = tmp_path / "model"
    done = _cli("train", "--train", str(train_file), "--dev", str(dev_file), "--out", str(out), "--base-model",
                tiny_base, "--epochs", "8", "--batch-size", "8", "--lr", "3e-3", "--head-lr", "1e-2",
                "--max-length", "64", "--lstm-hidden", "16")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(tags)" in done.stderr  # detected from the file
    scored = _cli("evaluate", "--model", str(out), "--data", str(dev_file), "--json")
    assert scored.returncode == 0, scored.stderr[-2000:]
    report = json.loads(scored.stdout)
    assert report["accuracy"] > 0.8 and "VERB" in report["per_label"] and "confusion" in report
    predicted = _cli("predict", "--model", str(out), str(dev_file))
    records = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert len(records) == 10 and all(set(r) == {"text", "tags"} for r in records)
    assert all({"start", "end", "tag", "score"} <= set(t) for r in records for t in r["tags"])
    wrong = _cli("evaluate", "--model", str(out), "--data", str(tmp_path / "spans.txt"))
    assert wrong.returncode == 2


def test_cli_evaluates_frames_with_predicate_and_end_to_end_f1(srl_model, tmp_path):
    _, folder = srl_model
    data = tmp_path / "dev.txt"
    write_frames_column(srl_corpus(10, seed=7), data)
    scored = _cli("evaluate", "--model", str(folder), "--data", str(data), "--json", "--precision", "fp32")
    assert scored.returncode == 0, scored.stderr[-2000:]
    report = json.loads(scored.stdout)
    assert {"precision", "recall", "f1", "per_label", "predicate", "end_to_end"} <= set(report)
    assert "V" not in report["per_label"] and report["predicate"]["f1"] > 0.5
    predicted = _cli("predict", "--model", str(folder), "-", "--precision", "fp32")
    assert predicted.returncode == 0
    pool = tmp_path / "pool.txt"
    pool.write_text(".\nThe Acme Corp said Dave visited Berlin today .\n")
    ranked = _cli("rank", "--model", str(folder), str(pool), "--precision", "fp32")
    assert ranked.returncode == 0, ranked.stderr[-2000:]
    first, last = [json.loads(line) for line in ranked.stdout.splitlines()]
    assert first["text"].startswith("The Acme") and len(first["predicates"]) == 2 and last["predicates"] == []
    assert first["expected_errors"] >= last["expected_errors"]
    spans_file = tmp_path / "ner.txt"
    spans_file.write_text("EU B-ORG\nrejects O\n")
    wrong = _cli("evaluate", "--model", str(folder), "--data", str(spans_file))
    assert wrong.returncode == 2 and "holds entity spans" in wrong.stderr


def test_a_conllu_file_reads_as_tags_from_its_upos_column():
    conllu = ("# sent_id = 1\n# text = I don't know.\n"
              "1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_\n2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
              "2\tdo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_\n3\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_\n"
              "3.1\tx\t_\t_\t_\t_\t_\t_\t_\t_\n4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\tSpaceAfter=No\n"
              "5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_\n\n")
    reading = read(conllu, name="ewt.txt")  # found to be columns from the content, not the name
    assert reading.fmt == "column" and reading.task == "tags"
    [example] = reading.examples
    assert example.text == "I do n't know ." and [s.label for s in example.spans] == ["PRON", "AUX", "PART", "VERB",
                                                                                      "PUNCT"]
    with pytest.raises(FormatError, match="needs an ID") as caught:
        read(conllu.replace("4\tknow", "x\tknow"), fmt="column", task="tags")
    assert caught.value.line == 8


def test_suffix_features_train_save_and_reload_and_old_heads_have_none(tiny_base, tmp_path):
    from tagger.encoding import TextEncoder
    from tagger.model import HeadConfig
    from tagger.predict import Tagger
    from tagger.store import load
    from tagger.train import TrainConfig, train

    result = train(pos_corpus(20, seed=3), [], TrainConfig(base_model=tiny_base, task="tags", suffix_buckets=64,
                                                           **{**TINY, "epochs": 2}))
    folder = result.save(tmp_path / "m")
    model, tokenizer, meta = load(folder)
    assert model.head.suffix_buckets == 64 and meta["train_config"]["suffix_buckets"] == 64
    texts = ["Bob visited Paris today ."]
    assert Tagger.load(folder).predict_tags(texts) == result.tagger().predict_tags(texts)
    [enc] = TextEncoder(tokenizer, 64).encode(["playing plays"])
    assert len(set(enc.suffix)) == 2 and enc.suffix[0] == enc.suffix[1]  # play ##ing: one word, one suffix
    assert HeadConfig.from_dict({"tags": ["O", "X"]}).suffix_buckets == 0


def test_word_features_keep_case_train_save_and_reload_and_old_heads_have_none(tiny_base, tmp_path):
    from tagger.encoding import TextEncoder
    from tagger.model import HeadConfig
    from tagger.predict import Tagger
    from tagger.store import load
    from tagger.train import TrainConfig, train

    result = train(pos_corpus(20, seed=4), [], TrainConfig(base_model=tiny_base, task="tags", word_buckets=128,
                                                           **{**TINY, "epochs": 2}))
    folder = result.save(tmp_path / "m")
    model, tokenizer, meta = load(folder)
    assert model.head.word_buckets == 128 and meta["train_config"]["word_buckets"] == 128
    assert model.word.weight.shape[0] == 128
    texts = ["Bob visited Paris today .", "US and us"]
    assert Tagger.load(folder).predict_tags(texts) == result.tagger().predict_tags(texts)
    assert Tagger.load(folder, quantize=True).predict_tags(texts) == result.tagger().predict_tags(texts)
    [enc] = TextEncoder(tokenizer, 64, word_hashes=True).encode(["playing US us playing"])
    words = dict(zip(enc.words, enc.word))
    assert len(set(enc.word)) == 3 and words[0] == words[3]  # each word one bucket, "US" is not "us"
    assert len({b for w, b in zip(enc.words, enc.word) if w == 0}) == 1  # play ##ing: one word, one bucket
    assert TextEncoder(tokenizer, 64).encode(["US"])[0].word == ()
    assert HeadConfig.from_dict({"tags": ["O", "X"]}).word_buckets == 0


@pytest.mark.parametrize("predicate, vector", [("indicator", False), ("both", True)])
def test_each_way_of_telling_the_predicate_trains_saves_and_reloads(tiny_base, tmp_path, predicate, vector):
    from tagger.predict import Tagger
    from tagger.train import TrainConfig, train

    result = train(srl_corpus(30, seed=2), [], TrainConfig(base_model=tiny_base, task="frames", predicate=predicate,
                                                           predicate_vector=vector, predicate_finder=vector,
                                                           **{**TINY, "epochs": 2}))
    folder = result.save(tmp_path / "m")
    assert (folder / "predicates").is_dir() is vector  # --no-predicate-finder: given predicates only
    dev = srl_corpus(5, seed=9)
    texts, predicates = [e.text for e in dev], [[f.predicate for f in e.frames] for e in dev]
    loaded = Tagger.load(folder)
    assert loaded.model.head.predicate == predicate and loaded.model.head.predicate_vector is vector
    assert loaded.predict_frames(texts, predicates) == result.tagger().predict_frames(texts, predicates)
