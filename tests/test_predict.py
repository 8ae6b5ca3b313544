"""Prediction: exact texts back, scores, batches, and long texts through overlapping windows."""

from __future__ import annotations

import random

import pytest
import torch

from tagger.config import FAST_PRECISION
from tagger.predict import Tagger
from tagger.spans import Span


@pytest.fixture(scope="module")
def tagger(trained_dir) -> Tagger:
    return Tagger.load(trained_dir)


def test_entities_of_the_trained_template_are_found(tagger):
    text = "Alice went to Paris ."
    spans = tagger.predict([text])[0]
    assert [(text[s.start : s.end], s.label) for s in spans] == [("Alice", "PER"), ("Paris", "LOC")]


def test_each_span_has_a_confidence_between_0_and_1(tagger):
    spans = tagger.predict(["Carol Smith works at Acme Corp in New York ."])[0]
    assert spans and all(0.0 < s.score <= 1.0 for s in spans)


def test_multiword_entities_are_one_span(tagger):
    text = "Carol Smith works at United Nations in New York ."
    found = {(text[s.start : s.end], s.label) for s in tagger.predict([text])[0]}
    assert found == {("Carol Smith", "PER"), ("United Nations", "ORG"), ("New York", "LOC")}


def test_order_of_results_follows_the_input_whatever_the_lengths(tagger):
    texts = ["Bob went to Berlin .", "the Globex said Dave visited London today and went to Paris .", "Alice"]
    together = tagger.predict(texts)
    alone = [tagger.predict([t])[0] for t in texts]
    assert together == alone


def test_empty_and_blank_texts_get_no_spans(tagger):
    assert tagger.predict(["", "   ", "\n"]) == [[], [], []]


def test_expected_errors_lie_between_0_and_the_number_of_words(tagger, corpus):
    texts = [ex.text for ex in corpus[100:110]] + ["", "北京 🙂 paris"]
    for text, p in zip(texts, tagger.analyse(texts)):
        assert 0.0 <= p.expected_errors <= len(text.split())
    assert all(p.expected_errors == 0.0 for p in tagger.analyse(texts, detailed=False))


def test_text_of_unknown_characters_is_tagged_without_error(tagger):
    text = "😀 Alice ✈️ Paris 👩‍👩‍👧"
    spans = tagger.predict([text])[0]
    assert all(0 <= s.start < s.end <= len(text) for s in spans)


class _Oracle:
    """Emissions that depend on each subword alone: what windowing must not change."""

    def __init__(self, tagger: Tagger, rules: dict[str, str]):
        self.tags = tagger.model.head.tags
        vocab = tagger.encoder.tokenizer.get_vocab()
        self.table = torch.zeros(len(vocab), len(self.tags))
        self.table[:, 0] = 5.0
        for word, tag in rules.items():
            self.table[vocab[word]] = 0.0
            self.table[vocab[word], self.tags.index(tag)] = 5.0

    def __call__(self, batch, offset):
        width = int(batch["lengths"].max())
        return self.table[batch["input_ids"][:, offset : offset + width]]


def _long_text(rng: random.Random, n_words: int) -> tuple[str, list[Span]]:
    words, spans, text = ["went", "to", "the", "and", "said", "."], [], ""
    while len(text.split()) < n_words:
        kind = rng.random()
        piece, label = (("new york", "LOC") if kind < 0.2 else ("paris", "LOC") if kind < 0.35
                        else ("united nations", "ORG") if kind < 0.45 else (rng.choice(words), None))
        start = len(text) + (1 if text else 0)
        text = f"{text} {piece}" if text else piece
        if label:
            spans.append(Span(start, start + len(piece), label))
    return text, spans


