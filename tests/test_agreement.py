"""Agreement figures (tagger.agreement) against published examples and small hand-counted cases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagger.agreement import agreement, cohen_kappa, krippendorff_alpha, span_f1, token_labels
from tagger.spans import Span


def test_krippendorff_alpha_matches_the_papers_nominal_example():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers,
    # 12 units, missing values; nominal alpha = 0.743
    data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
            [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None]]
    assert krippendorff_alpha(data) == pytest.approx(0.743, abs=5e-4)


def test_krippendorff_alpha_of_the_papers_two_coder_binary_example():
    # the same paper, section A: two observers, ten units, binary data: alpha = 0.095
    data = [[0, 1, 0, 0, 0, 0, 0, 0, 1, 0], [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]]
    assert krippendorff_alpha(data) == pytest.approx(0.095, abs=5e-4)


def test_krippendorff_alpha_is_undefined_without_variation_or_pairs():
    assert krippendorff_alpha([["a", "a"], ["a", "a"]]) is None
    assert krippendorff_alpha([["a", None], [None, "b"]]) is None


def test_cohen_kappa_of_the_textbook_two_by_two_table():
    # 50 items: both yes 20, A yes B no 5, A no B yes 10, both no 15 -> p_o 0.7, p_e 0.5, kappa 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_cohen_kappa_of_identical_constant_coders_is_one():
    assert cohen_kappa(["O", "O"], ["O", "O"]) == 1.0
    assert cohen_kappa([], []) is None


def test_tokens_take_the_label_of_the_span_covering_them():
    text = "Alice Smith went to New York ."
    spans = [Span(0, len("Alice Smith"), "PER"), Span(len("Alice Smith went to "), len(text) - 2, "LOC")]
    assert token_labels(text, spans) == ["PER", "PER", "O", "O", "LOC", "LOC", "O"]


def test_span_f1_exact_and_overlap():
    a = [[Span(0, 5, "PER"), Span(10, 15, "LOC")]]
    b = [[Span(0, 3, "PER"), Span(10, 15, "LOC")]]
    assert span_f1(a, b) == pytest.approx(0.5)
    assert span_f1(a, b, exact=False) == 1.0
    assert span_f1([[]], [[]]) == 1.0
    assert span_f1([[Span(0, 5, "PER")]], [[Span(0, 5, "ORG")]], exact=False) == 0.0


def test_agreement_per_pair_and_label_names_the_disagreeing_documents():
    text = "Alice met Bob in Paris"
    alice, bob, paris = Span(0, 5, "PER"), Span(10, 13, "PER"), Span(17, 22, "LOC")
    docs = {1: (text, {"ann": [alice, bob, paris], "ben": [alice, bob, paris]}),
            2: (text, {"ann": [alice, paris], "ben": [alice, Span(17, 22, "PER")], "cat": [alice, paris]}),
            3: (text, {"ann": [alice]})}  # one annotation: nothing to compare
    result = agreement(docs)
    assert result.documents == 2 and result.disagreeing == (2,)
    ann_ben = next(p for p in result.pairs if (p.a, p.b) == ("ann", "ben"))
    assert ann_ben.documents == 2 and ann_ben.disagreeing == (2,)
    by_label = {la.label: la for la in ann_ben.labels}
    assert by_label["LOC"].exact_f1 == pytest.approx(2 / 3) and by_label["LOC"].disagreeing == (2,)
    assert by_label["PER"].exact_f1 == pytest.approx(6 / 7)
    ann_cat = next(p for p in result.pairs if (p.a, p.b) == ("ann", "cat"))
    assert ann_cat.exact_f1 == 1.0 and ann_cat.kappa == 1.0 and ann_cat.disagreeing == ()
    assert 0 < result.alpha < 1
    pooled = {la.label: la for la in result.labels}  # ann-ben, ann-cat, ben-cat over their documents
    # LOC: ann-ben 2 + 1 spans (doc 1 both, doc 2 ann only), ann-cat 1 + 1, ben-cat 0 + 1; 2 of 3 matched each side
    assert pooled["LOC"].disagreeing == (2,) and pooled["LOC"].spans == 6
    assert pooled["LOC"].exact_f1 == pytest.approx(2 / 3)
    assert result.exact_f1 is not None and agreement({}).exact_f1 is None


# ----------------------------------------------------------------------------- frames

TEXT = "Dave said Bob saw Paris"
SAID, SAW = Span(5, 9, "say.01"), Span(14, 17, "see.01")


def test_frame_agreement_matches_an_argument_only_under_its_own_predicate():
    from tagger.agreement import frame_agreement
    from tagger.spans import Frame

    # the same span, Bob, as ARG0 of "said" for one and of "saw" for the other: not an agreement
    a = (Frame(SAID, (Span(10, 13, "ARG0"),)), Frame(SAW, ()))
    b = (Frame(SAID, ()), Frame(SAW, (Span(10, 13, "ARG0"),)))
    [pair] = frame_agreement({1: (TEXT, {"a": a, "b": b})}).pairs
    labels = {la.label: la for la in pair.labels}
    assert labels["V"].exact_f1 == 1.0 and labels["ARG0"].exact_f1 == 0.0 and labels["ARG0"].overlap_f1 == 0.0
    # overlapping arguments of the same predicate count for the overlap figure only
    c = (Frame(SAID, (Span(10, 23, "ARG1"),)), Frame(SAW, ()))
    d = (Frame(SAID, (Span(10, 13, "ARG1"),)), Frame(SAW, ()))
    [pair] = frame_agreement({1: (TEXT, {"c": c, "d": d})}).pairs
    labels = {la.label: la for la in pair.labels}
    assert labels["ARG1"].exact_f1 == 0.0 and labels["ARG1"].overlap_f1 == 1.0
    assert pair.kappa is None and pair.disagreeing == (1,)


@given(st.data())
def test_flattened_frames_never_reach_another_predicates_arguments(data):
    """Whatever the frames, each predicate's arguments land in offsets of their own: the same
    argument under two predicates never overlaps itself, and the predicates keep their offsets."""
    from tagger.agreement import flatten_frames
    from tagger.spans import Frame

    text = data.draw(st.text(alphabet="ab ", min_size=2, max_size=30))
    n = len(text)
    spans = st.tuples(st.integers(0, n - 1), st.integers(1, n)).filter(lambda t: t[0] < t[1])
    predicates = data.draw(st.lists(spans, min_size=1, max_size=4, unique=True))
    frames = [Frame(Span(a, b, "x.01"), tuple(Span(c, d, "ARG0") for c, d in data.draw(st.lists(spans, max_size=3))))
              for a, b in predicates]
    flat = flatten_frames(text, frames)
    assert [s for s in flat if s.label == "V"] == [Span(a, b, "V") for a, b in predicates]
    stretch = {}
    for f in frames:
        for arg in flatten_frames(text, [f])[1:]:
            stretch.setdefault(arg.start // (n + 1), set()).add((f.predicate.start, f.predicate.end))
            assert arg.start >= n + 1 and arg.end - arg.start in {a.end - a.start for a in f.arguments}
    assert all(len(owners) == 1 for owners in stretch.values())
