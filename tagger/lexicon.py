"""What a Chinese dictionary says about each character: the words of jieba's dictionary (349,046
words, each with its part of speech) that the character begins, continues, ends or is.

The embedded model maps most Chinese characters to ``[UNK]``, so it sees neither where words
begin nor which strings are names. A word list brings both back (the lexicon features of Lattice
LSTM and SoftLexicon): for each character, one bit per (position in a matched word, class of that
word), :data:`LEXICON_BITS` bits in all, fed to the BiLSTM beside the casing feature. The
dictionary is the file inside the ``jieba`` package (MIT), read as text: nothing is downloaded and
jieba's segmenter is never run. A model records that it uses the lexicon (``head.lexicon``); the
same jieba version gives the same bits in every process.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import importlib.util

from .spans import SeqLabError

POSITIONS = ("begin", "middle", "end", "single")
# the classes of jieba's part-of-speech tags that matter for entities; the rest is "other"
CLASSES = ("noun", "person", "place", "organization", "proper", "verb", "other")
_CLASS_OF = {"n": 0, "ng": 0, "nr": 1, "nrt": 1, "nrfg": 1, "ns": 2, "nt": 3, "nz": 4, "v": 5, "vn": 5, "vg": 5}
LEXICON_BITS = len(POSITIONS) * len(CLASSES)
MAX_WORD = 8  # longer dictionary words (0.2 % of them) are left out: 8 look-ups per character


@lru_cache(maxsize=1)
def words() -> dict[str, int]:
    """Dictionary word -> class index (into CLASSES), from jieba's ``dict.txt``; read once per process."""
    spec = importlib.util.find_spec("jieba")  # the package's folder, without running jieba's import
    if spec is None or not spec.submodule_search_locations:
        raise SeqLabError("the lexicon feature needs the jieba package: pip install jieba")
    path = Path(next(iter(spec.submodule_search_locations))) / "dict.txt"
    out: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and len(parts[0]) <= MAX_WORD:
                out[parts[0]] = _CLASS_OF.get(parts[2] if len(parts) > 2 else "", len(CLASSES) - 1)
    return out


def bit(position: int, cls: int) -> int:
    """The bit of a character at ``position`` (into POSITIONS) of a word of class ``cls``."""
    return 1 << (position * len(CLASSES) + cls)


def character_bits(text: str, lexicon: dict[str, int] | None = None) -> list[int]:
    """For each character of ``text``, the OR of :func:`bit` over the dictionary words covering it."""
    lexicon = words() if lexicon is None else lexicon
    n = len(text)
    out = [0] * n
    for i in range(n):
        for j in range(i + 1, min(n, i + MAX_WORD) + 1):
            cls = lexicon.get(text[i:j])
            if cls is None:
                continue
            if j - i == 1:
                out[i] |= bit(3, cls)
                continue
            out[i] |= bit(0, cls)
            out[j - 1] |= bit(2, cls)
            for k in range(i + 1, j - 1):
                out[k] |= bit(1, cls)
    return out


def subword_bits(text: str, offsets, lexicon: dict[str, int] | None = None) -> tuple[int, ...]:
    """For each subword ``[start, end)`` of ``text``, the OR of its characters' bits."""
    chars = character_bits(text, lexicon)
    out = []
    for a, b in offsets:
        value = 0
        for k in range(a, b):
            value |= chars[k]
        out.append(value)
    return tuple(out)


def is_chinese(char: str) -> bool:
    """A CJK unified ideograph (the basic block and extension A) or a compatibility ideograph."""
    code = ord(char)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF


def mostly_chinese(texts, sample: int = 2000) -> bool:
    """Whether over half the non-space characters of the first ``sample`` texts are Chinese: when
    the lexicon is turned on by itself."""
    chinese = total = 0
    for k, text in enumerate(texts):
        if k >= sample:
            break
        for char in text:
            if not char.isspace():
                total += 1
                chinese += is_chinese(char)
    return total > 0 and 2 * chinese > total
