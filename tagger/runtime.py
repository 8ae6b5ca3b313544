"""ONNX Runtime as the transformer's back end at inference (precision ``onnx-int8`` or ``onnx-fp32``).

Only the transformer is exported: the casing and unseen embeddings, the BiLSTM, the classifier
and the CRF stay in torch and read its hidden states, so every head predicts as it does in
torch. ``onnx-int8`` quantizes the exported graph's matrix products to int8 weights per output
channel (ONNX Runtime's dynamic quantization: activations quantized per batch at run time); the
embedding tables stay in fp32.

The export and the quantization take seconds, so the result is cached: under
``$SEQLAB_CACHE`` (default ``~/.cache/seqlab``) ``onnx/<key>/``, where the key is the model
folder's path with its weights file's size and modification time, the precision and the
versions of torch, transformers and onnxruntime. A model folder is never rewritten in place
(``store.save`` renames a new folder into place), so a changed model has a new key. A model
held only in memory is exported to a temporary folder, read, and the folder removed.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from .spans import SeqLabError

ONNX_PRECISIONS = ("onnx-int8", "onnx-fp32")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def cache_root() -> Path:
    return Path(os.environ.get("SEQLAB_CACHE") or Path.home() / ".cache" / "seqlab")


def _require():
    try:
        import onnxruntime
    except ImportError as e:  # pragma: no cover - requirements.txt installs it
        raise SeqLabError("precision onnx-* needs the onnxruntime package (pip install onnxruntime)") from e
    return onnxruntime


class _Transformer(torch.nn.Module):
    """The transformer alone, positional inputs in, last hidden state out: what is exported."""

    def __init__(self, base: torch.nn.Module, names: tuple[str, ...]):
        super().__init__()
        self.base, self.names = base, names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.base(**dict(zip(self.names, inputs))).last_hidden_state


def input_names(base: torch.nn.Module) -> tuple[str, ...]:
    """The inputs the transformer takes of :data:`INPUTS` (DistilBERT, e.g., has no segments)."""
    accepted = inspect.signature(base.forward).parameters
    names = tuple(n for n in INPUTS if n in accepted)
    if names[:2] != INPUTS[:2]:
        raise SeqLabError(f"cannot export {type(base).__name__}: it takes no input_ids and attention_mask")
    return names


def export(model, out: Path, precision: str) -> Path:
    """Write ``model``'s transformer as ONNX to ``out`` (a folder), int8 or fp32; its path."""
    _require()
    import warnings

    if precision not in ONNX_PRECISIONS:
        raise ValueError(f"precision must be one of {ONNX_PRECISIONS}, got {precision!r}")
    base = model.hf.base_model
    names = input_names(base)
    out.mkdir(parents=True, exist_ok=True)
    fp32 = out / "transformer-fp32.onnx"
    example = torch.ones(2, 8, dtype=torch.long)
    axes = {n: {0: "batch", 1: "length"} for n in (*names, "hidden")}
    was_training = base.training
    base.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's tracer warnings about transformers' Python branches
            torch.onnx.export(_Transformer(base, names), tuple(example for _ in names), str(fp32), dynamo=False,
                              input_names=list(names), output_names=["hidden"], dynamic_axes=axes, opset_version=17)
    finally:
        base.train(was_training)
    if precision == "onnx-fp32":
        return fp32
    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8 = out / "transformer-int8.onnx"
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer's advice to pre-process, on the root logger, for every export
    try:
        # matrix products only: quantizing the embedding tables (Gather) costs accuracy and saves no time
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
    finally:
        root.setLevel(level)
    fp32.unlink()
    return int8


class OnnxTransformer:
    """The exported transformer in an ONNX Runtime session: ``(input_ids, attention_mask,
    token_type_ids) -> last hidden state``, as torch tensors.

    One session per thread count, made when first needed: the app predicts on one thread while
    a training job runs (``predict.share_cpu``), on all of them otherwise, and an ONNX Runtime
    session's thread pool is fixed when it is made.
    """

    def __init__(self, data: bytes, names: tuple[str, ...]):
        self.data, self.names = data, names
        self.sessions: dict[int, object] = {}

    @classmethod
    def from_file(cls, path: Path, names: tuple[str, ...]) -> "OnnxTransformer":
        return cls(path.read_bytes(), names)

    def session(self):
        threads = torch.get_num_threads()
        if threads not in self.sessions:
            ort = _require()
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            self.sessions[threads] = ort.InferenceSession(self.data, options, providers=["CPUExecutionProvider"])
        return self.sessions[threads]

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self.names:
            feeds["token_type_ids"] = token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids)
        arrays = {k: np.ascontiguousarray(v.cpu().numpy(), dtype=np.int64) for k, v in feeds.items()}
        (hidden,) = self.session().run(["hidden"], arrays)
        return torch.from_numpy(hidden)


def _key(folder: Path, precision: str) -> str:
    import onnxruntime
    import transformers

    weights = folder / "model.safetensors"
    stat = weights.stat()
    parts = [str(folder.resolve()), str(stat.st_size), str(stat.st_mtime_ns), precision,
             torch.__version__, transformers.__version__, onnxruntime.__version__]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def transformer_for(model, precision: str, folder: str | Path | None = None) -> OnnxTransformer:
    """The ONNX Runtime transformer of ``model`` at ``precision``: from the cache when ``folder``
    (the model's folder) was exported before, else exported now (and cached when there is a folder)."""
    _require()
    names = input_names(model.hf.base_model)
    if folder is not None and (Path(folder) / "model.safetensors").is_file():
        target = cache_root() / "onnx" / _key(Path(folder), precision)
        done = target / f"transformer-{precision.removeprefix('onnx-')}.onnx"
        if not done.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
            try:
                export(model, work, precision)  # writes work / done.name
                try:
                    work.rename(target)  # atomic: another process may have finished first
                except OSError:
                    pass
            finally:
                shutil.rmtree(work, ignore_errors=True)
        return OnnxTransformer.from_file(done, names)
    with tempfile.TemporaryDirectory(prefix="seqlab-onnx-") as tmp:
        return OnnxTransformer.from_file(export(model, Path(tmp), precision), names)

