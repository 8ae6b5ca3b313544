"""The documents behind each error number (tagger/error_cells.py): each cell lists exactly the
sentences where it happens, and its counts are evaluate()'s."""

from __future__ import annotations


from hypothesis import given, settings
from hypothesis import strategies as st

from tagger.error_cells import OUTSIDE, Cell, confusion_cell, document_cells, error_cell, index_cells
from tagger.evaluate import evaluate
from tagger.spans import Example, Span

TEXT = "Alice went to New York with Bob ."
ALICE = Span(0, 5, "PER")
NEW_YORK = Span(len("Alice went to "), len("Alice went to New York"), "LOC")
BOB = Span(len("Alice went to New York with "), len("Alice went to New York with Bob"), "PER")
YORK = Span(len("Alice went to New "), NEW_YORK.end, "LOC")


def test_each_kind_of_error_lands_in_its_cell():
    gold = [ALICE, NEW_YORK, BOB]
    predicted = [Span(0, 5, "ORG"), YORK, Span(len("Alice "), len("Alice went"), "MISC")]

    cells = document_cells(gold, predicted)

    assert cells == {confusion_cell("PER", "ORG"): 1, confusion_cell("LOC", "LOC"): 1, confusion_cell("PER", OUTSIDE): 1,
                     confusion_cell(OUTSIDE, "MISC"): 1, error_cell("wrong_label"): 1, error_cell("wrong_boundary"): 1,
                     error_cell("missed"): 1, error_cell("spurious"): 1}


def test_a_right_document_is_only_on_the_diagonal():
    assert document_cells([ALICE, BOB], [ALICE, BOB]) == {confusion_cell("PER", "PER"): 2}


def test_a_cell_lists_exactly_the_documents_where_it_happens():
    items = [(10, [ALICE], [ALICE]),  # right
             (11, [ALICE], [Span(0, 5, "LOC")]),  # PER read as LOC
             (12, [ALICE, BOB], []),  # both missed
             (13, [], [NEW_YORK]),  # spurious
             (14, [ALICE, BOB], [Span(0, 5, "LOC"), BOB])]  # PER read as LOC once

    index = index_cells(items)

    assert index.documents[confusion_cell("PER", "LOC")] == (11, 14)
    assert index.count(confusion_cell("PER", "LOC")) == 2
    assert index.documents[error_cell("missed")] == (12,) and index.count(error_cell("missed")) == 2
    assert index.documents[error_cell("spurious")] == (13,)
    assert index.documents[error_cell("wrong_label")] == (11, 14)
    assert error_cell("wrong_boundary") not in index.documents
    assert index.documents[confusion_cell("PER", "PER")] == (10, 14)
    assert index.labels() == ["LOC", "PER", "O"] and index.scored == 5


SPAN_TEXT = "a b c d e f g h i j"


@st.composite
def span_sets(draw):
    units = [(i, i + 1) for i in range(0, len(SPAN_TEXT), 2)]
    spans, at = [], 0
    while at < len(units):
        at += draw(st.integers(0, 3))
        if at >= len(units):
            break
        length = draw(st.integers(1, 3))
        end = min(len(units), at + length)
        spans.append(Span(units[at][0], units[end - 1][1], draw(st.sampled_from(["PER", "LOC"]))))
        at = end
    return spans


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(span_sets(), span_sets()), min_size=1, max_size=5))
def test_the_cells_count_what_evaluate_counts(pairs):
    gold = [Example(SPAN_TEXT, tuple(g)) for g, _ in pairs]
    report = evaluate(gold, [p for _, p in pairs])

    index = index_cells((i, g, p) for i, (g, p) in enumerate(pairs))

    errors = {k: index.count(Cell(k)) for k in ("wrong_label", "wrong_boundary", "missed", "spurious")}
    assert errors == {"wrong_label": report.errors.wrong_label, "wrong_boundary": report.errors.wrong_boundary,
                      "missed": report.errors.missed, "spurious": report.errors.spurious}
    confusion = {(c.gold, c.predicted): n for c, n in index.counts.items() if c.kind == "confusion"}
    assert confusion == {(g, p): n for g, row in report.confusion.items() for p, n in row.items()}
