"""Readers and writers for column (CoNLL-style), JSONL and plain-text files. No torch.

Every reader is all-or-nothing: the first bad record raises :class:`FormatError` naming the
file, the line and the reason, and nothing is returned. What a reader repairs or reads past
(an invalid tag sequence read as conlleval does, a line of invisible characters read as a
blank line) is a :class:`ReadWarning`. :func:`read` is the one reading policy of the CLI's
commands and the app's import. Sources may be a path, the file's bytes, its text, or an
object with ``read()`` (such as an upload).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Union

from tagger.schemes import (
    SchemeError,
    detect_scheme,
    normalize_scheme,
    spans_to_tags,
    tags_to_spans,
)
from tagger.spans import Example, SeqLabError, Span, make_example

Source = Union[str, bytes, os.PathLike, IO]
Dest = Union[str, os.PathLike, IO[str]]

FORMATS = ("column", "jsonl", "text")
_COLUMN_EXTS = {".conll", ".conllu", ".conll03", ".bio", ".bioes", ".iob", ".iob1", ".iob2",
                ".iobes", ".bilou", ".bmes", ".tsv", ".col"}
_JSONL_EXTS = {".jsonl", ".ndjson", ".json"}
_FIELD_SEP = re.compile(r"[ \t]+")
_TAG_LIKE = re.compile(r"^(O|[BIESLUM]-.+)$")
DOCSTART = "-DOCSTART-"
MAX_JSON_DEPTH = 100  # deeper records are refused: stored metadata is re-encoded recursively
MAX_LISTED = 5  # repaired lines named in a warning
log = logging.getLogger(__name__)


class FormatError(SeqLabError):
    """A file that cannot be imported; ``str()`` is "file, line N: reason"."""

    def __init__(self, reason: str, *, file: str | None = None, line: int | None = None):
        self.reason, self.file, self.line = reason, file, line
        where = ", ".join(p for p in (file, f"line {line}" if line else None) if p)
        super().__init__(f"{where}: {reason}" if where else reason)


@dataclass(frozen=True)
class ReadWarning:
    """Something a reader repaired or read past; ``str()`` is "file: message"."""

    message: str
    file: str | None = None

    def __str__(self) -> str:
        return f"{self.file}: {self.message}" if self.file else self.message


@dataclass(frozen=True)
class Reading:
    """What :func:`read` found: the examples, the line each starts on, the warnings."""

    examples: tuple[Example, ...]
    lines: tuple[int, ...]
    warnings: tuple[ReadWarning, ...]
    fmt: str
    task: str = "spans"  # what the examples hold: "spans", "tags" or "frames" (tagger.task_formats)


# ---------------------------------------------------------------- sources


def _load(source: Source, name: str | None) -> tuple[str, str | None]:
    """Return the decoded text of ``source`` and the name to use in errors.

    A ``str`` is a path when it names an existing file, or looks like a file name (one line,
    no spaces, a short extension); otherwise it is the content itself.
    """
    if hasattr(source, "read"):
        data = source.read()
        name = name or _basename(getattr(source, "name", None))
    elif isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_path(source)):
        path = Path(source)
        name = name or path.name
        try:
            data = path.read_bytes()
        except OSError as e:
            raise FormatError(f"cannot read the file: {e.strerror or e}", file=name) from e
    else:
        data = source
    if isinstance(data, (bytes, bytearray)):
        text = _decode(data, name)
    else:
        text = data.removeprefix("\ufeff")
    nul = text.find("\x00")
    if nul >= 0:
        raise FormatError("NUL character in the file (is it binary, or UTF-16?)",
                          file=name, line=text.count("\n", 0, nul) + 1)
    return text, name


def _basename(name: Any) -> str | None:
    return Path(name).name if isinstance(name, str) and name else None


def _looks_like_path(s: str) -> bool:
    if "\n" in s or not s:
        return False
    return os.path.isfile(s) or (" " not in s and re.search(r"\.[A-Za-z0-9]{1,8}$", s) is not None)


def _decode(data: bytes, name: str | None) -> str:
    """UTF-8 (an optional BOM skipped); anything else is a FormatError with the line."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise FormatError("the file is UTF-16; save it as UTF-8", file=name, line=1)
    try:
        return bytes(data).decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        raise FormatError(
            f"not valid UTF-8: byte 0x{data[e.start]:02x} at column {e.start - line_start + 1} "
            "(save the file as UTF-8)",
            file=name, line=data.count(b"\n", 0, e.start) + 1,
        ) from None


