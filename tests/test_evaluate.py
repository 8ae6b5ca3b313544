"""Entity-level evaluation: scores, error kinds, confusion and the report (tagger/evaluate.py)."""

import json

import pytest
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2

from tagger.evaluate import Errors, Report, Score, evaluate
from tagger.spans import Example, Span

TEXT = "Alice went to Paris with Bob ."
ALICE = Span(0, len("Alice"), "PER")
PARIS = Span(len("Alice went to "), len("Alice went to Paris"), "LOC")
BOB = Span(len("Alice went to Paris with "), len("Alice went to Paris with Bob"), "PER")
GOLD = [Example(TEXT, (ALICE, PARIS, BOB))]


def relabel(span: Span, label: str) -> Span:
    return Span(span.start, span.end, label)


# ---------------------------------------------------------------- scores


def test_perfect_prediction_scores_one_everywhere():
    report = evaluate(GOLD, [[ALICE, PARIS, BOB]])

    assert (report.overall.precision, report.overall.recall, report.overall.f1) == (1.0, 1.0, 1.0)
    assert set(report.per_label) == {"PER", "LOC"}
    for score in report.per_label.values():
        assert (score.precision, score.recall, score.f1) == (1.0, 1.0, 1.0)


def test_support_counts_gold_spans():
    report = evaluate(GOLD, [[ALICE, PARIS, BOB]])

    assert report.overall.support == 3
    assert report.per_label["PER"].support == 2
    assert report.per_label["LOC"].support == 1


def test_overall_scores_match_a_hand_computed_example():
    # 3 gold spans, 2 predicted, 1 of them exact: P = 1/2, R = 1/3, F1 = 2PR / (P + R) = 0.4
    report = evaluate(GOLD, [[ALICE, relabel(PARIS, "ORG")]])

    assert report.overall.precision == pytest.approx(0.5)
    assert report.overall.recall == pytest.approx(1 / 3)
    assert report.overall.f1 == pytest.approx(0.4)
    assert report.f1 == report.overall.f1
    assert report.overall.support == 3


def test_per_label_scores_match_a_hand_computed_example():
    report = evaluate(GOLD, [[ALICE, relabel(PARIS, "ORG")]])

    per, loc, org = report.per_label["PER"], report.per_label["LOC"], report.per_label["ORG"]
    assert (per.precision, per.recall, per.f1, per.support) == pytest.approx((1.0, 0.5, 2 / 3, 2))
    assert (loc.precision, loc.recall, loc.f1, loc.support) == (0.0, 0.0, 0.0, 1)
    assert (org.precision, org.recall, org.f1, org.support) == (0.0, 0.0, 0.0, 0)


def test_f1_agrees_with_seqeval_on_word_tags():
    texts = ["Alice went to New York .", "the Acme Corp said Bob visited London today ."]
    gold_tags = [["B-PER", "O", "O", "B-LOC", "I-LOC", "O"],
                 ["O", "B-ORG", "I-ORG", "O", "B-PER", "O", "B-LOC", "O", "O"]]
    pred_tags = [["B-PER", "O", "O", "B-LOC", "O", "O"],  # "New" alone: wrong boundary
                 ["O", "B-ORG", "I-ORG", "O", "B-LOC", "O", "B-LOC", "O", "O"]]  # Bob as LOC
    gold = [Example(t, tuple(word_spans(t, tags))) for t, tags in zip(texts, gold_tags)]
    predicted = [word_spans(t, tags) for t, tags in zip(texts, pred_tags)]

    report = evaluate(gold, predicted)

    expected = f1_score(gold_tags, pred_tags, mode="strict", scheme=IOB2)
    assert report.f1 == pytest.approx(expected)
    assert report.f1 == pytest.approx(0.6)  # 3 of 5 predicted right, 3 of 5 gold found


def word_spans(text: str, tags: list[str]) -> list[Span]:
    """Spans from IOB2 tags over the space-separated words of ``text``."""
    spans, pos, current = [], 0, None
    for word, tag in zip(text.split(" "), tags):
        start, end = pos, pos + len(word)
        pos = end + 1
        if tag.startswith("I-") and current:
            current = (current[0], end, current[2])
            continue
        if current:
            spans.append(Span(*current))
        current = (start, end, tag[2:]) if tag != "O" else None
    if current:
        spans.append(Span(*current))
    return spans


# ---------------------------------------------------------------- strictness


def test_span_one_character_short_is_not_a_match():
    short = Span(PARIS.start, PARIS.end - 1, "LOC")  # "Pari"

    report = evaluate(GOLD, [[ALICE, short, BOB]])

    assert report.per_label["LOC"].f1 == 0.0
    assert report.overall.precision == pytest.approx(2 / 3)


def test_span_one_character_long_is_not_a_match():
    long = Span(PARIS.start - 1, PARIS.end, "LOC")  # " Paris": starts on the space

    report = evaluate(GOLD, [[ALICE, long, BOB]])

    assert report.per_label["LOC"].f1 == 0.0


