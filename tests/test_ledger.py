"""The correction ledger at the engine level (tagger/ledger.py), with fake taggers: what each
outcome means, and that scoring streams in batches."""

from __future__ import annotations

import pytest

from tagger.ledger import (LEARNED, REGRESSED, STILL_WRONG, UNCHANGED_RIGHT, Ledger, compare, outcome,
                           reproduces, score)
from tagger.spans import Example, Span

TEXT = "Alice went to Paris ."
ALICE = Span(0, len("Alice"), "PER")
PARIS = Span(len("Alice went to "), len("Alice went to Paris"), "LOC")


class Fake:
    """A tagger that answers from a dict text -> spans, and records the batches it was given."""

    def __init__(self, answers: dict[str, list[Span]]):
        self.answers = answers
        self.batches: list[int] = []

    def predict(self, texts):
        self.batches.append(len(texts))
        return [list(self.answers.get(t, [])) for t in texts]


def test_exact_spans_reproduce_a_correction_whatever_their_scores():
    assert reproduces([ALICE, PARIS], [Span(PARIS.start, PARIS.end, "LOC", 0.51), Span(0, 5, "PER", 0.9)])


def test_a_missing_extra_or_relabelled_span_does_not_reproduce_it():
    assert not reproduces([ALICE, PARIS], [ALICE])
    assert not reproduces([ALICE], [ALICE, PARIS])
    assert not reproduces([ALICE], [Span(0, 5, "ORG")])
    assert not reproduces([ALICE], [Span(0, 4, "PER")])


def test_no_entities_is_reproduced_by_no_prediction():
    assert reproduces([], [])


@pytest.mark.parametrize("old, new, expected", [
    ([], [ALICE], LEARNED),
    ([], [], STILL_WRONG),
    ([ALICE], [], REGRESSED),
    ([ALICE], [ALICE], UNCHANGED_RIGHT),
])
def test_each_outcome(old, new, expected):
    assert outcome([ALICE], old, new) == expected


def test_without_an_old_version_nothing_was_right_before():
    assert outcome([ALICE], None, [ALICE]) == LEARNED
    assert outcome([ALICE], None, []) == STILL_WRONG


def made_up_versions():
    """Five corrections and a pair of versions that learn two, keep one, break one, miss one."""
    docs = [Example(f"{TEXT} {i}", (ALICE, PARIS)) for i in range(5)]
    right = [ALICE, PARIS]
    old = Fake({docs[0].text: [ALICE], docs[1].text: right, docs[2].text: right, docs[3].text: [], docs[4].text: []})
    new = Fake({docs[0].text: right, docs[1].text: [PARIS], docs[2].text: right, docs[3].text: right,
                docs[4].text: [Span(0, 5, "LOC"), PARIS]})
    return docs, old, new


def test_compare_sorts_made_up_versions_into_the_four_outcomes():
    docs, old, new = made_up_versions()

    ledger = compare(docs, old, new)

    assert ledger == Ledger(learned=(0, 3), still_wrong=(4,), regressed=(1,), unchanged_right=(2,))
    assert ledger.counts() == {"learned": 2, "still_wrong": 1, "regressed": 1, "unchanged_right": 1}


def test_compare_streams_the_documents_in_batches():
    docs, old, new = made_up_versions()
    seen = []

    compare(iter(docs), old, new, batch_size=2, progress=seen.append)

    assert new.batches == [2, 2, 1] and old.batches == [2, 2, 1]
    assert seen == [2, 4, 5]


def test_score_keeps_both_versions_spans_for_each_document():
    docs, old, new = made_up_versions()

    first = next(score(docs, old, new, batch_size=2))

    assert [(s.index, s.outcome) for s in first] == [(0, LEARNED), (1, REGRESSED)]
    assert first[1].old == (ALICE, PARIS) and first[1].new == (PARIS,)


def test_to_dict_lists_the_indices_of_each_outcome():
    docs, old, new = made_up_versions()

    assert compare(docs, old, new).to_dict() == {"learned": [0, 3], "still_wrong": [4], "regressed": [1],
                                                 "unchanged_right": [2]}