def _lines(text: str) -> list[str]:
    """Split on "\\n" only (other Unicode line breaks may be inside tokens); drop CRs of CRLF."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]  # CR CR LF: a file converted twice


def _build(text: str, spans: Iterable[Span], meta: Mapping[str, Any], name, line) -> Example:
    """make_example(), with its errors turned into a FormatError at ``line``."""
    try:
        return make_example(text, spans, meta=meta)
    except SeqLabError as e:
        raise FormatError(str(e), file=name, line=line) from e


def _open_dest(dest: Dest):
    if hasattr(dest, "write"):
        return _NoClose(dest)
    return open(dest, "w", encoding="utf-8", newline="\n")


class _NoClose:
    """Lets a caller's file object be used in a ``with`` block without closing it."""

    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self.f

    def __exit__(self, *exc):
        return False


# ---------------------------------------------------------------- column files


def read_column(
    source: Source, *, scheme: str | None = None, name: str | None = None,
    char_level: bool | None = None, strict: bool = True,
) -> list[Example]:
    """Read a CoNLL-style file: one "token ... tag" per line, blank line between sentences.

    The scheme is detected over the whole file unless given; tokens are joined by single
    spaces, or without spaces for character-level files (detected, or ``char_level=True``).
    A tag sequence invalid under the scheme is an error naming its line; ``strict=False``
    repairs it instead, as conlleval does (for corpora with known noise, e.g. CoNLL-2003),
    and logs a warning.
    """
    text, name = _load(source, name)
    return _logged(_parse_column(text, name, scheme, char_level, strict))


def _logged(reading: Reading) -> list[Example]:
    """The examples of ``reading``, its warnings sent to the log (for library callers)."""
    for warning in reading.warnings:
        log.warning("%s", warning)
    return list(reading.examples)


def _parse_column(text: str, name: str | None, scheme: str | None,
                  char_level: bool | None, strict: bool = True) -> Reading:
    warnings: list[ReadWarning] = []
    sentences = _column_sentences(text, name, warnings)
    scheme = normalize_scheme(scheme) if scheme else detect_scheme(
        [[tag for _, tag, _ in sent] for sent in sentences])
    if char_level is None:
        char_level = _looks_char_level([tok for sent in sentences for tok, _, _ in sent])
    joiner = "" if char_level else " "
    repairs: list[FormatError] = []
    examples = [_column_example(sent, scheme, joiner, name, strict, repairs) for sent in sentences]
    if repairs:
        warnings.append(_repair_warning(repairs, name))
    return Reading(tuple(examples), tuple(sent[0][2] for sent in sentences), tuple(warnings),
                   "column")


def _repair_warning(repairs: list[FormatError], name: str | None) -> ReadWarning:
    """One warning naming the first repaired lines (the same words in every command)."""
    n = len(repairs)
    listed = _listed([f"line {e.line}: {e.reason}" for e in repairs], "; ")
    return ReadWarning(f"{n} tag sequence{'s were' if n > 1 else ' was'} repaired as conlleval "
                       f"does: {listed} (a strict reading refuses {'them' if n > 1 else 'it'})",
                       file=name)


def _listed(items: list[str], sep: str = ", ") -> str:
    """The first ``MAX_LISTED`` items, and how many more there are."""
    more = len(items) - MAX_LISTED
    return sep.join(items[:MAX_LISTED]) + (f"{sep}and {more} more" if more > 0 else "")


def _column_sentences(text: str, name: str | None,
                      warnings: list[ReadWarning]) -> list[list[tuple[str, str, int]]]:
    """Sentences as lists of (token, tag, line number); -DOCSTART- and comment lines dropped."""
    sentences, current = [], []
    for number, line in _content_lines(text, name, warnings):
        fields = _fields(line) if line is not None else []
        if not fields or fields[0] == DOCSTART:
            if current:
                sentences.append(current)
            current = []
        elif _is_comment(fields):
            continue
        elif "\r" in line:  # old Mac line ends: the whole file would read as one line
            raise FormatError("a carriage return (CR) inside the line: save the file with LF "
                              "or CRLF line ends", file=name, line=number)
        elif len(fields) < 2:
            raise FormatError(f"expected 'token tag', got {line!r}", file=name, line=number)
        else:
            current.append((fields[0], fields[-1], number))
    if current:
        sentences.append(current)
    return sentences


