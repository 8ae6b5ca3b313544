"""Patterns (term lists and regexes that suggest labels): the matcher, the list reader, the store and
the services, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from db.repo import NotFound
from tagger.patterns import Matcher, Pattern, PatternError, check, missed, read_list, selection_units
from tagger.spans import Span


def found(patterns, text):
    return [(text[s.start:s.end], s.label) for s in Matcher(patterns).find(text)]


# ----------------------------------------------------------------------------- matcher


def test_a_term_matches_whole_words_in_any_case_and_any_spacing():
    patterns = [Pattern("LOC", "New York")]
    assert found(patterns, "new  York, NEW YORK and New\nYork") == [
        ("new  York", "LOC"), ("NEW YORK", "LOC"), ("New\nYork", "LOC")]
    assert found(patterns, "a New Yorker in Newark") == []  # never inside a word


def test_a_case_sensitive_term_matches_its_case_only():
    assert found([Pattern("ORG", "Apple", case_sensitive=True)], "apple and Apple") == [("Apple", "ORG")]


def test_overlapping_matches_keep_the_longest_then_the_leftmost_then_the_first_listed():
    patterns = [Pattern("LOC", "York"), Pattern("LOC", "New York"), Pattern("ORG", "New York Times"),
                Pattern("PER", "Times Square"), Pattern("ORG", "Square"), Pattern("LOC", "Square")]
    text = "The New York Times moved to Times Square . Square one ."
    assert found(patterns, text) == [("New York Times", "ORG"), ("Times Square", "PER"), ("Square", "ORG")]
    # same length, overlapping: the leftmost wins
    assert found([Pattern("A", "b c"), Pattern("B", "a b")], "a b c") == [("a b", "B")]


def test_a_regex_match_counts_only_on_word_edges():
    patterns = [Pattern("ORG", r"Corp\b", "regex"), Pattern("DATE", r"\d{4}-\d{2}-\d{2}", "regex")]
    assert found(patterns, "MegaCorp and Acme Corp on 2024-01-05.") == [("Corp", "ORG"), ("2024-01-05", "DATE")]
    # white space at a match's ends is trimmed to the words it covers
    assert found([Pattern("X", r"\s+Acme\s+", "regex")], "at Acme now") == [("Acme", "X")]


def test_chinese_terms_match_characters_inside_running_text():
    patterns = [Pattern("LOC", "北京"), Pattern("ORG", "北京大学")]
    assert found(patterns, "我在北京大学读书，北京很大。") == [("北京大学", "ORG"), ("北京", "LOC")]


def test_hints_are_the_matches_overlapping_no_span():
    hints = [Span(0, 5, "PER"), Span(10, 15, "ORG"), Span(20, 25, "LOC")]
    assert missed(hints, [Span(12, 14, "ORG"), Span(25, 30, "LOC")]) == [Span(0, 5, "PER"), Span(20, 25, "LOC")]


@pytest.mark.parametrize("pattern, message", [
    (Pattern("ORG", "(a", "regex"), "the regex '(a' does not compile: missing ) at position 2"),
    (Pattern("ORG", "x*", "regex"), "the regex 'x*' matches the empty string; it would mark nothing useful"),
    (Pattern("ORG", "   "), "the term is empty"),
    (Pattern("ORG", "a" * 501), "is 501 characters; the limit is 500"),
    (Pattern("ORG", "a\x00b"), "contains a NUL character"),
    (Pattern("ORG", "x", "glob"), "a pattern is a term or a regex, not 'glob'"),
])
def test_a_bad_pattern_is_refused_naming_it(pattern, message):
    with pytest.raises(PatternError, match=None) as err:
        check(pattern)
    assert message in str(err.value)


def test_a_regex_that_runs_too_long_is_named_not_hung_on():
    matcher = Matcher([Pattern("X", "(a|aa)+$", "regex")])
    with pytest.raises(PatternError) as err:
        matcher.find("a" * 60 + "b")
    assert "the regex '(a|aa)+$' (X) took over 0.5 s on a 61-character text" in str(err.value)


WORDS = st.sampled_from(["Acme", "acme", "Corp", "New", "York", "北", "京", "a", "b", "c", ".", "😀", "e\u0301"])


@settings(max_examples=150, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=20), st.lists(st.lists(WORDS, min_size=1, max_size=3), max_size=5),
       st.sampled_from([" ", "", "  "]))
def test_matches_are_whole_units_never_overlap_and_find_every_term_occurrence_not_covered(words, terms, sep):
    text = sep.join(words) if sep else "".join(words)
    patterns = [Pattern(f"L{k}", " ".join(t)) for k, t in enumerate(terms) if check_ok(" ".join(t))]
    spans = Matcher(patterns).find(text)
    units = selection_units(text)
    starts, ends = {a for a, _ in units}, {b for _, b in units}
    assert all(s.start in starts and s.end in ends for s in spans)
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))
    # each occurrence of a term (as a run of whole units) is matched, or overlapped by a kept match
    unit_texts = [text[a:b].casefold() for a, b in units]
    for p in patterns:
        term = [text.casefold() for text in (p.pattern[a:b] for a, b in selection_units(p.pattern))]
        for k in range(len(units) - len(term) + 1):
            if unit_texts[k:k + len(term)] == term:
                a, b = units[k][0], units[k + len(term) - 1][1]
                assert any(s.start < b and a < s.end for s in spans)


def check_ok(term: str) -> bool:
    try:
        check(Pattern("L", term))
        return True
    except PatternError:
        return False


# ----------------------------------------------------------------------------- lists


def test_a_list_reads_plain_labelled_and_jsonl_lines():
    text = "# companies\nAcme Corp\nORG\tGlobex\n\n" + json.dumps({"label": "DATE", "pattern": r"\d{4}", "regex": True}) + "\n"
    assert read_list(text, label="ORG") == [Pattern("ORG", "Acme Corp"), Pattern("ORG", "Globex"),
                                            Pattern("DATE", r"\d{4}", "regex")]


@pytest.mark.parametrize("text, message", [
    ("Acme\n", "line 1: no label (write LABEL<TAB>pattern, or choose the label for the list)"),
    ('ORG\tAcme\n{"label": "ORG", "pattern": [{"lower": "acme"}]}\n', "line 2: token patterns"),
    ('{"label": "ORG", "pattern": \n', "line 1: not valid JSON"),
    ('{"label": 3, "pattern": "x"}\n', 'line 1: expected string "label" and "pattern"'),
    ("[1, 2]\n", "line 1: no label"),
])
def test_a_bad_list_line_is_named(text, message):
    with pytest.raises(PatternError) as err:
        read_list(text)
    assert message in str(err.value)


# ----------------------------------------------------------------------------- store and services


@pytest.fixture()
def project(svc):
    return svc.create_project("Patterns", ["PER", "ORG", "LOC"])


def test_patterns_are_stored_in_order_and_a_same_term_in_another_case_is_a_duplicate(svc, project):
    assert svc.add_pattern(project.id, "ORG", "Acme  Corp").added == 1
    assert svc.add_pattern(project.id, "ORG", "acme corp").duplicates == 1
    assert svc.add_pattern(project.id, "ORG", "acme corp", case_sensitive=True).added == 1  # a different rule
    assert svc.add_pattern(project.id, "PER", "Acme Corp").added == 1  # another label: another pattern
    assert [(p.label, p.pattern, p.case_sensitive) for p in svc.patterns(project.id)] == [
        ("ORG", "Acme Corp", False), ("ORG", "acme corp", True), ("PER", "Acme Corp", False)]


def test_an_unknown_label_or_bad_regex_stores_nothing_and_says_which(svc, project):
    with pytest.raises(PatternError) as err:
        svc.add_pattern(project.id, "DATE", "Monday")
    assert str(err.value) == "unknown label 'DATE'; 'Patterns' has PER, ORG, LOC (add it in Settings first)"
    with pytest.raises(PatternError) as err:
        svc.import_patterns(project.id, "list.txt", b"ORG\tAcme\nORG\t(bad\n", kind="regex")
    assert str(err.value) == "list.txt: pattern 2: the regex '(bad' does not compile: missing ) at position 4"
    assert svc.patterns(project.id) == []  # the good first line was not stored either


def test_a_list_file_that_is_not_utf8_or_empty_is_refused(svc, project):
    with pytest.raises(PatternError, match=r"list.txt: not UTF-8 text \(byte 0\)"):
        svc.import_patterns(project.id, "list.txt", b"\xff\xfeA\x00", label="ORG")
    with pytest.raises(PatternError, match="list.txt: no patterns in the file"):
        svc.import_patterns(project.id, "list.txt", b"\n# nothing\n", label="ORG")


def test_imported_list_suggests_spans_and_follows_a_renamed_label(svc, project):
    added = svc.import_patterns(project.id, "people.txt", "\ufeffAlice Smith\nBob\nPER\tCarol\n".encode(), label="ORG")
    assert added.added == 3
    text = "Alice Smith met bob and Carol ."
    assert [(text[s.start:s.end], s.label) for s in svc.pattern_spans(project.id, text)] == [
        ("Alice Smith", "ORG"), ("bob", "ORG"), ("Carol", "PER")]
    svc.rename_label(project.id, "PER", "PERSON")
    assert svc.pattern_spans(project.id, text)[-1].label == "PERSON"  # the cached matcher was rebuilt
    assert [(p.label, p.pattern) for p in svc.patterns(project.id)] == [
        ("ORG", "Alice Smith"), ("ORG", "Bob"), ("PERSON", "Carol")]


def test_update_and_delete_touch_only_this_projects_patterns(svc, project):
    other = svc.create_project("Other", ["ORG"])
    svc.add_pattern(project.id, "ORG", "Acme")
    svc.add_pattern(other.id, "ORG", "Globex")
    mine, theirs = svc.patterns(project.id)[0], svc.patterns(other.id)[0]
    assert svc.update_pattern(project.id, mine.id, "LOC", r"Acme\w*", "regex").kind == "regex"
    with pytest.raises(NotFound):
        svc.update_pattern(project.id, theirs.id, "ORG", "Hijacked")
    assert svc.delete_patterns(project.id, [mine.id, theirs.id]) == 1
    assert svc.patterns(project.id) == [] and [p.pattern for p in svc.patterns(other.id)] == ["Globex"]
    svc.add_pattern(project.id, "ORG", "Acme")
    svc.add_pattern(project.id, "ORG", "Initech")
    first, second = svc.patterns(project.id)
    with pytest.raises(PatternError, match="is already a pattern"):
        svc.update_pattern(project.id, second.id, "ORG", "ACME")


def test_pattern_hints_are_the_matches_the_model_did_not_mark(svc, project):
    svc.add_pattern(project.id, "ORG", "Acme")
    svc.add_pattern(project.id, "PER", "Alice")
    text = "Alice joined Acme ."
    assert svc.pattern_hints(project.id, text, [Span(0, 5, "PER")]) == [Span(13, 17, "ORG")]


# ----------------------------------------------------------------------------- import adding labels

WNUT = ("@paulwalk\tO\nIt\tO\nthe\tO\nEmpire\tB-location\nState\tI-location\nBuilding\tI-location\n\n"
        "Alice\tB-person\nat\tO\nBig\tB-creative-work\nFish\tI-creative-work\n\nBob\tB-person\n")


def test_the_preview_lists_the_files_new_labels_and_import_can_add_them(svc, project):
    preview = svc.preview_upload("wnut17train.conll", WNUT.encode(), project_id=project.id)
    assert preview.new_labels == (("location", 1), ("person", 2), ("creative-work", 1))
    with pytest.raises(Exception) as err:
        svc.import_file(project.id, "wnut17train.conll", WNUT.encode())
    assert str(err.value) == ("wnut17train.conll, line 1: unknown label 'location'; 'Patterns' has PER, ORG, LOC "
                              "(add it in Settings first)")
    result = svc.import_file(project.id, "wnut17train.conll", WNUT.encode(), add_labels=True)
    assert result.added == 3
    assert svc.project(project.id).label_names == ["PER", "ORG", "LOC", "location", "person", "creative-work"]


def test_a_new_label_that_cannot_be_one_stores_neither_labels_nor_documents(svc, project):
    record = json.dumps({"text": "Alice went home .", "spans": [{"start": 0, "end": 5, "label": "two words"}]})
    before = svc.project(project.id).label_names
    with pytest.raises(Exception, match="label 'two words' contains white space"):
        svc.import_file(project.id, "bad.jsonl", (json.dumps({"text": "x y", "spans": [
            {"start": 0, "end": 1, "label": "okay"}]}) + "\n" + record).encode(), add_labels=True)
    assert svc.project(project.id).label_names == before
    assert svc.queue_progress(project.id).total == 0
