"""The ONNX Runtime back end (precision onnx-int8 / onnx-fp32) against torch fp32."""

from __future__ import annotations

import json

import pytest
import torch

from tagger import runtime
from tagger.__main__ import main
from tagger.predict import Tagger, share_cpu
from tagger.spans import SeqLabError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def keys(predictions):
    return [[s.key() for s in spans] for spans in predictions]


@pytest.mark.parametrize("fixture", ["trained_dir", "trained_softmax_dir"])
@pytest.mark.parametrize("precision", ["onnx-int8", "onnx-fp32"])
def test_onnx_predicts_what_fp32_predicts(fixture, precision, corpus, request):
    folder = request.getfixturevalue(fixture)
    texts = [e.text for e in corpus[100:]]
    fp32 = Tagger.load(folder).predict(texts)
    fast = Tagger.load(folder, precision=precision)
    assert fast.precision == precision and fast.model.runtime is not None
    ours = fast.predict(texts)
    assert keys(ours) == keys(fp32)
    tolerance = 0.05 if precision == "onnx-int8" else 1e-4
    for a, b in zip(fp32, ours):
        for x, y in zip(a, b):
            assert abs(x.score - y.score) <= tolerance


def test_onnx_fp32_gives_torch_fp32_emissions(trained_dir):
    torch_side, onnx_side = Tagger.load(trained_dir), Tagger.load(trained_dir, precision="onnx-fp32")
    texts = ["Bob works at Globex in Berlin .", "Alice ."]
    encoded = torch_side.encoder.encode(texts)
    windows = torch_side.encoder.windows([len(e) for e in encoded])
    for a, b in zip(torch_side._emissions(encoded, windows), onnx_side._emissions(encoded, windows)):
        assert torch.allclose(a, b, atol=1e-4)


def test_the_export_is_cached_per_model_folder(trained_dir, _cache, monkeypatch):
    Tagger.load(trained_dir, precision="onnx-int8")
    exported = list(_cache.glob("onnx/*/transformer-int8.onnx"))
    assert len(exported) == 1

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(runtime, "export", no_export)
    again = Tagger.load(trained_dir, precision="onnx-int8")  # from the cache
    assert again.predict(["Bob works at Globex ."]) == Tagger.load(trained_dir, precision="onnx-int8").predict(
        ["Bob works at Globex ."])
    with pytest.raises(AssertionError, match="exported again"):
        Tagger.load(trained_dir, precision="onnx-fp32")  # another precision is another export
    assert not list(_cache.glob("onnx/.export-*"))  # no half-written folder left behind


def test_a_model_in_memory_is_exported_without_a_cache(trained_dir, _cache):
    loaded = Tagger.load(trained_dir)
    fast = Tagger(loaded.model, loaded.encoder.tokenizer, loaded.meta, precision="onnx-int8")
    assert keys(fast.predict(["Bob works at Globex ."])) == keys(loaded.predict(["Bob works at Globex ."]))
    assert not _cache.exists()
    assert loaded.model.runtime is None  # the caller's model still computes in torch


def test_a_session_per_thread_count(trained_dir):
    fast = Tagger.load(trained_dir, precision="onnx-int8")
    before = fast.predict(["Bob works at Globex ."])
    try:
        share_cpu(with_training=True)
        assert fast.predict(["Bob works at Globex ."]) == before
    finally:
        share_cpu(with_training=False)
    assert 1 in fast.model.runtime.sessions and len(fast.model.runtime.sessions) >= 1
    for session in fast.model.runtime.sessions.values():  # threads spin within a run, never after it
        options = session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"
        assert options.get_session_config_entry("session.force_spinning_stop") == "1"


def test_a_frames_model_sends_the_predicate_as_segments(srl_model_dir):
    folder, dev = srl_model_dir
    texts, predicates = [e.text for e in dev], [[f.predicate for f in e.frames] for e in dev]
    fp32 = Tagger.load(folder).predict_frames(texts, predicates)
    fast = Tagger.load(folder, precision="onnx-fp32")
    assert "token_type_ids" in fast.model.runtime.names
    assert [[(f.predicate.key(), [a.key() for a in f.arguments]) for f in row] for row in fast.predict_frames(
        texts, predicates)] == [[(f.predicate.key(), [a.key() for a in f.arguments]) for f in row] for row in fp32]


@pytest.fixture(scope="module")
def srl_model_dir(tiny_base, tmp_path_factory):
    from tests.test_tasks import TINY, srl_corpus
    from tagger.train import TrainConfig, train

    result = train(srl_corpus(40, seed=1), [], TrainConfig(base_model=tiny_base, task="frames",
                                                           predicate_finder=False, **{**TINY, "epochs": 4}))
    return result.save(tmp_path_factory.mktemp("srl-onnx") / "model"), srl_corpus(8, seed=6)


