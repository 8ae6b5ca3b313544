"""Patterns: term lists and regular expressions mapped to labels, for suggestions before a model.

A project's patterns suggest spans while it has no active model, and afterwards point at what the
model missed (hints). Matches are made of *selection units* (:func:`selection_units`: words in
spaced scripts, single characters in CJK and Thai, whole graphemes for emoji), the same units the
editor selects, so every suggestion can be drawn and edited there:

- a **term** matches a run of units with the same texts (case-folded unless ``case_sensitive``),
  whatever white space lies between them; "New York" matches "new  York", never "New Yorker";
- a **regex** matches wherever the expression does, but only a match that starts and ends on unit
  edges is kept (``Corp`` inside ``MegaCorp`` is not a match). Expressions are compiled with the
  ``regex`` module and every search is given :data:`REGEX_TIMEOUT_S`, so a catastrophic
  expression fails with its name instead of hanging the page.

Overlapping matches resolve to non-overlapping spans: the longest first, then the leftmost, then the
pattern listed first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import regex

from .spans import SeqLabError, Span

# What a person selects when annotating: a run of letters, digits and combining marks; or one
# grapheme (a CJK character, a punctuation mark, an emoji with its modifiers and joiners).
SELECTION_UNIT = regex.compile(r"(?:(?![\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Thai}])[\p{L}\p{N}\p{M}])+|\X",
                               regex.VERSION1)
KINDS = ("term", "regex")
MAX_PATTERN_CHARS = 500
REGEX_TIMEOUT_S = 0.5  # per text and expression


class PatternError(SeqLabError):
    """A pattern that cannot be used: empty, too long, a regex that does not compile or runs too long."""


@dataclass(frozen=True)
class Pattern:
    """``pattern`` (a term, or a regular expression when ``kind`` is "regex") suggests ``label``."""

    label: str
    pattern: str
    kind: str = "term"
    case_sensitive: bool = False

    def describe(self) -> str:
        return f"{self.kind} {self.pattern!r} -> {self.label}"


def selection_units(text: str) -> list[tuple[int, int]]:
    """``[start, end)`` of each selectable unit: words in spaced scripts, characters in CJK/Thai,
    whole graphemes for emoji (never half a surrogate pair or a ZWJ sequence)."""
    return [m.span() for m in SELECTION_UNIT.finditer(text) if not m.group().isspace()]


def check(pattern: Pattern) -> Pattern:
    """``pattern`` with its text stripped, if it can be used.

    Raises:
        PatternError: naming the pattern: empty, over :data:`MAX_PATTERN_CHARS`, an unknown kind,
            a regex that does not compile or matches the empty string.
    """
    text = " ".join(pattern.pattern.split()) if pattern.kind == "term" else pattern.pattern
    shown = repr(text[:60]) + ("..." if len(text) > 60 else "")
    if pattern.kind not in KINDS:
        raise PatternError(f"a pattern is a term or a regex, not {pattern.kind!r}")
    if not text.strip():
        raise PatternError(f"the {pattern.kind} is empty")
    if len(text) > MAX_PATTERN_CHARS:
        raise PatternError(f"the {pattern.kind} {shown} is {len(text):,} characters; the limit is {MAX_PATTERN_CHARS}")
    if "\x00" in text:
        raise PatternError(f"the {pattern.kind} {shown} contains a NUL character")
    if pattern.kind == "regex":
        compiled = _compile(text, pattern.case_sensitive)
        try:
            empty = compiled.fullmatch("", timeout=REGEX_TIMEOUT_S) is not None
        except TimeoutError as exc:
            raise PatternError(f"the regex {shown} takes too long even on an empty text") from exc
        if empty:
            raise PatternError(f"the regex {shown} matches the empty string; it would mark nothing useful")
    return Pattern(pattern.label, text, pattern.kind, pattern.case_sensitive)


def _compile(expression: str, case_sensitive: bool):
    flags = regex.VERSION0 | (0 if case_sensitive else regex.IGNORECASE)
    try:
        return regex.compile(expression, flags)
    except (regex.error, OverflowError, RecursionError, ValueError) as exc:
        shown = repr(expression[:60]) + ("..." if len(expression) > 60 else "")
        raise PatternError(f"the regex {shown} does not compile: {exc}") from exc


def _unit_texts(text: str, case_sensitive: bool) -> tuple[str, ...]:
    return tuple(text[a:b] if case_sensitive else text[a:b].casefold() for a, b in selection_units(text))


class Matcher:
    """The spans a project's patterns suggest in a text (see the module's docstring)."""

    def __init__(self, patterns: Iterable[Pattern]):
        self.patterns = [check(p) for p in patterns]
        # terms: the unit texts of each, looked up by their first unit (folded and exact tables)
        self._terms: dict[bool, dict[str, list[tuple[tuple[str, ...], int]]]] = {False: {}, True: {}}
        self._longest = 0
        self._regexes = []
        for order, p in enumerate(self.patterns):
            if p.kind == "term":
                units = _unit_texts(p.pattern, p.case_sensitive)
                self._terms[p.case_sensitive].setdefault(units[0], []).append((units, order))
                self._longest = max(self._longest, len(units))
            else:
                self._regexes.append((_compile(p.pattern, p.case_sensitive), order))

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def find(self, text: str) -> list[Span]:
        """Non-overlapping spans, sorted; each with ``score`` None (a pattern has no confidence).

        Raises:
            PatternError: a regex that runs longer than :data:`REGEX_TIMEOUT_S` on this text, named.
        """
        units = selection_units(text)
        if not units or not self.patterns:
            return []
        return _resolve(self._matches(text, units), self.patterns)

    def _matches(self, text: str, units: Sequence[tuple[int, int]]) -> list[tuple[int, int, int]]:
        """Every match as ``(start, end, pattern order)``, overlapping ones included."""
        found = []
        if self._longest:
            exact = [text[a:b] for a, b in units]
            folded = [u.casefold() for u in exact]
            for k in range(len(units)):
                for sensitive, words in ((True, exact), (False, folded)):
                    for term, order in self._terms[sensitive].get(words[k], ()):
                        if tuple(words[k:k + len(term)]) == term:
                            found.append((units[k][0], units[k + len(term) - 1][1], order))
        if self._regexes:
            starts = {a for a, _ in units}
            ends = {b for _, b in units}
            for compiled, order in self._regexes:
                try:
                    for m in compiled.finditer(text, timeout=REGEX_TIMEOUT_S):
                        a, b = m.span()
                        # trailing/leading white space inside a match is trimmed to the units it covers
                        while a < b and text[a].isspace():
                            a += 1
                        while b > a and text[b - 1].isspace():
                            b -= 1
                        if a < b and a in starts and b in ends:
                            found.append((a, b, order))
                except TimeoutError as exc:
                    p = self.patterns[order]
                    raise PatternError(f"the regex {p.pattern[:60]!r} ({p.label}) took over "
                                       f"{REGEX_TIMEOUT_S} s on a {len(text):,}-character text; "
                                       "simplify it (nested repeats such as (a+)+ are the usual cause)") from exc
        return found


def _resolve(found: Sequence[tuple[int, int, int]], patterns: Sequence[Pattern]) -> list[Span]:
    """Longest first, then leftmost, then the pattern listed first; a match overlapping one already
    taken is dropped."""
    taken: list[tuple[int, int, int]] = []
    for a, b, order in sorted(set(found), key=lambda m: (-(m[1] - m[0]), m[0], m[2])):
        if all(b <= x or a >= y for x, y, _ in taken):
            taken.append((a, b, order))
    return sorted(Span(a, b, patterns[order].label) for a, b, order in taken)


def missed(hints: Iterable[Span], spans: Iterable[Span]) -> list[Span]:
    """The pattern matches that overlap none of ``spans`` (what the model did not mark)."""
    spans = list(spans)
    return [h for h in hints if all(h.end <= s.start or h.start >= s.end for s in spans)]


def read_list(text: str, label: str | None = None, kind: str = "term") -> list[Pattern]:
    """Patterns from a list a person uploads, one per line.

    A line is ``LABEL<TAB>pattern`` or, when ``label`` is given, just the pattern (a line with a
    tab then still names its own label). Blank lines and lines starting with ``#`` are skipped.
    JSONL lines ``{"label": ..., "pattern": ...}`` (Prodigy's string patterns; ``"regex": true``
    or ``"kind"`` for expressions, ``"case_sensitive"``) are read too.

    Raises:
        PatternError: naming the line: no label, a token pattern (a list), a bad JSON line.
    """
    import json

    out = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("{"):
            try:
                record = json.loads(stripped)
            except ValueError as exc:
                raise PatternError(f"line {number}: not valid JSON ({exc})") from exc
            if not isinstance(record, dict):
                raise PatternError(f"line {number}: expected an object with \"label\" and \"pattern\"")
            value = record.get("pattern")
            if isinstance(value, list):
                raise PatternError(f"line {number}: token patterns (a list of token attributes) are not "
                                   "supported; write the phrase as a string, or as a regex")
            if not isinstance(value, str) or not isinstance(record.get("label"), str):
                raise PatternError(f"line {number}: expected string \"label\" and \"pattern\"")
            line_kind = "regex" if record.get("regex") is True else str(record.get("kind", kind))
            out.append(Pattern(record["label"], value, line_kind, bool(record.get("case_sensitive", False))))
            continue
        if "\t" in line:
            name, value = line.split("\t", 1)
            name = name.strip() or label
        else:
            name, value = label, line
        if not name:
            raise PatternError(f"line {number}: no label (write LABEL<TAB>pattern, or choose the label for the list)")
        out.append(Pattern(name, value.strip() if kind == "term" else value.rstrip("\r\n"), kind))
    return out
