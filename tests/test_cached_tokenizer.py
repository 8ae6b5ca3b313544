"""runtime.CachedTokenizer (the tokenizer of a model loaded from the ONNX cache) against the
transformers fast tokenizer it was saved from: the same ids, offsets, words and casing per text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from tagger.encoding import TextEncoder
from tagger.runtime import CachedTokenizer
from tagger.store import default_base_model

PIECES = ["Bob", "works", "at", "Globex", "in", "Berlin", ".", ",", "naïve", "Ærø", "北京", "我在工作", "😀", "e\u0301",
          "[CLS]", "[UNK]", "[SEP]", "don't", "U.S.", "1,000", "\t", "\n", "\u00a0", "\u200b", "ｆｕｌｌ", "ß", "İ"]


def cached(tokenizer) -> CachedTokenizer:
    from tokenizers import Tokenizer

    return CachedTokenizer(Tokenizer.from_str(tokenizer.backend_tokenizer.to_str()), tokenizer.pad_token_id,
                           tokenizer.unk_token_id, tokenizer.model_max_length)


@pytest.fixture(scope="module", params=["tiny", "default"])
def pair(request, tiny_base):
    folder = tiny_base if request.param == "tiny" else default_base_model()
    hf = AutoTokenizer.from_pretrained(folder)
    return TextEncoder(hf, max_length=128), TextEncoder(cached(hf), max_length=128)


texts = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), max_size=12).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(batch=st.lists(texts, min_size=1, max_size=5))
def test_the_cached_tokenizer_encodes_as_transformers_does(pair, batch):
    hf, ours = pair
    assert ours.encode(batch) == hf.encode(batch)


def test_the_special_tokens_and_limits_match(pair):
    hf, ours = pair
    assert (ours.prefix, ours.suffix, ours.pad_id, ours.unk_id, ours.content_length) == (
        hf.prefix, hf.suffix, hf.pad_id, hf.unk_id, hf.content_length)