@pytest.mark.parametrize("seed", range(5))
def test_long_text_spans_in_every_window_none_cut_or_doubled(trained_softmax_dir, seed, monkeypatch):
    tagger = Tagger.load(trained_softmax_dir, max_length=32, stride=8)
    oracle = _Oracle(tagger, {"new": "B-LOC", "york": "I-LOC", "paris": "B-LOC", "united": "B-ORG", "nations": "I-ORG"})
    monkeypatch.setattr(tagger.model, "emissions", oracle)
    text, gold = _long_text(random.Random(seed), 3 * 32)
    (encoded,) = tagger.encoder.encode([text])
    windows = tagger.encoder.windows([len(encoded)])
    assert len(encoded) >= 3 * 32 and len(windows) >= 4
    found = tagger.predict([text])[0]
    assert [s.key() for s in found] == [s.key() for s in gold]
    borders = {w.end for w in windows[:-1]} | {w.start for w in windows[1:]}
    crossing = [s for s in gold if any(encoded.offsets[b][0] > s.start and encoded.offsets[b][0] < s.end
                                       for b in borders if b < len(encoded))]
    assert crossing or seed, "at least one span should straddle a window border"


def test_entity_straddling_a_window_border_is_one_span(trained_softmax_dir, monkeypatch):
    tagger = Tagger.load(trained_softmax_dir, max_length=16, stride=4)
    oracle = _Oracle(tagger, {"new": "B-LOC", "york": "I-LOC"})
    monkeypatch.setattr(tagger.model, "emissions", oracle)
    content = tagger.encoder.content_length  # 14 subwords per window
    filler = ["the"] * (content - 1)  # "new" is the last subword of window 1, "york" the first after it
    text = " ".join(filler + ["new", "york"] + ["the"] * 30)
    found = tagger.predict([text])[0]
    start = len(" ".join(filler)) + 1
    assert [s.key() for s in found] == [(start, start + len("new york"), "LOC")]


def test_long_real_text_through_the_trained_model(trained_dir):
    tagger = Tagger.load(trained_dir, max_length=32, stride=8)
    sentence = "Alice went to Paris ."
    text = " ".join([sentence] * 40)  # about 6 windows
    spans = tagger.predict([text])[0]
    pieces = [(text[s.start : s.end], s.label) for s in spans]
    assert pieces == [("Alice", "PER"), ("Paris", "LOC")] * 40


def test_predictions_match_one_window_when_the_text_fits(trained_dir):
    short = Tagger.load(trained_dir, max_length=64)
    windowed = Tagger.load(trained_dir, max_length=64, stride=16)
    text = "Bob works at Globex in Berlin ."
    assert short.predict([text]) == windowed.predict([text])


@pytest.mark.parametrize("precision", ["int8", None])  # None: quantize=True, the fast path (onnx-int8)
@pytest.mark.parametrize("fixture", ["trained_dir", "trained_softmax_dir"])
def test_int8_fast_path_predicts_what_fp32_predicts(fixture, precision, corpus, request):
    folder = request.getfixturevalue(fixture)
    texts = [e.text for e in corpus[100:]]
    fp32 = Tagger.load(folder).predict(texts)
    fast = Tagger.load(folder, quantize=True, precision=precision)
    assert fast.precision == (precision or FAST_PRECISION)
    int8 = fast.predict(texts)
    assert [[s.key() for s in spans] for spans in int8] == [[s.key() for s in spans] for spans in fp32]
    for a, b in zip(fp32, int8):
        for x, y in zip(a, b):
            assert abs(x.score - y.score) < 0.05


def test_int8_fast_path_leaves_the_original_model_alone(trained_dir):
    tagger = Tagger.load(trained_dir)
    fast = Tagger(tagger.model, tagger.encoder.tokenizer, tagger.meta, precision="int8")
    query = "hf.base_model.encoder.layer.0.attention.self.query"
    assert type(tagger.model.get_submodule(query)) is torch.nn.Linear
    assert type(fast.model.get_submodule(query)) is not torch.nn.Linear
    assert type(fast.model.classifier) is torch.nn.Linear  # the last layer stays fp32
