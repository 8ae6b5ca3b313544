"""The dictionary feature (issue 17): each character's place in jieba's words, what it tells a model
that sees only [UNK], and that it survives save, load, int8, windows and warm start."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagger import lexicon
from tagger.evaluate import evaluate
from tagger.lexicon import CLASSES, LEXICON_BITS, MAX_WORD, POSITIONS, bit, character_bits, subword_bits
from tagger.model import HeadConfig
from tagger.predict import Tagger
from tagger.spans import Example, Span
from tagger.store import CheckpointError
from tagger.train import TrainConfig, train

PLACE, PERSON, OTHER = CLASSES.index("place"), CLASSES.index("person"), CLASSES.index("other")
BEGIN, MIDDLE, END, SINGLE = range(len(POSITIONS))


def test_the_real_dictionary_knows_places_and_names():
    words = lexicon.words()
    assert len(words) > 300_000 and words["北京"] == PLACE and words["天安门"] == PLACE
    bits = character_bits("北京天安门")
    assert bits[0] & bit(BEGIN, PLACE) and bits[1] & bit(END, PLACE)
    assert bits[2] & bit(BEGIN, PLACE) and bits[3] & bit(MIDDLE, PLACE) and bits[4] & bit(END, PLACE)
    assert all(0 <= b < 1 << LEXICON_BITS for b in bits)
    assert character_bits("") == []


def _reference(text: str, words: dict[str, int]) -> list[set[tuple[int, int]]]:
    """(position, class) pairs of each character, from every occurrence of every word."""
    out: list[set[tuple[int, int]]] = [set() for _ in text]
    for word, cls in words.items():
        start = text.find(word)
        while start >= 0:
            if len(word) == 1:
                out[start].add((SINGLE, cls))
            else:
                out[start].add((BEGIN, cls))
                out[start + len(word) - 1].add((END, cls))
                for k in range(start + 1, start + len(word) - 1):
                    out[k].add((MIDDLE, cls))
            start = text.find(word, start + 1)
    return out


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="甲乙丙丁戊", max_size=20),
       words=st.dictionaries(st.text(alphabet="甲乙丙丁戊", min_size=1, max_size=MAX_WORD),
                             st.integers(0, len(CLASSES) - 1), max_size=8))
def test_bits_are_exactly_the_words_that_cover_each_character(text, words):
    bits = character_bits(text, words)
    expected = [sum(bit(p, c) for p, c in pairs) for pairs in _reference(text, words)]
    assert bits == expected
    # a subword's bits are the union of its characters'
    offsets = [(k, min(k + 2, len(text))) for k in range(0, len(text), 2)]
    assert subword_bits(text, offsets, words) == tuple(
        (bits[a] | bits[b - 1]) for a, b in offsets)


def test_words_longer_than_the_limit_are_not_looked_up():
    long_word = "甲" * (MAX_WORD + 1)
    assert character_bits(long_word, {long_word: PLACE}) == [0] * len(long_word)


# A place from the dictionary between runs of filler characters the dictionary has no place for:
# to a tiny BERT that knows no Chinese every character is the same [UNK], so only the lexicon can
# say where the place is.
PLACES = ["广州", "深圳", "杭州", "天津", "重庆", "成都", "苏州", "西安"]  # no character in tests/conftest.py's vocabulary
FILLER = "的了呢吗吧啊哦嗯"
CONFIG = dict(epochs=20, batch_size=8, lr=3e-3, head_lr=2e-2, max_length=32, lstm_hidden=32, dropout=0.0,
              unseen_buckets=0)


def place_corpus(n: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        left = "".join(rng.choice(FILLER) for _ in range(rng.randint(0, 4)))
        right = "".join(rng.choice(FILLER) for _ in range(rng.randint(1, 4)))
        place = rng.choice(PLACES)
        out.append(Example(left + place + right, (Span(len(left), len(left) + 2, "LOC"),)))
    return out


def test_the_corpus_has_place_bits_only_on_its_places():
    for example in place_corpus(50, seed=4):
        bits = character_bits(example.text)
        [span] = example.spans
        places = [k for k, b in enumerate(bits) if b & (bit(BEGIN, PLACE) | bit(END, PLACE))]
        assert places == [span.start, span.start + 1], example.text


def test_it_finds_what_only_the_dictionary_knows(tiny_base):
    data, dev = place_corpus(96, seed=1), place_corpus(40, seed=2)
    f1 = {}
    for use in (True, False):
        result = train(data, [], TrainConfig(base_model=tiny_base, lexicon=use, **CONFIG))
        assert result.model.head.lexicon is use
        f1[use] = evaluate(dev, result.tagger().predict([e.text for e in dev])).f1
    assert f1[True] >= 0.9, f1
    assert f1[False] <= 0.6, f1  # without it, a row of identical [UNK]s


def test_save_load_int8_windows_and_warm_start_keep_it(tiny_base, tmp_path):
    data = place_corpus(96, seed=1)
    texts = [e.text for e in place_corpus(20, seed=3)]
    result = train(data, [], TrainConfig(base_model=tiny_base, lexicon=True, **CONFIG))
    result.save(tmp_path / "m")
    trained = [[s.key() for s in spans] for spans in result.tagger().predict(texts)]
    meta = json.loads((tmp_path / "m" / "seqlab.json").read_text())
    assert meta["head"]["lexicon"] is True and meta["train_config"]["lexicon"] is True
    loaded = Tagger.load(tmp_path / "m")
    assert loaded.model.head.lexicon and loaded.encoder.lexicon
    assert [[s.key() for s in spans] for spans in loaded.predict(texts)] == trained
    fast = Tagger.load(tmp_path / "m", quantize=True)
    same = sum(a == [s.key() for s in b] for a, b in zip(trained, fast.predict(texts)))
    assert same >= 18, f"int8 changed {20 - same} of 20"
    # a text longer than one window (32 subwords): the places of every window are found
    long_text = "".join(texts)
    found = {s.start for s in loaded.predict([long_text])[0]}
    offset, expected = 0, set()
    for text, spans in zip(texts, trained):
        expected |= {offset + start for start, _, _ in spans}
        offset += len(text)
    assert len(found & expected) >= 0.9 * len(expected)
    warm = train(data[:16], [], TrainConfig(base_model=tiny_base, epochs=1, max_length=32, lstm_hidden=32,
                                            lexicon=True), warm_start=tmp_path / "m")
    assert warm.model.head.lexicon


def test_old_heads_have_none_and_a_damaged_flag_is_refused(tiny_base, tmp_path):
    assert HeadConfig.from_dict({"tags": ["O", "X"]}).lexicon is False
    result = train(place_corpus(16, seed=1), [], TrainConfig(base_model=tiny_base, epochs=1, max_length=32,
                                                             lstm_hidden=16, lexicon=True))
    result.save(tmp_path / "m")
    meta_file = tmp_path / "m" / "seqlab.json"
    meta = json.loads(meta_file.read_text())
    meta["head"]["lexicon"] = "yes"
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="invalid 'lexicon'"):
        Tagger.load(tmp_path / "m")


def test_without_jieba_it_says_what_to_install(monkeypatch):
    import importlib.util

    lexicon.words.cache_clear()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    try:
        with pytest.raises(Exception, match="pip install jieba"):
            lexicon.words()
    finally:
        monkeypatch.undo()
        lexicon.words.cache_clear()


def test_unset_it_is_on_for_chinese_text_only(tiny_base, corpus):
    assert lexicon.mostly_chinese(["北京 is", "广州的"]) and not lexicon.mostly_chinese(["Paris 北京"])
    assert not lexicon.mostly_chinese([]) and not lexicon.mostly_chinese(["   "])
    small = dict(base_model=tiny_base, epochs=1, max_length=32, lstm_hidden=16)
    assert TrainConfig().lexicon is None
    assert train(place_corpus(16, seed=1), [], TrainConfig(**small)).model.head.lexicon is True
    english = train(corpus[:16], [], TrainConfig(**small))
    assert english.model.head.lexicon is False and english.config.lexicon is False
    assert train(place_corpus(16, seed=1), [], TrainConfig(lexicon=False, **small)).model.head.lexicon is False
    with pytest.raises(ValueError, match="lexicon must be"):
        TrainConfig(lexicon="yes")


def test_the_command_line_has_the_switch():
    from tagger.__main__ import build_parser

    parser = build_parser()
    args = parser.parse_args(["train", "--train", "t.txt", "--out", "m"])
    assert args.lexicon is None
    assert parser.parse_args(["train", "--train", "t.txt", "--out", "m", "--lexicon"]).lexicon is True
    assert parser.parse_args(["train", "--train", "t.txt", "--out", "m", "--no-lexicon"]).lexicon is False


def test_bigram_features_hash_neighbours_and_survive_save_and_load(tiny_base, tmp_path):
    from transformers import AutoTokenizer

    from tagger.encoding import TextEncoder

    encoder = TextEncoder(AutoTokenizer.from_pretrained(tiny_base), bigrams=True)
    [enc] = encoder.encode(["广州广州"])
    assert enc.bigram[0] == enc.bigram[2] and len({enc.bigram[0], enc.bigram[1], enc.bigram[3]}) == 3
    assert 0 not in enc.bigram and TextEncoder(AutoTokenizer.from_pretrained(tiny_base)).encode(["广州"])[0].bigram == ()
    data = place_corpus(32, seed=1)
    texts = [e.text for e in place_corpus(10, seed=3)]
    result = train(data, [], TrainConfig(base_model=tiny_base, epochs=2, max_length=32, lstm_hidden=16,
                                         lexicon=False, bigram_buckets=64))
    result.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "seqlab.json").read_text())
    assert meta["head"]["bigram_buckets"] == 64 and meta["train_config"]["bigram_buckets"] == 64
    loaded = Tagger.load(tmp_path / "m", precision="fp32")
    assert loaded.encoder.bigrams and not loaded.encoder.lexicon
    assert loaded.predict(texts) == result.tagger().predict(texts)
    assert HeadConfig.from_dict({"tags": ["O", "X"]}).bigram_buckets == 0
    with pytest.raises(ValueError, match="bigram_buckets must be 0 or 2"):
        TrainConfig(bigram_buckets=1)
    with pytest.raises(ValueError, match="word_buckets must be 0 or 2"):
        TrainConfig(word_buckets=1)