def _fields(line: str) -> list[str]:
    """The fields of a column line: tab-separated when it has a tab (a token may then hold a
    space), else space-separated; empty fields (doubled tabs) dropped."""
    stripped = line.strip(" \t")
    if "\t" in stripped:
        return [f for f in (part.strip(" ") for part in stripped.split("\t")) if f]
    return _FIELD_SEP.split(stripped) if stripped else []


def _is_comment(fields: list[str]) -> bool:
    """A "# id ... domain=en" line (MultiCoNER, CoNLL-U style): starts with "#", no tag last."""
    return fields[0].startswith("#") and not (len(fields) >= 2 and _TAG_LIKE.match(fields[-1]))


def _content_lines(text: str, name: str | None, warnings: list[ReadWarning],
                   json_lines: bool = False):
    """(line number, line) for every line; None for a blank one.

    A line of nothing but invisible format characters (Unicode Cf: a stray U+FEFF as in
    WNUT-17's dev file, U+200B, U+200E) is blank too, with a warning naming it. In JSONL
    (``json_lines``) a U+FEFF before a record is a byte-order mark left by joining files,
    removed with a warning (in column and text files it may start a token or a text).
    """
    invisible: list[tuple[int, str]] = []
    boms: list[int] = []
    for number, line in enumerate(_lines(text), 1):
        stripped = line.strip()
        if not stripped:
            yield number, None
        elif unicodedata.category(stripped[0]) == "Cf" and _invisible(stripped):
            invisible.append((number, stripped))
            yield number, None
        elif json_lines and line.startswith("\ufeff"):
            boms.append(number)
            yield number, line.lstrip("\ufeff")
        else:
            yield number, line
    if invisible:
        n = len(invisible)
        warnings.append(ReadWarning(
            f"{_count(n, 'line')} holding only invisible characters {'was' if n == 1 else 'were'} "
            f"read as blank: {_count(n, 'line', False)} "
            f"{_listed([f'{number} ({_code_points(s)})' for number, s in invisible])}", file=name))
    if boms:
        warnings.append(ReadWarning(
            f"{_count(len(boms), 'line')} began with a byte-order mark (U+FEFF, left by joining "
            f"files), removed: {_count(len(boms), 'line', False)} {_listed([str(n) for n in boms])}",
            file=name))


def _count(n: int, noun: str, number: bool = True) -> str:
    """ "1 line", "3 lines"; without the number: "line", "lines"."""
    word = noun if n == 1 else noun + "s"
    return f"{n} {word}" if number else word


def _code_points(s: str) -> str:
    return " ".join(f"U+{ord(ch):04X}" for ch in dict.fromkeys(s) if not ch.isspace())


def _invisible(s: str) -> bool:
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in s)


def _column_example(sent, scheme: str, joiner: str, name: str | None, strict: bool,
                    repairs: list[FormatError]) -> Example:
    offsets, pos = [], 0
    for token, _, _ in sent:
        offsets.append((pos, pos + len(token)))
        pos += len(token) + len(joiner)
    text = joiner.join(token for token, _, _ in sent)
    tags = [tag for _, tag, _ in sent]
    try:
        spans = tags_to_spans(offsets, tags, scheme, strict=True)
    except SchemeError as e:
        line = sent[e.index][2] if e.index is not None else sent[0][2]
        error = FormatError(str(e), file=name, line=line)
        if strict or "unknown" in str(e).lower():
            raise error from e
        repairs.append(error)
        spans = tags_to_spans(offsets, tags, scheme, strict=False)
    return _build(text, spans, _where(name, sent[0][2]), name, sent[0][2])


def _is_cjk(ch: str) -> bool:
    """Han, kana and CJK punctuation/full-width forms: scripts written without spaces."""
    o = ord(ch)
    return (0x3000 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0x3400 <= o <= 0x4DBF
            or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0xFF00 <= o <= 0xFFEF
            or 0x20000 <= o <= 0x2FA1F)


