"""Files of the ``tags`` (POS) and ``frames`` (SRL) tasks, and which task a file holds. No torch.

``tags``: a column file of one ``token<TAB>TAG`` per line with plain tags (``NOUN``, ``VERB``; no
``B-``/``I-`` prefixes), a blank line between sentences; JSONL ``{"text", "tags": [{"start",
"end", "tag"}]}``. ``frames``: one block per predicate, ``token<TAB>predicate<TAB>tag`` where the
predicate column holds the sense (``nominate.01``) on the predicate's word and ``-`` elsewhere and
the tag is IOB2 over roles with the predicate itself ``B-V``; consecutive blocks over the same
tokens are one sentence with several frames. JSONL ``{"text", "frames": [{"predicate": {"start",
"end", "sense"}, "arguments": [{"start", "end", "label"}]}]}``.

:func:`detect_task` tells the three apart from a file's content; a file that mixes them is an
error naming the first line that does not fit. Writers refuse what their format cannot carry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from tagger.schemes import SchemeError, spans_to_tags, tags_to_spans
from tagger.spans import TASKS, Example, Frame, SeqLabError, Span, validate_frames, validate_tags, validate_text

SENTENCE_BREAK = "# sentence"  # written before a sentence whose tokens repeat the previous one's
PREDICATE_TAG = "V"
_PREFIXED = re.compile(r"^(O|[BIESLUM]-.+)$")
_SENSE = re.compile(r"^\S+\.\d+$")  # a PropBank roleset: nominate.01


def _errors():
    from tagger import formats  # formats imports this module lazily: no cycle at import time

    return formats


# ---------------------------------------------------------------- detection


def detect_task(fmt: str, text: str, name: str | None = None) -> str | None:
    """``spans``, ``tags`` or ``frames``: what a column or JSONL file holds; None when nothing
    in it says (plain text, JSONL records with only "text"): such files suit every task.

    JSONL: the key of the first record that has one of "frames", "tags", "spans". Column: frames
    when the lines have three fields and a ``B-V`` tag occurs; tags when most tags carry no
    scheme prefix; spans otherwise.
    """
    f = _errors()
    if fmt == "jsonl":
        for number, line in enumerate(f._lines(text), 1):
            line = line.strip().lstrip("\ufeff")
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                return None  # the JSONL reader names the line and the reason
            if isinstance(record, dict) and record_task(record):
                return record_task(record)
        return None
    if fmt != "column":
        return None
    plain = prefixed = three = dashes = lines = conllu = 0
    for line in f._lines(text)[:20000]:
        fields = _block_fields(line)
        # "#<TAB>TAG" is the word "#" (as the tags reader takes it), not a comment
        word_hash = len(fields) == 2 and fields[0].startswith("#") and "\t" in line
        if len(fields) < 2 or fields[0] == f.DOCSTART or (f._is_comment(fields) and not word_hash):
            continue
        conllu += _conllu(line) is not None
        tag = fields[-1]
        lines += 1
        if tag == "B-V" and len(fields) == 3:
            three += 1
        dashes += len(fields) == 3 and (fields[1] == "-" or _SENSE.match(fields[1]) is not None)
        if _PREFIXED.match(tag):
            prefixed += 1
        else:
            plain += 1
    if three or (lines and dashes == lines):  # predicate blocks (even without a B-V)
        return "frames"
    if lines and conllu == lines:  # CoNLL-U: the UPOS column
        return "tags"
    return "tags" if plain > prefixed else "spans"


def record_task(record: dict) -> str | None:
    """The task a JSONL record's annotation key says, None when it has none. "spans" (or
    doccano's "label") wins: a spans file may keep, say, "tags": ["news"] as metadata; "tags"
    and "frames" count only as lists of objects."""
    if "spans" in record or "label" in record:
        return "spans"
    for key in ("frames", "tags"):
        value = record.get(key)
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return key
    return None


def other_task(found: str, expected: str, name: str | None) -> SeqLabError:
    """The error for a file of one task read as another."""
    what = {"spans": "entity spans (task 'spans')", "tags": "a tag per word, e.g. POS (task 'tags')",
            "frames": "predicates and their arguments, SRL (task 'frames')"}
    return _errors().FormatError(f"the file holds {what[found]}, not {what[expected]}", file=name)


# ---------------------------------------------------------------- tags: column files


def parse_tags_column(text: str, name: str | None):
    """A plain-tag column file as a Reading of ``tags`` examples (each word a span of its tag)."""
    f = _errors()
    warnings: list = []
    sentences = _tag_sentences(text, name, warnings)
    first_plain = next((line for sent in sentences for _, tag, line in sent if not _PREFIXED.match(tag)), None)
    char_level = f._looks_char_level([tok for sent in sentences for tok, _, _ in sent])
    joiner = "" if char_level else " "
    examples = []
    for sent in sentences:
        spans, pos = [], 0
        for token, tag, line in sent:
            if _PREFIXED.match(tag):
                raise f.FormatError(f"the tag {tag!r} has a scheme prefix, but the file holds plain tags "
                                    f"(one per word, as on line {first_plain}): a file mixes the tasks", file=name,
                                    line=line)
            spans.append(Span(pos, pos + len(token), tag))
            pos += len(token) + len(joiner)
        sentence = joiner.join(token for token, _, _ in sent)
        examples.append(_tags_example(sentence, spans, f._where(name, sent[0][2]), name, sent[0][2]))
    return f.Reading(tuple(examples), tuple(sent[0][2] for sent in sentences), tuple(warnings), "column", "tags")


def _tag_sentences(text: str, name: str | None, warnings: list) -> list[list[tuple[str, str, int]]]:
    """Sentences as (token, tag, line); "# ..." lines without a tab are comments (CoNLL-U's
    ``# sent_id = 1``), while ``#<TAB>SYM`` is the word "#"."""
    f = _errors()
    sentences, current = [], []
    for number, line in f._content_lines(text, name, warnings):
        fields = f._fields(line) if line is not None else []
        if not fields or fields[0] == f.DOCSTART:
            if current:
                sentences.append(current)
            current = []
        elif fields[0].startswith("#") and ("\t" not in line or len(fields) != 2):
            continue
        elif line.count("\t") == 9:  # CoNLL-U: FORM and UPOS; multi-word tokens and empty nodes skipped
            word = _conllu(line)
            if word is None:
                raise f.FormatError("a CoNLL-U line needs an ID (1, 2-3 or 1.1) in its first field", file=name,
                                    line=number)
            if word:
                current.append((*word, number))
        elif len(fields) < 2:
            raise f.FormatError(f"expected 'token<TAB>tag', got {line!r}", file=name, line=number)
        else:
            current.append((fields[0], fields[-1], number))
    if current:
        sentences.append(current)
    return sentences


_CONLLU_ID = re.compile(r"^(\d+|\d+-\d+|\d+\.\d+)$")


def _conllu(line: str) -> tuple[str, str] | tuple[()] | None:
    """A CoNLL-U word line's (FORM, UPOS); () for a multi-word token or an empty node (their
    words come on their own lines); None when the line is not CoNLL-U."""
    fields = line.rstrip("\r").split("\t")
    if len(fields) != 10 or not _CONLLU_ID.match(fields[0].strip()):
        return None
    if not fields[0].strip().isdigit():
        return ()
    return fields[1].strip(), fields[3].strip()


def _tags_example(text: str, spans, meta, name, line) -> Example:
    f = _errors()
    try:
        validate_text(text)
        return Example(text, validate_tags(text, spans), dict(meta))
    except SeqLabError as e:
        raise f.FormatError(str(e), file=name, line=line) from e


def write_tags_column(examples: Iterable[Example], dest) -> None:
    """One ``token<TAB>TAG`` line per word, a blank line between sentences; reads back the same
    when each text is its words joined by single spaces."""
    f = _errors()
    blocks = []
    for number, ex in enumerate(examples, 1):
        lines = []
        for span in ex.spans:
            token = ex.text[span.start : span.end]
            _check_field(token, "word", number)
            _check_field(span.label, "tag", number)
            if _PREFIXED.match(span.label):
                raise f.FormatError(f"document {number}: the tag {span.label!r} would read back as an entity tag")
            lines.append(f"{token}\t{span.label}\n")
        blocks.append("".join(lines))
    with f._open_dest(dest) as out:
        out.write("\n".join(blocks))


def _check_field(value: str, what: str, number: int) -> None:
    if not value or any(ch.isspace() for ch in value) or value == _errors().DOCSTART:
        raise _errors().FormatError(f"document {number}: the {what} {value!r} cannot be written to a column file")


# ---------------------------------------------------------------- frames: predicate-block files


def parse_frames_column(text: str, name: str | None, strict: bool = False):
    """A predicate-block file as a Reading of ``frames`` examples (consecutive blocks over the
    same tokens are one sentence; a ``# sentence`` line starts a new one).

    A tag without a role (``B-``, as 151 lines of the UP EWT sample have) is read as ``O`` and an
    invalid sequence (``I-ARG1`` after ``O``) as conlleval does, with one warning naming the lines;
    ``strict`` refuses both.
    """
    f = _errors()
    warnings: list = []
    blocks = _frame_blocks(text, name)
    examples, lines, current, seen = [], [], None, set()
    repairs: list = []
    for block, fresh in blocks:
        tokens = [t for t, _, _, _ in block]
        frame = _block_frame(block, name, strict, repairs)
        same = (current is not None and not fresh and current[0] == tokens and frame is not None
                and current[1] and (frame.predicate.start, frame.predicate.end) not in seen)
        if not same:
            if current is not None:
                examples.append(_frames_example(current, name))
            current, seen = (tokens, [], block[0][3]), set()
            lines.append(block[0][3])
        if frame is not None:
            current[1].append(frame)
            seen.add((frame.predicate.start, frame.predicate.end))
    if current is not None:
        examples.append(_frames_example(current, name))
    if repairs:
        warnings.append(f._repair_warning(repairs, name))
    return f.Reading(tuple(examples), tuple(lines), tuple(warnings), "column", "frames")


def _frame_blocks(text: str, name: str | None):
    """[(block of (token, sense, tag, line), starts a new sentence)] for every predicate block."""
    f = _errors()
    blocks, block, fresh = [], [], False
    for number, line in enumerate(f._lines(text), 1):
        fields = _block_fields(line)
        if not fields or fields[0] == f.DOCSTART:
            if block:
                blocks.append((block, fresh))
                block, fresh = [], False
            continue
        if fields[0].startswith("#") and len(fields) < 3:
            if block:
                blocks.append((block, fresh))
                block = []
            fresh = line.strip() == SENTENCE_BREAK or fresh
            continue
        if len(fields) != 3:
            raise f.FormatError(f"expected 'token<TAB>predicate<TAB>tag' (a predicate block), got {len(fields)} "
                                f"field{'s' if len(fields) != 1 else ''}: a file mixes the tasks", file=name,
                                line=number)
        block.append((fields[0], fields[1], fields[2], number))
    if block:
        blocks.append((block, fresh))
    return blocks


def _block_fields(line: str) -> list[str]:
    """The fields of a predicate-block line: tab-separated when it has a tab, an empty sense
    field (a predicate without a roleset, as in UP's "Good<TAB><TAB>B-V") read as "-"."""
    stripped = line.strip(" \t\r")
    if not stripped:
        return []
    if "\t" not in stripped:
        return stripped.split()
    fields = [part.strip(" ") for part in stripped.split("\t")]
    if len(fields) == 3 and not fields[1]:
        fields[1] = "-"
    return [x for x in fields if x]


def _cut_tokens(text: str, cuts: set[int]) -> list[tuple[int, int]]:
    """Whitespace tokens of ``text``, cut at every offset of ``cuts`` (the frames' span edges)."""
    out = []
    for m in re.finditer(r"\S+", text):
        start = m.start()
        for i in range(m.start() + 1, m.end() + 1):
            if i == m.end() or i in cuts:
                out.append((start, i))
                start = i
    return out


def _offsets(tokens: list[str]) -> list[tuple[int, int]]:
    out, pos = [], 0
    for token in tokens:
        out.append((pos, pos + len(token)))
        pos += len(token) + 1
    return out


def _block_frame(block, name: str | None, strict: bool = True, repairs: list | None = None) -> Frame | None:
    """The frame of one predicate block (None for a block without a ``B-V``)."""
    f = _errors()
    offsets = _offsets([t for t, _, _, _ in block])
    tags = [tag for _, _, tag, _ in block]
    for k, tag in enumerate(tags):
        if tag in ("B-", "I-"):
            error = f.FormatError(f"the tag {tag!r} names no role", file=name, line=block[k][3])
            if strict:
                raise error
            repairs.append(error)
            tags[k] = "O"
    try:
        spans = tags_to_spans(offsets, tags, "IOB2", strict=True)
    except SchemeError as e:
        line = block[e.index][3] if e.index is not None else block[0][3]
        if strict or "unknown" in str(e).lower():
            raise f.FormatError(str(e), file=name, line=line) from e
        repairs.append(f.FormatError(str(e), file=name, line=line))
        spans = tags_to_spans(offsets, tags, "IOB2", strict=False)
    verbs = [s for s in spans if s.label == PREDICATE_TAG]
    senses = [(k, sense) for k, (_, sense, _, _) in enumerate(block) if sense != "-"]
    if not verbs:
        if senses:
            raise f.FormatError(f"the predicate column names {senses[0][1]!r} but no word is tagged B-V",
                                file=name, line=block[senses[0][0]][3])
        return None
    if len(verbs) > 1:
        second = next(k for k, (a, _) in enumerate(offsets) if a == verbs[1].start)
        raise f.FormatError("a second predicate (B-V) in one block: one block per predicate", file=name,
                            line=block[second][3])
    verb = verbs[0]
    inside = [(k, sense) for k, sense in senses if verb.start <= offsets[k][0] < verb.end]
    if len(senses) > 1 or (senses and not inside):
        k = senses[-1][0] if len(senses) > 1 else senses[0][0]
        raise f.FormatError("the predicate column names a sense away from the B-V word (one sense per block, "
                            "on the predicate)", file=name, line=block[k][3])
    sense = senses[0][1] if senses else "-"
    arguments = tuple(s for s in spans if s.label != PREDICATE_TAG)
    return Frame(Span(verb.start, verb.end, sense), arguments)


def _frames_example(current, name: str | None) -> Example:
    f = _errors()
    tokens, frames, line = current
    text = " ".join(tokens)
    try:
        validate_text(text)
        return Example(text, (), f._where(name, line), validate_frames(text, frames))
    except SeqLabError as e:
        raise f.FormatError(str(e), file=name, line=line) from e


def write_frames_column(examples: Iterable[Example], dest) -> None:
    """One block per frame (a sentence without frames: one block without ``B-V``); a sentence whose
    tokens repeat the previous one's is preceded by a ``# sentence`` line so it reads back apart."""
    f = _errors()
    out, previous = [], None
    for number, ex in enumerate(examples, 1):
        cuts = sorted({s.start for fr in ex.frames for s in (fr.predicate, *fr.arguments)}
                      | {s.end for fr in ex.frames for s in (fr.predicate, *fr.arguments)})
        offsets = _cut_tokens(ex.text, set(cuts))
        tokens = [ex.text[a:b] for a, b in offsets]
        for token in tokens:
            _check_field(token, "word", number)
        if tokens == previous:
            out.append(SENTENCE_BREAK + "\n")
        previous = tokens
        for frame in ex.frames or (None,):  # a sentence without frames: one block without a B-V
            spans, sense_at = [], -1
            if frame is not None:
                for a in frame.arguments:
                    _check_field(a.label, "role", number)
                    if a.label == PREDICATE_TAG:
                        raise f.FormatError(f"document {number}: the role {PREDICATE_TAG!r} is the predicate's own")
                _check_field(frame.predicate.label, "sense", number)
                spans = [*frame.arguments, Span(frame.predicate.start, frame.predicate.end, PREDICATE_TAG)]
                sense_at = next(k for k, (a, _) in enumerate(offsets) if a == frame.predicate.start)
            tags, _ = spans_to_tags(offsets, spans, "IOB2")
            out.append("".join(f"{tok}\t{frame.predicate.label if k == sense_at else '-'}\t{tag}\n"
                               for k, (tok, tag) in enumerate(zip(tokens, tags))) + "\n")
    with f._open_dest(dest) as dest_file:
        dest_file.write("".join(out))


# ---------------------------------------------------------------- JSONL


def json_tags(record: dict, fail) -> list[Span]:
    """The word tags of a JSONL record ``{"tags": [{"start", "end", "tag"}]}``."""
    raw = record.get("tags")
    if not isinstance(raw, list):
        raise fail(f"\"tags\" must be a list, got {type(raw).__name__}")
    out = []
    for item in raw:
        if not isinstance(item, dict) or "tag" not in item:
            raise fail(f"each of \"tags\" must be {{\"start\", \"end\", \"tag\"}}, got {_dump(item)}")
        out.append(_span(item, "tag", fail))
    return out


def json_frames(record: dict, fail) -> list[Frame]:
    """The frames of a JSONL record ``{"frames": [{"predicate": {...}, "arguments": [...]}]}``."""
    raw = record.get("frames")
    if not isinstance(raw, list):
        raise fail(f"\"frames\" must be a list, got {type(raw).__name__}")
    out = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("predicate"), dict):
            raise fail(f"each of \"frames\" must be {{\"predicate\": {{...}}, \"arguments\": [...]}}, got {_dump(item)}")
        predicate = dict(item["predicate"])
        predicate.setdefault("sense", "-")
        arguments = item.get("arguments", [])
        if not isinstance(arguments, list) or not all(isinstance(a, dict) for a in arguments):
            raise fail(f"\"arguments\" must be a list of {{\"start\", \"end\", \"label\"}}, got {_dump(arguments)}")
        out.append(Frame(_span(predicate, "sense", fail), tuple(_span(a, "label", fail) for a in arguments)))
    return out


