"""The embedding of what the tokenizer maps to [UNK] (issue 17): it learns entities BERT cannot
see, changes nothing where there is no [UNK], and survives save, load, int8 and warm start."""

from __future__ import annotations

import random

import pytest

from tagger.encoding import TextEncoder, unseen_bucket
from tagger.evaluate import evaluate
from tagger.predict import Tagger
from tagger.spans import Example, Span
from tagger.train import TrainConfig, train

# None of these characters is in the tiny vocabulary (tests/conftest.py): BERT sees [UNK] only.
NAMES = ["甲乙", "丙丁", "戊己", "庚辛"]
PLACES = ["东城", "西村", "南镇", "北港"]
VERBS = ["见了", "到了", "想念"]
CONFIG = dict(epochs=25, batch_size=8, lr=3e-3, head_lr=2e-2, max_length=32, lstm_hidden=32, dropout=0.0,
              lexicon=False)  # the [UNK] embedding alone (tests/test_lexicon.py: the dictionary)


def hidden_corpus(n: int, seed: int) -> list[Example]:
    """"<a><verb><b>" where a and b are a name and a place in either order: only the characters
    themselves say which is which."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        name, place, verb = rng.choice(NAMES), rng.choice(PLACES), rng.choice(VERBS)
        first, second = ((name, "PER"), (place, "LOC")) if rng.random() < 0.5 else ((place, "LOC"), (name, "PER"))
        text = first[0] + verb + second[0]
        out.append(Example(text, (Span(0, 2, first[1]), Span(4, 6, second[1]))))
    return out


def test_unk_subwords_get_a_stable_bucket_and_known_ones_none(tiny_base):
    from transformers import AutoTokenizer

    encoder = TextEncoder(AutoTokenizer.from_pretrained(tiny_base))
    [enc] = encoder.encode(["alice 甲乙 北京"])
    assert enc.unseen[0] == 0 and enc.unseen[-2:] == (0, 0)  # in the vocabulary
    assert enc.unseen[1:3] == (unseen_bucket("甲"), unseen_bucket("乙")) and 0 not in enc.unseen[1:3]
    assert unseen_bucket("甲") == 23  # CRC-32: the same in every process and on every machine


def test_it_learns_entities_the_tokenizer_cannot_see(tiny_base):
    data, dev = hidden_corpus(96, seed=1), hidden_corpus(40, seed=2)
    f1 = {}
    for buckets in (8192, 0):
        config = TrainConfig(base_model=tiny_base, unseen_buckets=buckets, **CONFIG)
        result = train(data, [], config)
        f1[buckets] = evaluate(dev, result.tagger().predict([e.text for e in dev])).f1
    assert f1[8192] >= 0.9, f1
    assert f1[0] <= 0.75, f1  # without it, a name and a place are the same two [UNK]s


def test_without_unk_it_trains_exactly_as_before(tiny_base, corpus):
    config = dict(base_model=tiny_base, epochs=2, batch_size=8, lr=3e-3, max_length=64, lstm_hidden=16)
    with_it = train(corpus[:40], [], TrainConfig(unseen_buckets=8192, **config))
    without = train(corpus[:40], [], TrainConfig(unseen_buckets=0, **config))
    assert [r["loss"] for r in with_it.history] == [r["loss"] for r in without.history]
    assert with_it.model.head.unseen_buckets == 8192 and without.model.head.unseen_buckets == 0


def test_save_load_int8_and_warm_start_keep_it(tiny_base, tmp_path):
    data = hidden_corpus(96, seed=1)
    texts = [e.text for e in hidden_corpus(20, seed=3)]
    result = train(data, [], TrainConfig(base_model=tiny_base, **CONFIG))
    result.save(tmp_path / "m")
    trained = [[s.key() for s in spans] for spans in result.tagger().predict(texts)]
    loaded = Tagger.load(tmp_path / "m")
    assert loaded.model.head.unseen_buckets == 8192
    assert [[s.key() for s in spans] for spans in loaded.predict(texts)] == trained
    fast = Tagger.load(tmp_path / "m", quantize=True)
    same = sum(a == [s.key() for s in b] for a, b in zip(trained, fast.predict(texts)))
    assert same >= 18, f"int8 changed {20 - same} of 20"
    # a model made without it, warm-started with it: the rest of its weights carry over
    old = train(data[:16], [], TrainConfig(base_model=tiny_base, unseen_buckets=0, epochs=1, max_length=32,
                                           lstm_hidden=32))
    old.save(tmp_path / "old")
    warm = train(data[:16], [], TrainConfig(base_model=tiny_base, epochs=1, max_length=32, lstm_hidden=32),
                 warm_start=tmp_path / "old")
    assert warm.model.head.unseen_buckets == 8192


def test_a_bucket_count_that_cannot_work_is_refused():
    with pytest.raises(ValueError, match="unseen_buckets must be 0 or 2"):
        TrainConfig(unseen_buckets=1)