def _looks_char_level(tokens: list[str]) -> bool:
    """Nearly all tokens single characters, most of them CJK (e.g. MSRA, People's Daily)."""
    if not tokens:
        return False
    single = sum(len(t) == 1 and not (t.isascii() and t.isalpha()) for t in tokens)
    cjk = sum(len(t) == 1 and _is_cjk(t) for t in tokens)
    return single >= 0.9 * len(tokens) and cjk >= 0.5 * len(tokens)


def write_column(examples: Iterable[Example], dest: Dest, scheme: str = "IOB2") -> None:
    """Write examples as "token tag" lines, a blank line between documents.

    Tokens are the text split on whitespace, then at every span edge and around every CJK
    character. Reading the file back gives the same texts and spans when each text is tokens
    joined by single spaces and spans cover whole tokens, or (for character-level files) CJK
    text without spaces. Limits of the format: other whitespace (newlines, tabs, double
    spaces) becomes single spaces on reading, a span's leading or trailing whitespace is
    lost, and a file mixing CJK and spaced text reads back with spaces between all tokens.
    """
    scheme = normalize_scheme(scheme)
    blocks = []
    for number, ex in enumerate(examples, 1):
        offsets = _writer_tokens(ex.text, ex.spans)
        tags, _ = spans_to_tags(offsets, ex.spans, scheme)  # spans align: edges are token cuts
        tokens = [ex.text[a:b] for a, b in offsets]
        _check_writable(tokens, ex.spans, number)
        blocks.append("".join(f"{tok} {tag}\n" for tok, tag in zip(tokens, tags)))
    out = "\n".join(blocks)
    if out.startswith("\ufeff"):
        # Readers skip one leading U+FEFF as a byte-order mark: add one so the text's survives.
        out = "\ufeff" + out
    with _open_dest(dest) as f:
        f.write(out)


def _check_writable(tokens: list[str], spans: Iterable[Span], number: int) -> None:
    """Refuse what a column file cannot carry, rather than write a file that reads back wrong."""
    if DOCSTART in tokens:
        raise FormatError(f"document {number}: the token {DOCSTART!r} cannot be written "
                          "to a column file")
    for span in spans:
        if any(ch.isspace() for ch in span.label):
            raise FormatError(f"document {number}: label {span.label!r} contains whitespace "
                              "and cannot be written to a column file")


def _writer_tokens(text: str, spans: Iterable[Span]) -> list[tuple[int, int]]:
    """Whitespace tokens, cut at span edges and around CJK characters."""
    cuts = {s.start for s in spans} | {s.end for s in spans}
    out = []
    for m in re.finditer(r"\S+", text):
        start = m.start()
        for i in range(m.start() + 1, m.end() + 1):
            if i == m.end() or i in cuts or _is_cjk(text[i - 1]) or _is_cjk(text[i]):
                out.append((start, i))
                start = i
    return out


# ---------------------------------------------------------------- JSONL


def read_jsonl(source: Source, *, name: str | None = None) -> list[Example]:
    """Read one JSON object per line: {"text", "spans": [{start, end, label}]} or doccano's."""
    text, name = _load(source, name)
    return _logged(_parse_jsonl(text, name))


def _parse_jsonl(text: str, name: str | None, task: str = "spans") -> Reading:
    warnings: list[ReadWarning] = []
    found = [(number, _jsonl_example(line, name, number, task))
             for number, line in _content_lines(text, name, warnings, json_lines=True)
             if line is not None]
    return Reading(tuple(ex for _, ex in found), tuple(n for n, _ in found), tuple(warnings),
                   "jsonl", task)


