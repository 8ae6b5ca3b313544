"""Tag schemes (IOB1, IOB2/BIO, IOBES/BIOES, BILOU, BMES) <-> spans over token offsets. No torch.

Tokens are ``(start, end)`` character offsets into a text, sorted, non-overlapping and
non-empty. A tag is ``"O"`` or ``PREFIX-LABEL``; the prefix is what comes before the first
``"-"``, so labels may contain ``"-"`` themselves (``"B-SUB-TYPE"`` is label ``SUB-TYPE``).

Every scheme gives each prefix one *role*: it begins an entity, continues it, ends it, or is
a whole one-token entity. IOB1 differs in that ``I-`` also begins an entity, and ``B-`` is only
used when an entity directly follows another of the same label.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tagger.spans import SeqLabError, Span

SCHEMES = ("IOB1", "IOB2", "IOBES", "BILOU", "BMES")

Offsets = Sequence[tuple[int, int]]

OUTSIDE, BEGIN, INSIDE, END, SINGLE = "outside", "begin", "inside", "end", "single"

# Prefix -> role, in the order tag_names() lists the prefixes.
_ROLES: dict[str, dict[str, str]] = {
    "IOB1": {"B": BEGIN, "I": INSIDE},
    "IOB2": {"B": BEGIN, "I": INSIDE},
    "IOBES": {"B": BEGIN, "I": INSIDE, "E": END, "S": SINGLE},
    "BILOU": {"B": BEGIN, "I": INSIDE, "L": END, "U": SINGLE},
    "BMES": {"B": BEGIN, "M": INSIDE, "E": END, "S": SINGLE},
}
_PREFIX = {scheme: {role: p for p, role in roles.items()} for scheme, roles in _ROLES.items()}
# Schemes whose entities must be closed by an end (or single) tag.
_CLOSED = {"IOBES", "BILOU", "BMES"}

_ALIASES = {"BIO": "IOB2", "BIOES": "IOBES", **{s: s for s in SCHEMES}}


class SchemeError(SeqLabError):
    """A tag sequence that is invalid under its scheme; ``index`` is the offending token."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class AlignmentWarning:
    """A span whose edge falls inside a token, or that covers no token of its own."""

    span: Span
    message: str


def normalize_scheme(name: str) -> str:
    """Return the canonical scheme name for ``name`` (case-insensitive; BIO, BIOES accepted)."""
    canonical = _ALIASES.get(str(name).strip().upper())
    if canonical is None:
        raise SchemeError(
            f"unknown tag scheme {name!r}; known schemes: IOB1, IOB2 (BIO), "
            "IOBES (BIOES), BILOU, BMES"
        )
    return canonical


def tag_names(labels: Iterable[str], scheme: str = "IOB2") -> list[str]:
    """All tags for ``labels``: "O" first, then per sorted label its prefixes in scheme order."""
    prefixes = list(_ROLES[normalize_scheme(scheme)])
    return ["O"] + [f"{p}-{label}" for label in sorted(set(labels)) for p in prefixes]


def spans_to_tags(
    offsets: Offsets, spans: Iterable[Span], scheme: str = "IOB2"
) -> tuple[list[str], list[AlignmentWarning]]:
    """Tag every token that overlaps a span; report span edges that fall inside a token.

    A span edge inside a token is never moved silently: the whole token is tagged and an
    :class:`AlignmentWarning` names the span and the token's offsets. A span overlapping no
    token (or only tokens an earlier span already took) gets a warning and no tags.
    """
    scheme = normalize_scheme(scheme)
    owner, warnings = _assign_tokens(offsets, sorted(spans, key=lambda s: (s.start, s.end)))
    tags = ["O"] * len(offsets)
    i = 0
    while i < len(owner):
        span = owner[i]
        if span is None:
            i += 1
            continue
        j = i
        while j + 1 < len(owner) and owner[j + 1] is span:
            j += 1
        follows_same = i > 0 and owner[i - 1] is not None and owner[i - 1].label == span.label
        tags[i : j + 1] = _entity_tags(scheme, span.label, j - i + 1, follows_same)
        i = j + 1
    return tags, warnings


def _assign_tokens(
    offsets: Offsets, spans: list[Span]
) -> tuple[list[Span | None], list[AlignmentWarning]]:
    """Which span owns each token (first come, first served), plus alignment warnings."""
    owner: list[Span | None] = [None] * len(offsets)
    ends = [end for _, end in offsets]
    warnings = []
    for span in spans:
        first = bisect_right(ends, span.start)  # first token ending after the span starts
        last = first
        while last < len(offsets) and offsets[last][0] < span.end:
            last += 1
        taken = [k for k in range(first, last) if owner[k] is None]
        where = f"span [{span.start}, {span.end}) {span.label}"
        if not taken:
            warnings.append(AlignmentWarning(span, f"{where} covers no token of its own"))
            continue
        start_tok, end_tok = offsets[first], offsets[last - 1]
        if start_tok[0] < span.start < start_tok[1]:
            warnings.append(AlignmentWarning(span, f"{where} starts inside token "
                                             f"[{start_tok[0]}, {start_tok[1]}); "
                                             "the whole token is tagged"))
        if end_tok[0] < span.end < end_tok[1]:
            warnings.append(AlignmentWarning(span, f"{where} ends inside token "
                                             f"[{end_tok[0]}, {end_tok[1]}); "
                                             "the whole token is tagged"))
        if len(taken) < last - first:
            warnings.append(AlignmentWarning(span, f"{where} shares a token with the span "
                                             "before it, which keeps that token"))
        for k in taken:
            owner[k] = span
    return owner, warnings


