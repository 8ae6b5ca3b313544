"""``python -m tagger compare``: the ledger of two model folders on a labelled file, as text and as
JSON, and bad input (exit 2 with a message, as every command)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from tagger.formats import write_jsonl
from tagger.ledger import compare
from tagger.predict import Tagger
from tagger.spans import Example, Span
from tests.conftest import make_sentence
from tests.test_cli import run


@pytest.fixture(scope="module")
def dev_file(corpus, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("compare-dev") / "dev.jsonl"
    write_jsonl(corpus[100:], path)
    return path


def bare(spans) -> tuple[Span, ...]:
    """Predicted spans as a correction: sorted, without scores."""
    return tuple(sorted(Span(s.start, s.end, s.label) for s in spans))


@pytest.fixture(scope="module")
def planted(trained_dir, trained_softmax_dir, tmp_path_factory):
    """A file whose corrections are made from the two versions' own predictions, so that each
    outcome is planted: gold = new's spans where old's differ (learned), gold = old's spans where
    new's differ (regressed), gold = both's spans (unchanged right), gold = neither (still wrong)."""
    old = Tagger.load(trained_softmax_dir, quantize=True)
    new = Tagger.load(trained_dir, quantize=True)
    rng = random.Random(7)
    texts = [make_sentence(rng, capitalise=rng.random() < 0.5).text for _ in range(200)]
    before, after = old.predict(texts), new.predict(texts)
    differ = [i for i in range(len(texts)) if {s.key() for s in before[i]} != {s.key() for s in after[i]}]
    same = [i for i in range(len(texts)) if i not in differ]
    assert len(differ) >= 2 and len(same) >= 2, "the two tiny versions should disagree on some sentences only"
    both = bare(after[same[0]])
    other = bare(after[same[1]])
    neither = other[1:] if other else (Span(0, texts[same[1]].index(" "), "ORG"),)  # a span less, or one more
    docs = [Example(texts[differ[0]], bare(after[differ[0]])),  # 0 learned
            Example(texts[differ[1]], bare(before[differ[1]])),  # 1 regressed
            Example(texts[same[0]], both),  # 2 unchanged right
            Example(texts[same[1]], neither)]  # 3 still wrong
    path = tmp_path_factory.mktemp("compare") / "corrections.jsonl"
    write_jsonl(docs, path)
    return path, docs


def test_compare_json_sorts_planted_corrections_into_the_four_outcomes(trained_dir, trained_softmax_dir,
                                                                       planted, capsys):
    path, _ = planted

    code, out, _ = run(["compare", "--old", trained_softmax_dir, "--new", trained_dir, "--data", path, "--json"],
                       capsys)

    assert code == 0
    [line] = out.splitlines()
    assert json.loads(line) == {"learned": [0], "still_wrong": [3], "regressed": [1], "unchanged_right": [2]}


def test_compare_json_is_what_the_engine_says_in_int8(trained_dir, trained_softmax_dir, dev_file, capsys):
    from tagger.formats import read

    docs = read(dev_file).examples
    expected = compare(docs, Tagger.load(trained_softmax_dir, quantize=True), Tagger.load(trained_dir, quantize=True))

    code, out, _ = run(["compare", "--old", trained_softmax_dir, "--new", trained_dir, "--data", dev_file, "--json"],
                       capsys)

    assert code == 0 and json.loads(out) == expected.to_dict()
    assert sorted(i for ids in json.loads(out).values() for i in ids) == list(range(len(docs)))


def test_compare_prints_the_counts_and_the_documents_of_each(trained_dir, trained_softmax_dir, planted, capsys):
    path, docs = planted

    code, out, _ = run(["compare", "--old", trained_softmax_dir, "--new", trained_dir, "--data", path], capsys)

    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "learned: 1" and lines[1] == f"  0\t{docs[0].text}"
    assert lines[2] == "still wrong: 1" and lines[3] == f"  3\t{docs[3].text}"
    assert lines[4] == "regressed: 1" and lines[5] == f"  1\t{docs[1].text}"
    assert lines[6] == "unchanged right: 1" and len(lines) == 7


def test_a_version_against_itself_learns_nothing_and_breaks_nothing(trained_dir, dev_file, capsys):
    code, out, _ = run(["compare", "--old", trained_dir, "--new", trained_dir, "--data", dev_file, "--json"], capsys)

    assert code == 0
    ledger = json.loads(out)
    assert ledger["learned"] == [] and ledger["regressed"] == []


def test_fail_on_regressed_exits_1_when_a_correction_broke(trained_dir, trained_softmax_dir, planted, capsys):
    path, _ = planted
    argv = ["compare", "--old", trained_softmax_dir, "--new", trained_dir, "--data", path, "--fail-on-regressed"]

    assert run(argv, capsys)[0] == 1
    assert run([*argv[:2], trained_dir, *argv[3:]], capsys)[0] == 0  # against itself: nothing regressed


def test_compare_on_a_missing_file_exits_2(trained_dir, tmp_path, capsys):
    code, _, err = run(["compare", "--old", trained_dir, "--new", trained_dir, "--data", tmp_path / "nope.jsonl"],
                       capsys)

    assert code == 2
    assert "nope.jsonl" in err and "Traceback" not in err


def test_compare_on_an_empty_file_exits_2(trained_dir, tmp_path, capsys):
    path = tmp_path / "empty.conll"
    path.write_text("\n\n", encoding="utf-8")

    code, _, err = run(["compare", "--old", trained_dir, "--new", trained_dir, "--data", path], capsys)

    assert code == 2 and "error: empty.conll: no documents in the file" in err


def test_compare_on_a_bad_line_exits_2_naming_it(trained_dir, tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "Alice went to Paris ."}\n{"text": 5}\n', encoding="utf-8")

    code, _, err = run(["compare", "--old", trained_dir, "--new", trained_dir, "--data", path], capsys)

    assert code == 2 and err.startswith("error: bad.jsonl, line 2") and "Traceback" not in err


def test_compare_refuses_a_model_folder_with_a_pickle(trained_dir, dev_file, tmp_path, capsys):
    folder = tmp_path / "model"
    shutil.copytree(trained_dir, folder)
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")

    code, _, err = run(["compare", "--old", folder, "--new", trained_dir, "--data", dev_file], capsys)

    assert code == 2 and "pytorch_model.bin" in err and "pickle" in err


def test_compare_reads_an_invalid_sequence_leniently_or_with_strict_refuses_it(trained_dir, tmp_path, capsys):
    path = tmp_path / "odd.conll"
    path.write_text("Alice I-PER\nwent O\nto O\nParis B-LOC\n", encoding="utf-8")
    argv = ["compare", "--old", trained_dir, "--new", trained_dir, "--data", path]

    code, _, err = run(argv, capsys)
    assert code == 0 and "warning:" in err
    code, _, err = run([*argv, "--strict"], capsys)
    assert code == 2 and "line 1" in err
