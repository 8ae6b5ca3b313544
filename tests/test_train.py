"""Training: config validation, progress, cancel, seeding, best epoch, warm start."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tagger import store
from tagger.model import HeadConfig
from tagger.predict import Tagger
from tagger.schemes import tag_names
from tagger.spans import Example, SeqLabError, Span
from tagger.evaluate import evaluate
from tagger.train import Progress, TrainConfig, TrainingCancelled, _transfer, dev_sample, train


def _config(tiny_base, **kw) -> TrainConfig:
    base = dict(base_model=tiny_base, epochs=2, batch_size=8, lr=3e-3, head_lr=1e-2, max_length=64, lstm_hidden=16)
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize(
    "field, value, message",
    [("decoder", "hmm", "decoder"), ("encoder", "gru", "encoder"), ("epochs", 0, "epochs"),
     ("batch_size", 0, "batch_size"), ("lr", 0.0, "learning rates")],
)
def test_bad_config_is_refused_with_the_field_named(field, value, message):
    with pytest.raises(SeqLabError, match=message):
        TrainConfig(**{field: value})


def test_bf16_that_is_not_a_yes_or_no_is_refused():
    with pytest.raises(SeqLabError, match="bf16"):
        TrainConfig(bf16="yes")  # type: ignore[arg-type]


def test_bf16_computes_in_bfloat16_and_is_recorded(tiny_base, corpus, tmp_path):
    """bf16 autocast changes the numbers (so it is on), the weights stay float32, and seqlab.json
    says which it was; unset, it is what the processor computes natively."""
    from tagger.train import native_bf16

    runs = {b: train(corpus[:16], (), _config(tiny_base, epochs=1, bf16=b)) for b in (False, True)}
    weights = {b: torch.cat([p.detach().flatten() for p in run.model.parameters()]) for b, run in runs.items()}
    assert not torch.equal(weights[True], weights[False])  # (the rounded loss can agree: 1.461 both on AVX2)
    assert all(p.dtype == torch.float32 for p in runs[True].model.parameters())
    meta = store.read_meta(runs[True].save(tmp_path / "m"))
    assert meta["train_config"]["bf16"] is True
    unset = train(corpus[:16], (), _config(tiny_base, epochs=1))
    assert unset.config.bf16 is native_bf16("cpu")
    assert unset.history[-1]["loss"] == runs[native_bf16("cpu")].history[-1]["loss"]


def test_under_bf16_autocast_a_cpu_without_a_bf16_lstm_runs_the_lstm_in_float32(monkeypatch):
    """oneDNN builds no bfloat16 LSTM without AVX-512 BF16 or AMX (--bf16 on such a CPU failed with
    "could not create a primitive descriptor"): the LSTM alone then computes in float32."""
    from tagger import model as model_module

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(6, 4, batch_first=True, bidirectional=True)
    x, lengths = torch.randn(2, 5, 6), torch.tensor([5, 3])
    expected = model_module.bilstm(lstm, x, lengths)
    monkeypatch.setattr(model_module, "bf16_lstm", lambda: False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = model_module.bilstm(lstm, x.bfloat16(), lengths)
    assert ours.dtype == torch.float32
    assert torch.allclose(ours, model_module.bilstm(lstm, x.bfloat16().float(), lengths))
    assert torch.allclose(ours, expected, atol=0.02)


def test_bf16_is_left_off_on_a_cpu_without_amx(monkeypatch):
    """Emulated bfloat16 is slower than float32: only AMX turns it on by itself."""
    from tagger.train import native_bf16

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert native_bf16("cpu") is False
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert native_bf16("cpu") is bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert native_bf16("cpu") is False  # a torch without the helper: float32


def test_config_is_frozen():
    from dataclasses import FrozenInstanceError

    with pytest.raises(FrozenInstanceError):
        TrainConfig().epochs = 9  # type: ignore[misc]


def test_progress_reports_every_step_with_total_and_eta(tiny_base, corpus):
    seen: list[Progress] = []
    train(corpus[:40], corpus[100:], _config(tiny_base), progress=seen.append)
    steps = [p.step for p in seen if p.dev_f1 is None]
    assert steps == list(range(1, 11))  # 40 docs / 8 per batch x 2 epochs
    assert all(p.total == 10 for p in seen)
    assert seen[-1].eta_s == 0 and seen[-1].tokens_per_s > 0
    assert [p.epoch for p in seen if p.dev_f1 is not None] == [1, 2]


def test_loss_falls(tiny_base, corpus):
    result = train(corpus[:80], (), _config(tiny_base, epochs=4))
    losses = [row["loss"] for row in result.history]
    assert losses[-1] < losses[0] / 2


def test_cancel_stops_training_at_the_next_step(tiny_base, corpus):
    calls = []

    def should_cancel():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(TrainingCancelled):
        train(corpus[:80], (), _config(tiny_base), should_cancel=should_cancel)
    assert len(calls) == 4


def test_same_seed_same_model(tiny_base, corpus):
    a = train(corpus[:24], (), _config(tiny_base, epochs=1))
    b = train(corpus[:24], (), _config(tiny_base, epochs=1))
    assert a.history[0]["loss"] == b.history[0]["loss"]
    for (k, v), w in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(v, w), k


def test_best_epoch_is_kept(tiny_base, corpus):
    result = train(corpus[:40], corpus[100:], _config(tiny_base, epochs=3))
    best = max(row["dev_f1"] for row in result.history)
    assert result.report.f1 == pytest.approx(best, abs=1e-4)
    assert sum(1 for row in result.history if row.get("best")) >= 1


def test_frozen_embeddings_stay_as_they_were_and_the_rest_learns(tiny_base, corpus):
    result = train(corpus[:16], (), _config(tiny_base, epochs=1, freeze_embeddings=True))
    fresh, _ = store.build(tiny_base, result.model.head)
    embeddings = result.model.hf.get_input_embeddings().weight
    torch.testing.assert_close(embeddings, fresh.hf.get_input_embeddings().weight)
    assert not torch.equal(result.model.classifier.weight, fresh.classifier.weight)


def test_a_warm_start_without_freezing_trains_embeddings_a_frozen_run_kept(tiny_base, corpus, tmp_path):
    frozen = train(corpus[:16], (), _config(tiny_base, epochs=1, freeze_embeddings=True)).save(tmp_path / "m")
    result = train(corpus[:16], (), _config(tiny_base, epochs=1), warm_start=frozen)
    old, _, _ = store.load(frozen)
    assert not torch.equal(result.model.hf.get_input_embeddings().weight, old.hf.get_input_embeddings().weight)


def test_dev_sample_is_the_same_documents_whatever_their_order(corpus):
    dev = corpus[:40]
    sample = dev_sample(dev, 10)
    assert len(sample) == 10
    assert {e.text for e in dev_sample(dev[::-1], 10)} == {e.text for e in sample}
    assert sample == [e for e in dev if e in sample]  # in the order given


def test_dev_sample_larger_than_the_dev_set_is_all_of_it(corpus):
    assert dev_sample(corpus[:5], 10) == corpus[:5]


def test_epoch_dev_scores_epochs_on_a_sample_and_the_kept_epoch_on_all(tiny_base, corpus):
    dev = corpus[80:120]
    seen: list[Progress] = []
    result = train(corpus[:40], dev, _config(tiny_base, epochs=3), progress=seen.append, epoch_dev=10)
    sample = dev_sample(dev, 10)
    assert result.report.overall.support == sum(len(e.spans) for e in dev)
    full = evaluate(dev, result.tagger().predict([e.text for e in dev]))
    assert result.report.f1 == pytest.approx(full.f1)
    assert [round(p.dev_f1, 4) for p in seen if p.dev_f1 is not None] == [row["dev_f1"] for row in result.history]
    kept = next(row for row in reversed(result.history) if row.get("best"))
    on_sample = evaluate(sample, result.tagger().predict([e.text for e in sample]))
    assert kept["dev_f1"] == pytest.approx(on_sample.f1, abs=1e-4)
    assert result.epoch_dev_docs == 10 and result.meta()["data"]["epoch_dev_docs"] == 10
    assert 0 < result.eval_seconds <= result.seconds


def test_without_epoch_dev_every_epoch_is_scored_on_all_of_dev(tiny_base, corpus):
    result = train(corpus[:40], corpus[100:], _config(tiny_base, epochs=1))
    assert result.report.overall.support == sum(len(e.spans) for e in corpus[100:])
    assert result.epoch_dev_docs is None and "epoch_dev_docs" not in result.meta()["data"]


@pytest.mark.parametrize("encoder, decoder", [("none", "softmax"), ("none", "crf"), ("bilstm", "softmax")])
def test_every_architecture_learns_the_template(tiny_base, corpus, encoder, decoder):
    result = train(corpus[:100], corpus[100:], _config(tiny_base, epochs=6, encoder=encoder, decoder=decoder))
    assert result.report.f1 > 0.9


def test_training_without_spans_or_labels_is_refused(tiny_base):
    with pytest.raises(SeqLabError, match="no spans"):
        train([Example("alice went to paris")], (), _config(tiny_base))


def test_no_documents_is_refused(tiny_base):
    with pytest.raises(SeqLabError, match="no training documents"):
        train([], (), _config(tiny_base))


def test_span_edge_inside_a_subword_is_returned_as_a_warning(tiny_base):
    data = [Example("playing in paris", (Span(0, 3, "PER"), Span(11, 16, "LOC")))]
    result = train(data, (), _config(tiny_base, epochs=1))
    assert [w.span for w in result.warnings] == [Span(0, 3, "PER")]


def test_warm_start_keeps_old_weights_and_adds_new_labels(trained_dir):
    old, _, _ = store.load(trained_dir)
    head = HeadConfig.from_dict({**old.head.to_dict(), "tags": tuple(dict.fromkeys(old.head.tags + tuple(tag_names(["MISC"]))))})
    new, _ = store.build(trained_dir, head)
    _transfer(old, new)
    k_old = len(old.head.tags)
    assert new.head.tags[:k_old] == old.head.tags and len(new.head.tags) == k_old + 2
    torch.testing.assert_close(new.classifier.weight[:k_old], old.classifier.weight)
    torch.testing.assert_close(new.crf.transitions[:k_old, :k_old], old.crf.transitions)
    torch.testing.assert_close(new.lstm.weight_ih_l0, old.lstm.weight_ih_l0)
    for name, p in old.hf.base_model.named_parameters():
        torch.testing.assert_close(dict(new.hf.base_model.named_parameters())[name], p)


def test_warm_start_from_a_checkpoint_trains_on(trained_dir, tiny_base, corpus):
    extra = [Example("the globex said", (Span(len("the "), len("the globex"), "MISC"),))] * 8
    result = train(corpus[:16] + extra, (), _config(tiny_base, epochs=1, lstm_hidden=32), warm_start=trained_dir)
    assert "B-MISC" in result.model.head.tags
    text = "Alice went to Paris ."
    spans = Tagger(result.model, result.tokenizer).predict([text])[0]
    assert {(text[s.start : s.end], s.label) for s in spans} == {("Alice", "PER"), ("Paris", "LOC")}


def test_train_result_saves_and_reloads(tiny_base, corpus, tmp_path):
    result = train(corpus[:16], (), _config(tiny_base, epochs=1))
    out = result.save(tmp_path / "m", {"project": "demo"})
    meta = store.read_meta(out)
    assert meta["project"] == "demo" and meta["data"]["train_docs"] == 16 and meta["metrics"] is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 300), max_size=400), st.integers(1, 40), st.integers(0, 10**6))
def test_shuffled_length_batches_cover_every_window_once_in_batches_of_at_most_size(lengths, size, seed):
    import random

    from tagger.train import shuffled_length_batches

    batches = shuffled_length_batches(lengths, size, random.Random(seed))
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(1 <= len(b) <= size for b in batches)
    assert batches == shuffled_length_batches(lengths, size, random.Random(seed))


def test_sorting_within_chunks_pads_less_than_random_batches_but_mixes_more_than_one_global_sort():
    import random

    from tagger.train import shuffled_length_batches

    rng = random.Random(0)
    lengths = [rng.choice([3, 3, 3, 12, 25, 40]) + rng.randrange(5) for _ in range(2000)]

    def padding(batches):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)

    def distinct_lengths(batches):  # how mixed a batch is, on average
        return sum(len({lengths[i] for i in b}) for b in batches) / len(batches)

    chunked = shuffled_length_batches(lengths, 32, random.Random(1))
    order = random.Random(1).sample(range(len(lengths)), len(lengths))
    unsorted = [order[k : k + 32] for k in range(0, len(order), 32)]
    global_sort = shuffled_length_batches(lengths, 32, random.Random(1), chunk_batches=len(lengths))
    assert padding(chunked) < padding(unsorted) / 3
    assert distinct_lengths(chunked) > distinct_lengths(global_sort)


def test_the_fused_optimizer_makes_the_multi_tensor_kernels_update(tiny_base):
    """Three AdamW steps of the fused optimizer the training uses land where the default
    (foreach) kernels do, on every parameter group (transformer and head, decayed or not)."""
    import copy

    from tagger.train import _optimizer

    model, _ = store.build(tiny_base, HeadConfig(("O", "B-PER", "I-PER"), "crf", "bilstm", lstm_hidden=8))
    twin = copy.deepcopy(model)
    fused = _optimizer(model, _config(tiny_base))
    assert fused.defaults["fused"] and len(fused.param_groups) == 4
    name_of = {id(p): n for n, p in model.named_parameters()}
    theirs = dict(twin.named_parameters())
    plain = torch.optim.AdamW([{"params": [theirs[name_of[id(p)]] for p in g["params"]], "lr": g["lr"],
                                "weight_decay": g["weight_decay"]} for g in fused.param_groups], foreach=True)
    start = copy.deepcopy(model.state_dict())
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        for a, b in zip(model.parameters(), twin.parameters()):
            a.grad = torch.randn(a.shape, generator=generator)
            b.grad = a.grad.clone()
        fused.step()
        plain.step()
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
        assert not torch.equal(a, start[name]), name  # every parameter moved


def test_importing_the_engine_bounds_onednns_primitive_cache_unless_the_user_set_it():
    import os
    import subprocess
    import sys

    probe = "import os, tagger; print(os.environ['ONEDNN_PRIMITIVE_CACHE_CAPACITY'])"
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}
    assert subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "8"
    assert subprocess.run([sys.executable, "-c", probe], env={**env, "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "64"},
                          capture_output=True, text=True, check=True).stdout.strip() == "64"