def test_span_ending_on_the_space_after_it_is_not_a_match():
    long = Span(PARIS.start, PARIS.end + 1, "LOC")  # "Paris ": ends on the space

    report = evaluate(GOLD, [[ALICE, long, BOB]])

    assert report.per_label["LOC"].f1 == 0.0
    assert report.errors == Errors(wrong_boundary=1)


def test_cjk_span_inside_a_run_of_characters_matches_exactly():
    text = "我在北京大学工作"
    school = Span(len("我在"), len("我在北京大学"), "ORG")

    report = evaluate([Example(text, (school,))], [[school]])

    assert report.f1 == 1.0


def test_cjk_span_one_character_longer_is_not_a_match():
    text = "我在北京工作"
    beijing = Span(len("我在"), len("我在北京"), "LOC")
    longer = Span(len("我在"), len("我在北京工"), "LOC")

    report = evaluate([Example(text, (beijing,))], [[longer]])

    assert (report.overall.precision, report.overall.recall, report.f1) == (0.0, 0.0, 0.0)
    assert report.errors.wrong_boundary == 1


def test_cjk_span_one_character_shorter_is_not_a_match():
    text = "我在北京大学工作"
    school = Span(len("我在"), len("我在北京大学"), "ORG")
    shorter = Span(len("我在北"), len("我在北京大学"), "ORG")  # "京大学"

    report = evaluate([Example(text, (school,))], [[shorter]])

    assert report.f1 == 0.0


def test_cjk_adjacent_spans_are_scored_separately():
    text = "我在北京上海工作"
    beijing = Span(len("我在"), len("我在北京"), "LOC")
    shanghai = Span(len("我在北京"), len("我在北京上海"), "LOC")
    merged = Span(beijing.start, shanghai.end, "LOC")

    report = evaluate([Example(text, (beijing, shanghai))], [[merged]])

    assert (report.overall.precision, report.overall.recall) == (0.0, 0.0)


# ---------------------------------------------------------------- error kinds and confusion


def test_same_boundaries_other_label_is_a_wrong_label():
    report = evaluate(GOLD, [[ALICE, relabel(PARIS, "ORG"), BOB]])

    assert report.errors == Errors(wrong_label=1)


def test_overlap_with_other_edges_is_a_wrong_boundary():
    paris_with = Span(PARIS.start, len("Alice went to Paris with"), "LOC")

    report = evaluate(GOLD, [[ALICE, paris_with, BOB]])

    assert report.errors == Errors(wrong_boundary=1)


def test_gold_span_no_prediction_touches_is_missed():
    report = evaluate(GOLD, [[ALICE, PARIS]])

    assert report.errors == Errors(missed=1)


def test_prediction_touching_no_gold_span_is_spurious():
    went = Span(len("Alice "), len("Alice went"), "ORG")

    report = evaluate(GOLD, [[ALICE, went, PARIS, BOB]])

    assert report.errors == Errors(spurious=1)


def test_confusion_counts_gold_label_against_predicted_label():
    went = Span(len("Alice "), len("Alice went"), "ORG")

    report = evaluate(GOLD, [[ALICE, went, relabel(PARIS, "ORG")]])

    assert report.confusion == {"PER": {"PER": 1, "O": 1}, "LOC": {"ORG": 1}, "O": {"ORG": 1}}


# ---------------------------------------------------------------- edge cases


def test_no_spans_anywhere_gives_zeros():
    report = evaluate([Example(TEXT)], [[]])

    assert report.overall == Score(0.0, 0.0, 0.0, 0)
    assert report.per_label == {}
    assert report.errors == Errors()


def test_no_predictions_gives_zero_recall_and_counts_every_miss():
    report = evaluate(GOLD, [[]])

    assert (report.overall.recall, report.f1, report.overall.support) == (0.0, 0.0, 3)
    assert report.errors == Errors(missed=3)


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="expected 1 predictions, got 2"):
        evaluate(GOLD, [[], []])


# ---------------------------------------------------------------- the report as data and text


def test_to_dict_has_overall_per_label_and_errors():
    d = evaluate(GOLD, [[ALICE, relabel(PARIS, "ORG")]]).to_dict()

    assert {"precision", "recall", "f1", "per_label", "errors"} <= set(d)
    for score in d["per_label"].values():
        assert {"precision", "recall", "f1", "support"} <= set(score)
    assert set(d["errors"]) == {"wrong_label", "wrong_boundary", "missed", "spurious"}


def test_to_dict_is_json_ready():
    d = evaluate(GOLD, [[ALICE, relabel(PARIS, "ORG")]]).to_dict()

    assert json.loads(json.dumps(d)) == d


def test_from_dict_round_trips_to_dict():
    report = evaluate(GOLD, [[ALICE, relabel(PARIS, "ORG"), Span(len("Alice "), len("Alice went"), "ORG")]])

    again = Report.from_dict(json.loads(json.dumps(report.to_dict())))

    assert again == report


def test_table_lists_each_label_and_overall():
    table = evaluate(GOLD, [[ALICE, relabel(PARIS, "ORG")]]).table()

    for word in ("PER", "LOC", "ORG", "overall", "precision", "recall", "support"):
        assert word in table