def _span(item: dict, key: str, fail) -> Span:
    start, end, label, score = item.get("start"), item.get("end"), item.get(key), item.get("score")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
        raise fail(f"offsets must be integers, got start={_dump(start)}, end={_dump(end)}")
    if not isinstance(label, str):
        raise fail(f"[{start}, {end}) \"{key}\" must be a string, got {_dump(label)}")
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
        raise fail(f"[{start}, {end}) score must be a number, got {_dump(score)}")
    return Span(start, end, label, score)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)[:60]


def record(ex: Example, task: str) -> dict[str, Any]:
    """The JSONL record of ``ex`` in ``task``'s form (metadata after the task's own keys)."""
    if task not in TASKS:
        raise SeqLabError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    own = {"text", task}
    if own & set(ex.meta):
        raise SeqLabError(f"metadata key {sorted(own & set(ex.meta))[0]!r} would overwrite the record's own")
    if task == "tags":
        body = [{"start": s.start, "end": s.end, "tag": s.label,
                 **({"score": round(float(s.score), 4)} if s.score is not None else {})} for s in ex.spans]
    elif task == "frames":
        body = [fr.to_dict() for fr in ex.frames]
    else:
        body = [s.to_dict() for s in ex.spans]
    return {"text": ex.text, task: body, **ex.meta}