def test_an_unknown_precision_is_refused(trained_dir):
    with pytest.raises(SeqLabError, match="precision must be one of"):
        Tagger.load(trained_dir, precision="fp8")


def test_the_cli_predicts_with_onnx(trained_dir, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("Bob works at Globex in Berlin .\nAlice .\n")
    assert main(["predict", "--model", trained_dir, "--precision", "onnx-int8", str(texts)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = Tagger.load(trained_dir).predict(texts.read_text().splitlines())
    assert [[(s["start"], s["end"], s["label"]) for s in r["spans"]] for r in rows] == keys(expected)


# ------------------------------------------------ loading from the cache, without transformers

@pytest.mark.parametrize("fixture", ["trained_dir", "trained_softmax_dir"])
def test_a_cached_model_loads_without_transformers_and_predicts_the_same(fixture, corpus, request, monkeypatch):
    folder = request.getfixturevalue(fixture)
    texts = [e.text for e in corpus[100:]]
    first = Tagger.load(folder, precision="onnx-int8")  # exports, and keeps the tokenizer beside the graph
    assert not isinstance(first.model.hf, runtime._Exported)

    from tagger import store

    def no_full_load(*args, **kwargs):
        raise AssertionError("loaded with transformers")

    monkeypatch.setattr(store, "load", no_full_load)
    again = Tagger.load(folder, precision="onnx-int8")
    assert isinstance(again.model.hf, runtime._Exported)
    assert isinstance(again.encoder.tokenizer, runtime.CachedTokenizer)
    assert again.predict(texts) == first.predict(texts)  # same spans, same scores
    assert [a.expected_errors for a in again.analyse(texts)] == [a.expected_errors for a in first.analyse(texts)]


def test_a_cached_frames_model_with_its_finder_loads_without_transformers(srl_model_dir):
    folder, dev = srl_model_dir
    texts, predicates = [e.text for e in dev], [[f.predicate for f in e.frames] for e in dev]
    first = Tagger.load(folder, precision="onnx-fp32")
    again = Tagger.load(folder, precision="onnx-fp32")
    assert isinstance(again.model.hf, runtime._Exported) and again.model.runtime.names == first.model.runtime.names
    assert again.predict_frames(texts, predicates) == first.predict_frames(texts, predicates)


def test_predict_from_the_cache_never_imports_transformers(trained_dir, _cache):
    import os
    import subprocess
    import sys

    Tagger.load(trained_dir, precision="onnx-int8")  # the export, in this process
    script = ("import sys; from tagger.predict import Tagger; "
              f"print(Tagger.load({trained_dir!r}, precision='onnx-int8').predict(['Bob works at Globex .'])[0]); "
              "print(sorted(m for m in sys.modules if m.split('.')[0] == 'transformers'))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          env={**os.environ, "SEQLAB_CACHE": str(_cache)})
    spans, imported = done.stdout.strip().splitlines()
    assert imported == "[]"
    assert "Span(" in spans


def test_a_broken_cache_entry_is_exported_again(trained_dir, _cache):
    before = Tagger.load(trained_dir, precision="onnx-int8").predict(["Bob works at Globex ."])
    (entry,) = _cache.glob("onnx/*/")
    (entry / runtime.RUNTIME_FILE).write_text("{not json")
    again = Tagger.load(trained_dir, precision="onnx-int8")  # the full load, and a new export
    assert not isinstance(again.model.hf, runtime._Exported)
    assert again.predict(["Bob works at Globex ."]) == before
    (entry,) = _cache.glob("onnx/*/")
    (entry / "transformer-int8.onnx").write_bytes(b"not a graph")
    assert Tagger.load(trained_dir, precision="onnx-int8").predict(["Bob works at Globex ."]) == before
    assert isinstance(Tagger.load(trained_dir, precision="onnx-int8").model.hf, runtime._Exported)


def test_a_classifier_of_the_wrong_shape_is_a_checkpoint_error(trained_softmax_dir, tmp_path):
    import os
    import shutil

    from safetensors.torch import load_file, save_file

    from tagger.store import CheckpointError

    folder = tmp_path / "model"
    shutil.copytree(trained_softmax_dir, folder)
    Tagger.load(folder, precision="onnx-fp32")  # cached
    path = folder / "model.safetensors"
    weights, stat = load_file(path), path.stat()
    weights["classifier.weight"] = weights["classifier.weight"].T.contiguous()  # (hidden, tags): same bytes
    save_file(weights, path, metadata={"format": "pt"})
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size  # the same cache key: the cached load reads the bad layer
    with pytest.raises(CheckpointError, match="cannot be loaded"):
        Tagger.load(folder, precision="onnx-fp32")


def test_the_export_uses_eager_attention_and_gives_the_model_back_as_it_was(trained_dir, monkeypatch):
    loaded = Tagger.load(trained_dir)
    config = loaded.model.hf.config
    before = config._attn_implementation
    seen = []
    export = torch.onnx.export

    def spy(module, *args, **kwargs):
        seen.append(module.base.config._attn_implementation)
        return export(module, *args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", spy)
    texts = ["Bob works at Globex in Berlin .", "Alice ."]
    fp32 = loaded.predict(texts)
    fast = Tagger(loaded.model, loaded.encoder.tokenizer, loaded.meta, precision="onnx-fp32")
    assert seen == ["eager"]
    assert config._attn_implementation == before != "eager"  # torch's own attention again
    assert keys(loaded.predict(texts)) == keys(fp32) == keys(fast.predict(texts))


# ------------------------------------------------ the BiLSTM as an ONNX graph of its own

@pytest.mark.parametrize("precision", ["onnx-fp32", "onnx-int8"])
def test_the_exported_bilstm_gives_what_torch_gives_on_a_padded_batch(precision, tmp_path):
    from tagger.model import bilstm

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(12, 8, batch_first=True, bidirectional=True).eval()
    x = torch.randn(3, 7, 12)
    lengths = torch.tensor([7, 4, 1])
    if precision == "onnx-fp32":  # the padding is never read: the backward direction starts at each row's end
        x[1, 4:] = 100.0  # (int8 quantizes the batch's activations on one scale, padding included)
        x[2, 1:] = -100.0
    graph = runtime.OnnxBiLSTM.from_file(runtime.export_bilstm(lstm, tmp_path, precision))
    with torch.no_grad():
        expected = bilstm(lstm, x, lengths)
    ours = graph(x, lengths)
    assert ours.shape == expected.shape == (3, 7, 16)
    assert torch.equal(ours[1, 4:], torch.zeros(3, 16)) and torch.equal(ours[2, 1:], torch.zeros(6, 16))
    assert torch.allclose(ours, expected, atol=1e-5 if precision == "onnx-fp32" else 0.05)
    assert not torch.allclose(ours[:, :, :8], expected[:, :, 8:], atol=0.05)  # the directions in torch's order
    classifier = torch.nn.Linear(16, 5)
    scores = runtime.OnnxBiLSTM.from_file(runtime.export_bilstm(lstm, tmp_path / "c", precision, classifier))(x, lengths)
    with torch.no_grad():
        assert torch.allclose(scores, classifier(expected), atol=1e-5 if precision == "onnx-fp32" else 0.05)


@pytest.mark.parametrize("vnni", [True, False])
def test_int8_weights_take_7_bits_on_a_cpu_without_vnni_and_8_with_it(vnni, monkeypatch, tmp_path):
    """Without VNNI, ONNX Runtime adds pairs of uint8 x int8 products in 16 bits: 8-bit weights
    can overflow them, 7-bit ones cannot. Either way the graph computes what torch does."""
    import onnx
    from onnx import numpy_helper
    from tagger.model import bilstm

    monkeypatch.setattr(runtime, "int8_dot_product", lambda: vnni)
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(12, 8, batch_first=True, bidirectional=True).eval()
    path = runtime.export_bilstm(lstm, tmp_path, "onnx-int8")
    weights = [numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert weights and max(int(abs(w.astype(int)).max()) for w in weights) == (127 if vnni else 64)
    x, lengths = torch.randn(3, 7, 12), torch.tensor([7, 4, 1])
    with torch.no_grad():
        assert torch.allclose(runtime.OnnxBiLSTM.from_file(path)(x, lengths), bilstm(lstm, x, lengths), atol=0.05)


def test_a_bilstm_head_runs_its_bilstm_in_onnx_runtime_and_caches_it(trained_dir, trained_softmax_dir, _cache):
    fast = Tagger.load(trained_dir, precision="onnx-int8")
    assert isinstance(fast.model.lstm_runtime, runtime.OnnxBiLSTM)
    (entry,) = _cache.glob("onnx/*/")
    assert (entry / "bilstm-int8.onnx").is_file()
    assert Tagger.load(trained_softmax_dir, precision="onnx-int8").model.lstm_runtime is None  # no BiLSTM
    before = fast.predict(["Bob works at Globex in Berlin ."])
    (entry / "bilstm-int8.onnx").unlink()  # an entry cached before the BiLSTM was exported
    again = Tagger.load(trained_dir, precision="onnx-int8")
    assert isinstance(again.model.hf, runtime._Exported)  # still the cached load, the BiLSTM added to it
    assert (entry / "bilstm-int8.onnx").is_file()
    assert again.predict(["Bob works at Globex in Berlin ."]) == before
    assert Tagger.load(trained_dir).model.lstm_runtime is None  # fp32: all in torch