def _entity_tags(scheme: str, label: str, n: int, follows_same: bool) -> list[str]:
    """The tags of one entity of ``n`` tokens."""
    p = _PREFIX[scheme]
    if scheme == "IOB1":
        first = p[BEGIN] if follows_same else p[INSIDE]
        roles = [first] + [p[INSIDE]] * (n - 1)
    elif scheme not in _CLOSED:
        roles = [p[BEGIN]] + [p[INSIDE]] * (n - 1)
    elif n == 1:
        roles = [p[SINGLE]]
    else:
        roles = [p[BEGIN]] + [p[INSIDE]] * (n - 2) + [p[END]]
    return [f"{prefix}-{label}" for prefix in roles]


def tags_to_spans(
    offsets: Offsets, tags: Sequence[str], scheme: str = "IOB2", *, strict: bool = False
) -> list[Span]:
    """Read entities from one tag per token; a span runs from its first to its last token.

    Lenient mode repairs invalid sequences the way conlleval does (an ``I-X`` that does not
    continue an X entity starts one; an ``E-X`` without ``B-X`` is a one-token entity...).
    With ``strict=True`` any invalid sequence raises :class:`SchemeError` with ``index`` set.
    Unknown tags raise :class:`SchemeError` in both modes.
    """
    scheme = normalize_scheme(scheme)
    if len(offsets) != len(tags):
        raise ValueError(f"expected one tag per token: {len(offsets)} tokens, {len(tags)} tags")
    spans: list[Span] = []
    open_: tuple[int, str] | None = None  # (first token, label) of the entity being read

    def close(last: int) -> None:
        nonlocal open_
        if open_ is not None:
            spans.append(Span(offsets[open_[0]][0], offsets[last][1], open_[1]))
            open_ = None

    prev = None
    for i, tag in enumerate(tags):
        role, label = _parse(tag, scheme, i)
        if strict:
            _check_transition(scheme, prev, tag, i)
        continues = open_ is not None and open_[1] == label and role in (INSIDE, END)
        if not continues:
            close(i - 1)
            if role != OUTSIDE:
                open_ = (i, label)
        if role in (END, SINGLE):
            close(i)
        prev = tag
    if strict and prev is not None:
        _check_end(scheme, prev, len(tags) - 1)
    close(len(tags) - 1)
    return spans


def _parse(tag: str, scheme: str, index: int) -> tuple[str, str | None]:
    """(role, label) of ``tag``; unknown tags raise :class:`SchemeError`."""
    if tag == "O":
        return OUTSIDE, None
    prefix, sep, label = str(tag).partition("-")
    role = _ROLES[scheme].get(prefix)
    if not sep or not label or role is None:
        known = ", ".join(f"{p}-X" for p in _ROLES[scheme])
        raise SchemeError(f"unknown tag {tag!r} in {scheme}; expected O, {known}", index)
    return role, label


def _check_transition(scheme: str, prev: str | None, tag: str, index: int) -> None:
    """Raise :class:`SchemeError` if ``tag`` may not follow ``prev`` (None: sentence start)."""
    prev_role, prev_label = _parse(prev, scheme, index - 1) if prev else (OUTSIDE, None)
    role, label = _parse(tag, scheme, index)
    in_entity = prev_role in (BEGIN, INSIDE)
    same = in_entity and prev_label == label
    if scheme in _CLOSED:
        ok = role in (INSIDE, END) and same if in_entity else role not in (INSIDE, END)
    elif scheme == "IOB2":
        ok = role != INSIDE or same
    else:  # IOB1: B- only separates two entities of the same label
        ok = role != BEGIN or same
    if not ok:
        where = f"follows {prev!r}" if prev else "starts a sentence"
        raise SchemeError(f"tag {tag!r} {where} in {scheme}", index)


def _check_end(scheme: str, last: str, index: int) -> None:
    """Raise :class:`SchemeError` if a sentence ends inside an unclosed entity."""
    role, label = _parse(last, scheme, index)
    if scheme in _CLOSED and role in (BEGIN, INSIDE):
        end = f"{_PREFIX[scheme][END]}-{label}"
        raise SchemeError(f"sentence ends after {last!r} in {scheme} (expected {end!r})", index)


def detect_scheme(tag_sequences: Iterable[Sequence[str]]) -> str:
    """Guess the scheme of some tag sequences from the prefixes used; ambiguous -> IOB2."""
    sequences = [list(tags) for tags in tag_sequences]
    prefixes = {str(t).partition("-")[0] for tags in sequences for t in tags if t != "O"}
    if "M" in prefixes:
        return "BMES"
    if prefixes & {"U", "L"}:
        return "BILOU"
    if prefixes & {"S", "E"}:
        return "IOBES"
    return "IOB1" if _looks_iob1(sequences) else "IOB2"


def _looks_iob1(sequences: list[list[str]]) -> bool:
    """True if I- starts entities and B- only ever follows an entity of the same label."""
    i_starts = False
    for tags in sequences:
        prev_prefix, prev_label = "O", ""
        for tag in tags:
            prefix, _, label = str(tag).partition("-")
            same = prev_prefix in ("B", "I") and prev_label == label
            if prefix == "B" and not same:
                return False
            if prefix == "I" and not same:
                i_starts = True
            prev_prefix, prev_label = prefix, label
    return i_starts