class _BadNumber(ValueError):
    """NaN, Infinity or a float too large: valid in Python's JSON, not in JSON (nor storable)."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _BadNumber(f"the number {text[:20]}{'...' if len(text) > 20 else ''} is too large")
    return value


def _no_constant(text: str):
    raise _BadNumber(f"{text} is not a JSON number")


def _decode_record(line: str, fail) -> Any:
    """``json.loads``, with each way a line can fail turned into a FormatError."""
    try:
        record = json.loads(line, parse_float=_finite, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise fail(f"invalid JSON: {e.msg} at column {e.colno}") from None
    except _BadNumber as e:
        raise fail(f"invalid JSON: {e}") from None
    except RecursionError:
        raise fail(f"the record is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError:  # int() refuses to convert more digits than this (CVE-2020-10735)
        raise fail(f"a number has more than {sys.get_int_max_str_digits()} digits") from None
    if _depth(record) > MAX_JSON_DEPTH:
        raise fail(f"the record is nested more than {MAX_JSON_DEPTH} levels deep")
    return record


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level)
            if level <= MAX_JSON_DEPTH:
                stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _jsonl_example(line: str, name: str | None, number: int, task: str = "spans") -> Example:
    def fail(reason: str):
        return FormatError(reason, file=name, line=number)

    record = _decode_record(line, fail)
    if not isinstance(record, dict):
        raise fail(f"expected a JSON object, got {type(record).__name__}")
    if not isinstance(record.get("text"), str):
        raise fail("missing \"text\" (a string)")
    from tagger.task_formats import record_task

    own = record_task(record)
    if own is not None and own != task:
        raise fail(f"the record holds {own}, but the file holds {task} (from its first record with "
                   "an annotation): a file mixes the tasks")
    if task in ("tags", "frames"):
        return _task_jsonl_example(record, task, name, number, fail)
    key = "spans" if "spans" in record else "label" if "label" in record else None
    raw = record.get(key, []) if key else []
    if not isinstance(raw, list):
        raise fail(f"\"{key}\" must be a list, got {type(raw).__name__}")
    spans = [_json_span(item, key, fail) for item in raw]
    meta = {k: v for k, v in record.items() if k not in ("text", key)}
    return _build(record["text"], spans, meta, name, number)


def _task_jsonl_example(record: dict, task: str, name, number: int, fail) -> Example:
    from tagger import task_formats
    from tagger.spans import validate_frames, validate_tags, validate_text

    meta = {k: v for k, v in record.items() if k not in ("text", task)}
    text = record["text"]
    try:
        validate_text(text)
        if task == "tags":
            return Example(text, validate_tags(text, task_formats.json_tags(record, fail) if task in record else []),
                           meta)
        frames = task_formats.json_frames(record, fail) if task in record else []
        return Example(text, (), meta, validate_frames(text, frames))
    except FormatError:
        raise
    except SeqLabError as e:
        raise fail(str(e)) from e


def _json_span(item: Any, key: str, fail) -> Span:
    """One span from {"start", "end", "label"(, "score")} or doccano's [start, end, label]."""
    if isinstance(item, dict):
        start, end, label, score = (item.get(k) for k in ("start", "end", "label", "score"))
    elif isinstance(item, list) and len(item) == 3:
        (start, end, label), score = item, None
    else:
        raise fail(f"each of \"{key}\" must be {{\"start\", \"end\", \"label\"}} or "
                   f"[start, end, label], got {json.dumps(item, ensure_ascii=False)[:60]}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
        raise fail(f"span offsets must be integers, got start={_short(start)}, end={_short(end)}")
    if not isinstance(label, str):
        raise fail(f"span [{_short(start)}, {_short(end)}) label must be a string, got {_short(label)}")
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
        raise fail(f"span [{_short(start)}, {_short(end)}) score must be a number, got {_short(score)}")
    return Span(start, end, label, score)


def _short(value: Any) -> str:
    """``repr(value)``, cut to 40 characters (a 4,000-digit offset is not a message)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def write_jsonl(examples: Iterable[Example], dest: Dest, task: str = "spans") -> None:
    """Write one {"text", "spans", **meta} object per line (UTF-8, not ASCII-escaped); for the
    tasks "tags" and "frames", their own key instead of "spans" (tagger.task_formats)."""
    if task != "spans":
        from tagger.task_formats import record

        lines = []
        for number, ex in enumerate(examples, 1):
            try:
                lines.append(json.dumps(record(ex, task), ensure_ascii=False) + "\n")
            except SeqLabError as e:
                raise FormatError(f"document {number}: {e}") from e
        with _open_dest(dest) as f:
            f.write("".join(lines))
        return
    lines = []
    for number, ex in enumerate(examples, 1):
        clash = {"text", "spans"} & set(ex.meta)
        if clash:
            raise FormatError(f"document {number}: metadata key {sorted(clash)[0]!r} would "
                              "overwrite the record's own")
        record = {"text": ex.text, "spans": [s.to_dict() for s in ex.spans], **ex.meta}
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    with _open_dest(dest) as f:
        f.write("".join(lines))


# ---------------------------------------------------------------- plain text and dispatch


def read_text(source: Source, *, name: str | None = None) -> list[Example]:
    """One document per non-blank line, kept exactly as written, without spans."""
    text, name = _load(source, name)
    return _logged(_parse_text(text, name))


def _parse_text(text: str, name: str | None) -> Reading:
    warnings: list[ReadWarning] = []
    found = [(number, _build(line, (), _where(name, number), name, number))
             for number, line in _content_lines(text, name, warnings) if line is not None]
    return Reading(tuple(ex for _, ex in found), tuple(n for n, _ in found), tuple(warnings),
                   "text")


def _where(name: str | None, line: int) -> dict[str, Any]:
    """The metadata that says where an imported example came from."""
    return {"source": name, "line": line} if name else {"line": line}


def read(source: Source, *, fmt: str | None = None, name: str | None = None,
         scheme: str | None = None, strict: bool = False, task: str | None = None) -> Reading:
    """The one reading policy of the CLI's commands and the app's import.

    The format is ``fmt`` or guessed from the content (then the name); the task ("spans",
    "tags", "frames") is detected from the content (tagger.task_formats.detect_task), and a
    file of another task than ``task``, when given, is refused. Invalid tag sequences of
    column files are repaired as conlleval does, with a warning; ``strict=True`` refuses
    them. ``scheme`` only applies to column files of spans.
    """
    from tagger.task_formats import detect_task, other_task, parse_frames_column, parse_tags_column

    text, name = _load(source, name)
    fmt = fmt or guess_format(name or "", text)
    if fmt not in FORMATS:
        raise FormatError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}", file=name)
    found = detect_task(fmt, text, name)
    if task is not None and found is not None and found != task:
        raise other_task(found, task, name)
    task = task or found or "spans"
    if fmt == "text":
        return dataclasses.replace(_parse_text(text, name), task=task)
    if fmt == "jsonl":
        return _parse_jsonl(text, name, task)
    if task == "tags":
        return parse_tags_column(text, name)
    if task == "frames":
        return parse_frames_column(text, name, strict)
    return _parse_column(text, name, scheme, None, strict)


def read_file(path: str | os.PathLike, *, fmt: str | None = None,
              scheme: str | None = None, strict: bool = True) -> list[Example]:
    """Read ``path`` as ``fmt`` ("column", "jsonl", "text"), guessed when not given.

    ``scheme`` and ``strict`` only apply to column files (see :func:`read_column`).
    """
    return _logged(read(Path(path), fmt=fmt, scheme=scheme, strict=strict))


def guess_format(filename: str, text: str) -> str:
    """"jsonl", "column" or "text": from the content when it is clear, else from the extension.

    JSONL when the first line starts with "{"; column when nearly every line ends in a tag
    (``O``, ``B-PER``...), or when blank lines separate lines that all have the same
    tab-separated fields, the first a token without spaces; otherwise the extension decides,
    and plain text is the rest.
    """
    head = _lines(text.removeprefix("\ufeff")[:65536])[:500]
    sample = [line for line in head if line.strip() and not _invisible(line)]
    if sample and sample[0].lstrip().startswith("{"):
        return "jsonl"
    sentences = len(sample) < len(head)  # blank lines between groups of lines
    if sample and (_mostly_tagged(sample) or sentences and _same_tab_fields(sample)):
        return "column"
    ext = Path(filename).suffix.lower()
    if ext in _JSONL_EXTS:
        return "jsonl"
    return "column" if ext in _COLUMN_EXTS else "text"


def _mostly_tagged(sample: list[str]) -> bool:
    rows = [_fields(line) for line in sample]
    tagged = sum(len(r) >= 2 and bool(_TAG_LIKE.match(r[-1])) or r[0] == DOCSTART
                 or _is_comment(r) for r in rows)
    return tagged >= 0.9 * len(rows)


def _same_tab_fields(sample: list[str]) -> bool:
    """Every line "token<TAB>field..." with as many fields (e.g. UD's "From<TAB>ADP"), comment
    lines without a tab (CoNLL-U's "# sent_id = 1") aside."""
    sample = [line for line in sample if not (line.lstrip().startswith("#") and "\t" not in line)]
    counts = {line.strip(" ").count("\t") for line in sample}
    return (len(sample) >= 2 and len(counts) == 1 and counts != {0}
            and all(" " not in line.split("\t", 1)[0].strip() for line in sample))
