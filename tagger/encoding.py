"""Text -> BERT input: subwords with character offsets, windows over long texts, batches.

The fast tokenizer's offset mapping ties every subword to ``[start, end)`` of the
original text, so spans move between characters and subwords without guessing
(see :mod:`tagger.schemes`). Texts longer than the model's limit are cut into
overlapping windows; nothing is ever truncated.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import bisect
import dataclasses
import re
import zlib

import numpy as np
import torch

from .lexicon import subword_bits
from .schemes import AlignmentWarning, spans_to_tags
from .spans import Example, SeqLabError

IGNORE = -100
# Casing classes of the word a subword belongs to; 0 is padding.
CASING_CLASSES = ("pad", "lower", "upper", "title", "mixed", "digits", "has_digit", "other")
NUM_CASING = 2 * len(CASING_CLASSES)  # x2: word-initial subword or continuation


@dataclass(frozen=True)
class Encoded:
    """One text as subwords: ids, ``[start, end)`` offsets, word index and casing id each."""

    ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]
    words: tuple[int, ...]
    casing: tuple[int, ...]
    # per subword: the hashed bucket (1..) of its text when the tokenizer made it [UNK], else 0
    unseen: tuple[int, ...] = ()
    # per subword: 1 inside the predicate this row is about (task "frames"), else 0; () for none
    predicate: tuple[int, ...] = ()
    # per subword: the hashed bucket (1..) of its word's last letters, lowercased (suffix features)
    suffix: tuple[int, ...] = ()
    # per subword: the bits of the dictionary words its characters are in (tagger.lexicon); () for none
    lexicon: tuple[int, ...] = ()
    # per subword: the hashed bucket (1..) of its text and the next subword's (character bigrams in
    # Chinese, where a subword is a character)
    bigram: tuple[int, ...] = ()
    # per subword: the hashed bucket (1..) of its whole word as written, case kept (word features)
    word: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Window:
    """Subwords ``[start, end)`` of text number ``item`` fed to the model as one sequence."""

    item: int
    start: int
    end: int


UNSEEN_BUCKETS = 8192  # hashed buckets of the texts the tokenizer maps to [UNK] (0: not [UNK])


def unseen_bucket(text: str, buckets: int = UNSEEN_BUCKETS) -> int:
    """The bucket (1 .. buckets - 1) of a text the tokenizer cannot see: a stable hash (CRC-32),
    the same in every process and on every machine."""
    return zlib.crc32(text.encode("utf-8")) % (buckets - 1) + 1


_ASCII_DIGIT = re.compile(r"[0-9]")


def casing_class(word: str) -> int:
    """The casing class (index into CASING_CLASSES) of a word of the original text.

    An ASCII word is classed with str's own tests (a quarter of the time: a paragraph's words
    are classed at every prediction); in ASCII they mean exactly what :func:`_casing_class`
    tests letter by letter (tested on random words)."""
    if not word.isascii():
        return _casing_class(word)
    if word.isdigit():
        return 5
    if _ASCII_DIGIT.search(word):
        return 6
    if word.islower():
        return 1
    if word.isupper():
        return 2 if sum(c.isalpha() for c in word) > 1 else 3
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return 7
    return 3 if letters[0].isupper() and "".join(letters[1:]).islower() else 4


def _casing_class(word: str) -> int:
    """:func:`casing_class` of any word, letter by letter."""
    letters = [c for c in word if c.isalpha()]
    if word.isdigit():
        return 5
    if any(c.isdigit() for c in word):
        return 6
    cased = [c for c in letters if c.lower() != c.upper()]
    if not cased:
        return 7
    if all(c.islower() for c in cased):
        return 1
    if all(c.isupper() for c in cased):
        return 2 if len(cased) > 1 else 3
    if cased[0].isupper() and all(c.islower() for c in cased[1:]):
        return 3
    return 4


class TextEncoder:
    """Wraps a fast tokenizer: encode texts, cut windows, build padded batches."""

    def __init__(self, tokenizer, max_length: int = 256, stride: int = 64, lexicon: bool = False,
                 bigrams: bool = False, casing: bool = True, suffixes: bool = True, word_hashes: bool = False):
        """``lexicon``: also give each subword its dictionary bits (:mod:`tagger.lexicon`);
        ``bigrams``: its bigram bucket. ``casing`` / ``suffixes``: False leaves out the casing
        classes / suffix buckets (``()``), for a model that reads none (prediction's cost);
        ``word_hashes``: each subword's cased word bucket (:func:`_word_buckets`)."""
        if not getattr(tokenizer, "is_fast", False):
            raise SeqLabError(
                f"{type(tokenizer).__name__} is not a fast tokenizer; SeqLab needs the "
                "offset mapping of a fast (Rust) tokenizer"
            )
        self.tokenizer = tokenizer
        self.prefix, self.suffix = _special_template(tokenizer)
        limit = min(max_length, _model_limit(tokenizer))
        self.content_length = limit - len(self.prefix) - len(self.suffix)
        if self.content_length < 8:
            raise SeqLabError(f"max length {max_length} leaves no room for text")
        self.stride = max(0, min(stride, self.content_length // 2))
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.unk_id = tokenizer.unk_token_id
        self.lexicon, self.bigrams = lexicon, bigrams
        self.with_casing, self.with_suffixes, self.with_words = casing, suffixes, word_hashes

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        """Tokenize texts (no special tokens, no truncation) keeping character offsets."""
        if not texts:
            return []
        batch = self.tokenizer(
            list(texts),
            add_special_tokens=False,
            return_offsets_mapping=True,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )
        out = []
        for i, text in enumerate(texts):
            out.append(self._one(text, batch["input_ids"][i], batch["offset_mapping"][i], batch.word_ids(i)))
        return out

    def _one(self, text, ids, offsets, word_ids) -> Encoded:
        keep = [k for k, (a, b) in enumerate(offsets) if b > a]
        ids = [ids[k] for k in keep]
        offsets = [tuple(offsets[k]) for k in keep]
        words = _words(offsets, [word_ids[k] for k in keep])
        casing = _casing(text, offsets, words) if self.with_casing else ()
        unseen = tuple(unseen_bucket(text[a:b]) if i == self.unk_id else 0 for i, (a, b) in zip(ids, offsets))
        lexicon = subword_bits(text, offsets) if self.lexicon else ()
        suffix = _suffixes(text, offsets, words) if self.with_suffixes else ()
        bigram = _bigrams(text, offsets) if self.bigrams else ()
        word = _word_buckets(text, offsets, words) if self.with_words else ()
        return Encoded(tuple(ids), tuple(offsets), tuple(words), tuple(casing), unseen, (), suffix, lexicon, bigram,
                       word)

    def windows(self, lengths: Sequence[int]) -> list[Window]:
        """Windows covering every subword of every text; long texts overlap by ``stride``."""
        out = []
        size, step = self.content_length, self.content_length - self.stride
        for item, n in enumerate(lengths):
            start = 0
            while True:
                end = min(start + size, n)
                out.append(Window(item, start, end))
                if end >= n:
                    break
                start += step
        return out

    def batch(
        self, encoded: Sequence[Encoded], windows: Sequence[Window], tag_ids=None
    ) -> dict[str, torch.Tensor]:
        """Pad windows to the longest one: input ids, attention mask, casing, content mask, tags."""
        p, s = len(self.prefix), len(self.suffix)
        width = max(w.end - w.start for w in windows)
        size = (len(windows), p + width + s)
        # filled as NumPy arrays (a row assignment from a list costs a tenth of a torch.tensor)
        input_ids = np.full(size, self.pad_id, dtype=np.int64)
        attention = np.zeros(size, dtype=np.int64)
        casing, unseen, predicate, suffix, lexicon, bigram, word = (np.zeros(size, dtype=np.int64) for _ in range(7))
        lengths = np.zeros(len(windows), dtype=np.int64)
        tags = np.full((len(windows), max(width, 1)), IGNORE, dtype=np.int64)
        for row, w in enumerate(windows):
            enc, n = encoded[w.item], w.end - w.start
            input_ids[row, : p + n + s] = (*self.prefix, *enc.ids[w.start : w.end], *self.suffix)
            attention[row, : p + n + s] = 1
            for field, array in (("casing", casing), ("unseen", unseen), ("predicate", predicate),
                                 ("suffix", suffix), ("lexicon", lexicon), ("bigram", bigram), ("word", word)):
                values = getattr(enc, field)
                if values:
                    array[row, p : p + n] = values[w.start : w.end]
            lengths[row] = n
            if tag_ids is not None:
                tags[row, :n] = tag_ids[w.item][w.start : w.end]
        input_ids, attention, casing, unseen, predicate, suffix, lexicon, bigram, word, lengths, tags = (
            torch.from_numpy(a) for a in (input_ids, attention, casing, unseen, predicate, suffix, lexicon, bigram,
                                          word, lengths, tags))
        out = {"input_ids": input_ids, "attention_mask": attention, "casing": casing, "unseen": unseen,
               "suffix": suffix, "lexicon": lexicon, "bigram": bigram, "word": word, "lengths": lengths}
        if any(encoded[w.item].predicate for w in windows):
            out["predicate"] = predicate
        if tag_ids is not None:
            out["tags"] = tags
        return out


def align_tags(
    encoded: Encoded, example: Example, tag_index: dict[str, int]
) -> tuple[list[int], list[AlignmentWarning]]:
    """IOB2 tag ids for every subword of ``example`` (and warnings for edges inside subwords)."""
    tags, warnings = spans_to_tags(encoded.offsets, example.spans, "IOB2")
    missing = sorted({t for t in tags if t not in tag_index})
    if missing:
        raise SeqLabError(f"tags {missing} are not in the model's tag set")
    return [tag_index[t] for t in tags], warnings


def align_word_tags(
    encoded: Encoded, example: Example, tag_index: dict[str, int]
) -> tuple[list[int], list[AlignmentWarning]]:
    """Task ``tags``: each word's tag id on its first subword, IGNORE on the other subwords."""
    tags, warnings = spans_to_tags(encoded.offsets, example.spans, "IOB2")
    missing = sorted({t[2:] for t in tags if t.startswith("B-") and t[2:] not in tag_index})
    if missing:
        raise SeqLabError(f"tags {missing} are not in the model's tag set")
    return [tag_index[t[2:]] if t.startswith("B-") else IGNORE for t in tags], warnings


def with_predicate(encoded: Encoded, start: int, end: int) -> Encoded:
    """``encoded`` told that ``[start, end)`` of its text is the predicate (task ``frames``)."""
    flags = tuple(1 if a < end and start < b else 0 for a, b in encoded.offsets)
    return dataclasses.replace(encoded, predicate=flags)


def word_heads(encoded: Encoded, units: Sequence[tuple[int, int]] | None = None) -> list[int]:
    """The first subword of each unit (``[start, end)`` of the text; the tokenizer's words when
    None), or -1 for a unit no subword starts in."""
    if units is None:
        return [k for k, w in enumerate(encoded.words) if k == 0 or encoded.words[k - 1] != w]
    starts = [a for a, _ in encoded.offsets]
    out = []
    for a, b in units:
        k = bisect.bisect_left(starts, a)
        # a subword that began before the unit but reaches into it (the unit cuts a subword) counts
        if k > 0 and encoded.offsets[k - 1][1] > a:
            k -= 1
        out.append(k if k < len(starts) and starts[k] < b else -1)
    return out


def unit_spans(encoded: Encoded) -> list[tuple[int, int]]:
    """``[start, end)`` of each of the tokenizer's words (the units of a raw text's tags)."""
    spans: dict[int, list[int]] = {}
    for (a, b), w in zip(encoded.offsets, encoded.words):
        span = spans.setdefault(w, [a, b])
        span[1] = b
    return [tuple(spans[w]) for w in sorted(spans)]


def length_batches(
    windows: Sequence[Window], batch_size: int, max_tokens: int | None = None
) -> Iterator[list[int]]:
    """Indices of windows grouped by length (longest first), so padding is minimal."""
    order = sorted(range(len(windows)), key=lambda i: windows[i].end - windows[i].start, reverse=True)
    group: list[int] = []
    for i in order:
        width = windows[group[0]].end - windows[group[0]].start if group else 0
        too_many = max_tokens is not None and group and width * (len(group) + 1) > max_tokens
        if len(group) == batch_size or too_many:
            yield group
            group = []
        group.append(i)
    if group:
        yield group


def _special_template(tokenizer) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Special ids the tokenizer puts before and after a single sequence ([CLS] / [SEP])."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    for i in range(len(full) - len(plain) + 1):
        if full[i : i + len(plain)] == plain:
            return tuple(full[:i]), tuple(full[i + len(plain) :])
    raise SeqLabError(f"cannot find where {type(tokenizer).__name__} puts the text")


def _model_limit(tokenizer) -> int:
    limit = getattr(tokenizer, "model_max_length", 512) or 512
    return 512 if limit > 100_000 else int(limit)


def _words(offsets, word_ids) -> list[int]:
    """Word index of each subword; tokenizers without word ids fall back to touching offsets."""
    words, current, prev_key, prev_end = [], -1, object(), None
    for (a, b), wid in zip(offsets, word_ids):
        key = wid if wid is not None else None
        new = key != prev_key if key is not None else a != prev_end
        if new:
            current += 1
        words.append(current)
        prev_key, prev_end = key, b
    return words


def _word_spans(offsets, words):
    """(word index, [start, end)) of each word: from its first subword's start to its last one's end."""
    spans: dict[int, list[int]] = {}
    for (a, b), w in zip(offsets, words):
        span = spans.setdefault(w, [a, b])
        span[1] = b
    return spans.items()


SUFFIX_LETTERS = 3  # a word's last letters that its suffix feature hashes ("-ing", "-ly", "-ed")


def _suffixes(text: str, offsets, words) -> tuple[int, ...]:
    """The suffix bucket of each subword's word (the same for all its subwords): its last
    :data:`SUFFIX_LETTERS` characters lowercased, hashed like :func:`unseen_bucket`."""
    buckets = {w: unseen_bucket("~" + text[a:b][-SUFFIX_LETTERS:].lower()) for w, (a, b) in _word_spans(offsets, words)}
    return tuple(buckets[w] for w in words)


WORD_HASH_SPACE = 1 << 20  # word buckets are hashed into this many, then folded into the model's


def _word_buckets(text: str, offsets, words) -> tuple[int, ...]:
    """The bucket of each subword's whole word as written (case kept: "US" is not "us", "Bush" not
    "bush", which an uncased base model reads alike), the same for all its subwords."""
    buckets = {w: unseen_bucket("\x01" + text[a:b], WORD_HASH_SPACE) for w, (a, b) in _word_spans(offsets, words)}
    return tuple(buckets[w] for w in words)


def _bigrams(text: str, offsets) -> tuple[int, ...]:
    """The bucket of each subword's text joined to the next subword's (the last one: to the end),
    hashed like :func:`unseen_bucket`."""
    pieces = [text[a:b].lower() for a, b in offsets]
    return tuple(unseen_bucket("\x02" + piece + "\x03" + (pieces[k + 1] if k + 1 < len(pieces) else ""))
                 for k, piece in enumerate(pieces))


def _casing(text: str, offsets, words) -> list[int]:
    classes = {w: casing_class(text[a:b]) for w, (a, b) in _word_spans(offsets, words)}
    out, prev = [], None
    for w in words:
        initial = w != prev
        out.append(classes[w] * 2 + (0 if initial else 1))
        prev = w
    return out
