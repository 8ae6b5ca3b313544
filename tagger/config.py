"""The hyper-parameters of a training run, apart from the training code: the command line builds its
``train`` flags from :class:`TrainConfig` without importing :mod:`tagger.train` (and, with it,
seqeval and scikit-learn), which ``predict`` and ``rank`` never need."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import DECODERS, ENCODERS, PREDICATE_FEATURES, TASKS
from .spans import SeqLabError

# how a model computes at inference: "fp32", the weights as trained; "int8", torch's dynamic int8
# linear layers; "onnx-int8" / "onnx-fp32", the transformer in ONNX Runtime (tagger.runtime)
PRECISIONS = ("int8", "fp32", "onnx-int8", "onnx-fp32")
# what the app, the worker and the CLI use unless told: ONNX Runtime int8 kept fp32's F1 where torch's
# int8 lost half a point, and tags a file 3.2x as fast as transformers' pipeline (bench/cli_speed.py)
FAST_PRECISION = "onnx-int8"


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run; saved with the model."""

    base_model: str = field(default="default", metadata={"help": "HF id, folder, or 'default'"})
    decoder: str = field(default="crf", metadata={"help": "softmax or crf"})
    encoder: str = field(default="bilstm", metadata={"help": "none or bilstm (with casing)"})
    epochs: int = field(default=4, metadata={"help": "passes over the training data"})
    batch_size: int = field(default=32, metadata={"help": "sequences per step"})
    lr: float = field(default=1.5e-4, metadata={"help": "peak learning rate of the transformer"})
    head_lr: float = field(default=1e-3, metadata={"help": "learning rate of BiLSTM/CRF/casing"})
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    grad_clip: float = 1.0
    max_length: int = field(default=256, metadata={"help": "subwords per window incl. specials"})
    stride: int = 64
    lstm_hidden: int = 256
    dropout: float = 0.1
    seed: int = 13
    length_chunk: int = field(default=4, metadata={
        "help": "batches per shuffled chunk sorted by length (1: random batches; more: less padding, less mixing)"})
    unseen_buckets: int = field(default=8192, metadata={
        "help": "buckets of a learned embedding of the subwords the tokenizer maps to [UNK] (most Chinese "
                "characters for the embedded model), added to BERT's vector there; 0: none"})
    freeze_embeddings: bool = field(default=False, metadata={
        "help": "keep the subword embedding matrix fixed: a quarter faster a step, as accurate on small data"})
    predicate_finder: bool = field(default=True, metadata={
        "help": "frames: train the predicate finder too (raw text then gets its frames; without it, only "
                "given predicates)"})
    predicate_vector: bool = field(default=False, metadata={
        "help": "frames: give every word the predicate's BERT vector too (into the BiLSTM)"})
    suffix_buckets: int = field(default=0, metadata={
        "help": "buckets of a learned embedding of each word's last 3 letters into the BiLSTM (0: none)"})
    lexicon: bool | None = field(default=None, metadata={
        "help": "give the BiLSTM each character's place in the words of jieba's Chinese dictionary "
                "(349k words with their part of speech): word edges and names the base model cannot see; "
                "unset: on when most of the training text is Chinese characters"})
    bf16: bool | None = field(default=None, metadata={
        "help": "compute the forward pass in bfloat16 (autocast; the weights and the optimizer stay float32): "
                "a step of 32 CoNLL sentences 1.4x as fast on an Intel CPU with AMX (one of 8: the same); unset: on where the processor computes bfloat16 "
                "natively (AMX, or a GPU that supports it), off elsewhere, where it would be slower"})
    bigram_buckets: int = field(default=0, metadata={
        "help": "buckets of a learned embedding of each subword with the next one (character bigrams in "
                "Chinese) into the BiLSTM (0: none)"})
    word_buckets: int = field(default=0, metadata={
        "help": "buckets of a learned embedding of each word as written (case kept) into the BiLSTM (0: none)"})
    task: str = field(default="auto", metadata={
        "help": "spans (NER), tags (one tag per word, e.g. POS) or frames (SRL: predicates and their "
                "arguments); auto: from the training file"})
    predicate: str = field(default="segment", metadata={
        "help": "frames: how the model is told the predicate: segment (BERT's segment ids), indicator "
                "(an embedding into the BiLSTM) or both"})

    def __post_init__(self):
        if self.decoder not in DECODERS:
            raise SeqLabError(f"decoder must be one of {', '.join(DECODERS)}, got {self.decoder!r}")
        if self.encoder not in ENCODERS:
            raise SeqLabError(f"encoder must be one of {', '.join(ENCODERS)}, got {self.encoder!r}")
        if self.task not in ("auto", *TASKS):
            raise SeqLabError(f"task must be auto or one of {', '.join(TASKS)}, got {self.task!r}")
        if self.predicate not in PREDICATE_FEATURES:
            raise SeqLabError(f"predicate must be one of {', '.join(PREDICATE_FEATURES)}, got {self.predicate!r}")
        if self.predicate != "segment" and self.encoder != "bilstm" and self.task == "frames":
            raise SeqLabError(f"predicate {self.predicate!r} feeds the BiLSTM: it needs encoder bilstm")
        if self.lexicon not in (None, True, False):
            raise SeqLabError(f"lexicon must be true, false or unset, got {self.lexicon!r}")
        if self.bf16 not in (None, True, False):
            raise SeqLabError(f"bf16 must be true, false or unset, got {self.bf16!r}")
        if not 0 <= self.suffix_buckets <= 1 << 20 or self.suffix_buckets == 1:
            raise SeqLabError(f"suffix_buckets must be 0 or 2 .. {1 << 20}, got {self.suffix_buckets}")
        if not 0 <= self.bigram_buckets <= 1 << 20 or self.bigram_buckets == 1:
            raise SeqLabError(f"bigram_buckets must be 0 or 2 .. {1 << 20}, got {self.bigram_buckets}")
        if not 0 <= self.word_buckets <= 1 << 20 or self.word_buckets == 1:
            raise SeqLabError(f"word_buckets must be 0 or 2 .. {1 << 20}, got {self.word_buckets}")
        if not 0 <= self.unseen_buckets <= 1 << 20 or self.unseen_buckets == 1:
            raise SeqLabError(f"unseen_buckets must be 0 or 2 .. {1 << 20}, got {self.unseen_buckets}")
        for name in ("epochs", "batch_size", "max_length", "length_chunk"):
            if getattr(self, name) < 1:
                raise SeqLabError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (0 < self.lr < 1 and 0 < self.head_lr < 1):
            raise SeqLabError(f"learning rates must be in (0, 1), got {self.lr}, {self.head_lr}")
