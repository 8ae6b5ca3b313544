"""The label-noise audit (tagger/audit.py and ``python -m tagger audit``): planted label flips are
found by the surface-string check and by cross-validation, most suspicious first."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tagger.audit import Finding, audit, cross_validated, folds_of, inconsistent_labels
from tagger.formats import write_jsonl
from tagger.predict import Prediction
from tagger.spans import Example, SeqLabError, Span
from tests.conftest import make_corpus
from tests.test_cli import TINY, run

FLIPS = {"LOC": "PER", "PER": "ORG", "ORG": "LOC"}


def flip(example: Example) -> Example:
    """The example with its first span's label swapped for another."""
    first, *rest = example.spans
    return replace(example, spans=(replace(first, label=FLIPS[first.label]), *rest))


@pytest.fixture(scope="module")
def noisy():
    """60 templated sentences, three of them (7, 21, 40) with their first span's label flipped."""
    clean = make_corpus(60, seed=5)
    planted = {7, 21, 40}
    return clean, [flip(e) if i in planted else e for i, e in enumerate(clean)], planted


class Oracle:
    """A 'model' that tags every text with its clean spans, sure of them."""

    def __init__(self, clean):
        self.by_text = {e.text: e.spans for e in clean}
        self.fitted = []

    def fit(self, examples):
        self.fitted.append(len(examples))
        return self

    def analyse(self, texts):
        return [Prediction([replace(s, score=0.9) for s in self.by_text[t]], 0.1, []) for t in texts]


def test_the_surface_check_finds_each_planted_flip_and_suggests_the_majority_label(noisy):
    clean, data, planted = noisy

    findings = inconsistent_labels(data)

    flagged = {f.index for f in findings}
    assert planted <= flagged
    for f in findings:
        if f.index in planted:
            [suspect] = f.suspect
            assert suspect == data[f.index].spans[0] and f.suggested == (clean[f.index].spans[0],)
            assert f.score > 0.5 and f"is {clean[f.index].spans[0].label} in" in f.reason


def test_the_surface_check_finds_a_planted_missing_span_and_suggests_adding_it():
    data = make_corpus(40, seed=5)
    i = next(k for k, e in enumerate(data) if any(e.text[s.start:s.end] == "Paris" for s in e.spans))
    paris = next(s for s in data[i].spans if data[i].text[s.start:s.end] == "Paris")
    data[i] = replace(data[i], spans=tuple(s for s in data[i].spans if s != paris))

    [finding] = [f for f in inconsistent_labels(data) if f.index == i]

    assert finding.suspect == () and finding.suggested == (paris,)
    assert "'Paris' is LOC in" in finding.reason and finding.reason.endswith("not labelled here")


def test_a_string_mostly_left_unlabelled_makes_its_labelled_places_suspect():
    data = [Example("May went home ."), Example("In May it rained ."), Example("Rain in May ."),
            Example("May said so .", (Span(0, 3, "PER"),))]

    [finding] = inconsistent_labels(data)

    assert (finding.index, finding.suspect, finding.suggested) == (3, (Span(0, 3, "PER"),), ())
    assert finding.score == 0.75 and "'May' is not labelled in 3 of the 4 places it occurs, PER here" == finding.reason


def test_a_consistent_corpus_has_nothing_to_report():
    assert inconsistent_labels(make_corpus(40, seed=5)) == []


def test_folds_are_stable_and_even():
    assert folds_of(10, 3, seed=1) == folds_of(10, 3, seed=1)
    assert sorted(folds_of(10, 3).count(f) for f in range(3)) == [3, 3, 4]


def test_cross_validation_flags_exactly_the_documents_the_held_out_model_disagrees_with(noisy):
    clean, data, planted = noisy
    oracle = Oracle(clean)

    findings = cross_validated(data, 4, oracle.fit)

    assert {f.index for f in findings} == planted
    assert oracle.fitted == [45, 45, 45, 45]  # each fold trains on the other three
    f = next(f for f in findings if f.index == 7)
    assert f.suspect == (data[7].spans[0],) and f.suggested == (replace(clean[7].spans[0], score=0.9),)
    assert f.score == pytest.approx(0.9) and "other 3 folds" in f.reason


def test_audit_ranks_the_findings_most_suspicious_first(noisy):
    clean, data, planted = noisy

    findings = audit(data, 4, Oracle(clean).fit)

    assert [f.score for f in findings] == sorted((f.score for f in findings), reverse=True)
    assert {f.index for f in findings[: 2 * len(planted)]} == planted


def test_too_few_documents_for_the_folds_is_a_clear_error():
    with pytest.raises(SeqLabError, match="5 folds need at least 5 documents"):
        cross_validated(make_corpus(3), 5, lambda e: None)


def test_a_finding_as_json_has_the_six_fields():
    clean = make_corpus(1)
    record = Finding(0, clean[0].text, clean[0].spans[:1], (), 0.5, "why").to_dict()
    assert list(record) == ["index", "text", "suspect", "suggested", "score", "reason"]


# ----------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def noisy_file(noisy, tmp_path_factory):
    _, data, _ = noisy
    path = tmp_path_factory.mktemp("audit") / "noisy.jsonl"
    write_jsonl(data, path)
    return path


def test_audit_command_with_real_folds_puts_the_planted_flips_first(tiny_base, noisy, noisy_file, capsys):
    _, data, planted = noisy

    code, out, _ = run(["audit", "--data", noisy_file, "--folds", "2", "--base-model", tiny_base, *TINY, "--json"],
                       capsys)

    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert all(list(r) == ["index", "text", "suspect", "suggested", "score", "reason"] for r in records)
    assert [r["score"] for r in records] == sorted((r["score"] for r in records), reverse=True)
    top = {r["index"] for r in records[: 2 * len(planted)]}
    assert planted <= top
    assert any("folds" in r["reason"] and r["index"] in planted for r in records)  # the models saw them too
    assert records[0]["text"] == data[records[0]["index"]].text


def test_audit_command_without_folds_trains_nothing_and_prints_a_list(noisy, noisy_file, capsys):
    _, _, planted = noisy

    code, out, _ = run(["audit", "--data", noisy_file, "--folds", "0"], capsys)

    assert code == 0
    indices = [int(line.split("\t")[1]) for line in out.splitlines()]
    assert set(indices) >= planted


@pytest.mark.parametrize("folds", ["1", "-2"])
def test_audit_refuses_a_fold_count_that_means_nothing(noisy_file, folds, capsys):
    code, _, err = run(["audit", "--data", noisy_file, "--folds", folds], capsys)

    assert code == 2 and "--folds must be 0" in err


def test_audit_on_a_bad_file_exits_2_naming_the_line(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "Alice went to Paris ."}\n{"text": 5}\n', encoding="utf-8")

    code, _, err = run(["audit", "--data", path, "--folds", "0"], capsys)

    assert code == 2 and err.startswith("error: bad.jsonl, line 2")
