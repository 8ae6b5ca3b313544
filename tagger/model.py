"""BERT features -> optional BiLSTM encoding layer -> softmax or CRF decoder.

The BERT part is a Hugging Face ``AutoModelForTokenClassification``. With
``encoder="none"`` its own classifier produces the emissions, so a saved SeqLab
model is an ordinary transformers checkpoint (the CRF transitions, if any, live in
an extra file). With ``encoder="bilstm"`` the BERT features, concatenated with an
embedding of each word's casing (which an uncased tokenizer throws away), go
through a BiLSTM and a classifier of SeqLab's own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from .crf import CRF, FORBIDDEN, allowed_transitions, decode_with_marginals, viterbi_np
from .encoding import NUM_CASING
from .lexicon import LEXICON_BITS

DECODERS = ("softmax", "crf")
ENCODERS = ("none", "bilstm")
# how a ``frames`` model is told which word is the predicate: an embedding beside the casing one
# into the BiLSTM ("indicator"), or BERT's segment ids, 1 on the predicate's subwords ("segment":
# the transformer itself sees it, at every layer)
PREDICATE_FEATURES = ("indicator", "segment", "both")
TASKS = ("spans", "tags", "frames")


@dataclass(frozen=True)
class HeadConfig:
    """What sits on top of BERT; saved in ``seqlab.json`` and reloaded with defaults."""

    tags: tuple[str, ...]
    decoder: str = "crf"
    encoder: str = "bilstm"
    lstm_hidden: int = 256
    casing_dim: int = 16
    dropout: float = 0.1
    # buckets of the embedding of subwords the tokenizer maps to [UNK] (0: none; checkpoints made
    # before it load as 0), added to BERT's vector there (encoder "bilstm" only)
    unseen_buckets: int = 0
    unseen_dim: int = 32
    # "spans": IOB2 over entities; "tags": one plain tag per word, on its first subword ("O", kept
    # first, is never predicted); "frames": IOB2 over the roles of one predicate given as input
    task: str = "spans"
    predicate: str = "segment"  # frames only: see PREDICATE_FEATURES
    # buckets of an embedding of each word's last letters into the BiLSTM (0: none; checkpoints
    # made before it load as 0): what a word's ending says of its part of speech
    suffix_buckets: int = 0
    # frames, encoder "bilstm": every word's features also get the predicate's own BERT vector (the
    # mean over its subwords), so each word is read against the predicate it is an argument of
    predicate_vector: bool = False
    # encoder "bilstm": each subword's dictionary bits (tagger.lexicon: the words of jieba's Chinese
    # dictionary it begins, continues, ends or is, by class), projected into the BiLSTM
    lexicon: bool = False
    # encoder "bilstm": buckets of an embedding of each subword with the next one (character bigrams
    # in Chinese) into the BiLSTM (0: none; checkpoints made before it load as 0)
    bigram_buckets: int = 0
    # encoder "bilstm": buckets of an embedding of each word as written, case kept, into the BiLSTM
    # (0: none; checkpoints made before it load as 0): what the training data says of that word
    word_buckets: int = 0

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.predicate not in PREDICATE_FEATURES:
            raise ValueError(f"predicate must be one of {PREDICATE_FEATURES}, got {self.predicate!r}")
        if self.task == "frames" and self.predicate != "segment" and self.encoder != "bilstm":
            raise ValueError(f"predicate {self.predicate!r} feeds the BiLSTM: it needs encoder 'bilstm'")
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {self.decoder!r}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {self.encoder!r}")
        if not self.tags or self.tags[0] != "O":
            raise ValueError(f"tags must start with 'O', got {self.tags[:3]!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tags"] = list(self.tags)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "HeadConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known["tags"] = tuple(known["tags"])
        return cls(**known)


def _fold(ids: torch.Tensor, buckets: int) -> torch.Tensor:
    """Hashed bucket ids (1..) folded into ``buckets`` rows (0 stays padding): any bucket count works."""
    return torch.where(ids > 0, (ids - 1) % (buckets - 1) + 1, ids)


class SequenceTagger(nn.Module):
    """The full model; ``hf`` is the transformers token-classification model inside."""

    def __init__(self, hf: nn.Module, head: HeadConfig):
        super().__init__()
        self.hf = hf
        self.head = head
        # when set (tagger.runtime), what computes the transformer's hidden states instead of ``hf``
        self.runtime = None
        self.lstm_runtime = None  # likewise for the BiLSTM and its classifier (tagger.runtime.OnnxBiLSTM)
        k = len(head.tags)
        if hf.config.num_labels != k:
            raise ValueError(f"transformer has {hf.config.num_labels} labels, head has {k} tags")
        hidden = hf.config.hidden_size
        self.dropout = nn.Dropout(head.dropout)
        if head.encoder == "bilstm":
            self.casing = nn.Embedding(NUM_CASING, head.casing_dim, padding_idx=0)
            extra = ((head.casing_dim if self.indicator else 0) + (head.casing_dim if head.suffix_buckets else 0)
                     + (hidden if self.with_predicate_vector else 0) + (head.casing_dim if head.lexicon else 0)
                     + (head.unseen_dim if head.bigram_buckets else 0) + (head.unseen_dim if head.word_buckets else 0))
            self.lstm = nn.LSTM(
                hidden + head.casing_dim + extra, head.lstm_hidden, batch_first=True, bidirectional=True
            )
            if self.indicator:
                self.predicate = nn.Embedding(2, head.casing_dim)
            if head.suffix_buckets:
                self.suffix = nn.Embedding(head.suffix_buckets, head.casing_dim, padding_idx=0)
            self.classifier = nn.Linear(2 * head.lstm_hidden, k)
            if head.lexicon:
                self.lexicon = nn.Linear(LEXICON_BITS, head.casing_dim)
                self.register_buffer("lexicon_shifts", torch.arange(LEXICON_BITS), persistent=False)
            if head.bigram_buckets:
                self.bigram = nn.Embedding(head.bigram_buckets, head.unseen_dim, padding_idx=0)
            if head.word_buckets:
                self.word = nn.Embedding(head.word_buckets, head.unseen_dim, padding_idx=0)
        allowed, allowed_start = (word_transitions(len(head.tags)) if head.task == "tags"
                                  else allowed_transitions(head.tags))
        self.register_buffer("allowed", allowed, persistent=False)
        self.register_buffer("allowed_start", allowed_start, persistent=False)
        if head.decoder == "crf":
            self.crf = CRF(k, allowed, allowed_start)
        if head.encoder == "bilstm" and head.unseen_buckets:
            # made last and from its own generator, with the projection at zero: a model whose texts
            # have no [UNK] trains exactly as one without it (same initial weights, same dropout)
            start = torch.randn(head.unseen_buckets, head.unseen_dim, generator=torch.Generator().manual_seed(0))
            start[0] = 0.0
            self.unseen = nn.Embedding(head.unseen_buckets, head.unseen_dim, padding_idx=0, _weight=start)
            self.unseen_proj = nn.utils.skip_init(nn.Linear, head.unseen_dim, hidden, bias=False)
            nn.init.zeros_(self.unseen_proj.weight)

    @property
    def with_predicate_vector(self) -> bool:
        return self.head.task == "frames" and self.head.predicate_vector

    @property
    def indicator(self) -> bool:
        """Whether the BiLSTM gets the predicate's indicator embedding (frames)."""
        return self.head.task == "frames" and self.head.predicate in ("indicator", "both")

    def _segments(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """BERT's segment ids when they carry the predicate (frames, "segment" or "both")."""
        if self.head.task == "frames" and self.head.predicate in ("segment", "both") and "predicate" in batch:
            return {"token_type_ids": batch["predicate"]}
        return {}

    def emissions(self, batch: dict[str, torch.Tensor], offset: int) -> torch.Tensor:
        """Tag scores of the text subwords, left-aligned: (batch, content_len, num_tags)."""
        width = int(batch["lengths"].max())
        segments = self._segments(batch)
        if self.runtime is not None:  # the transformer in another back end (inference only)
            # shape: (batch, seq_len, hidden)
            hidden = self.runtime(batch["input_ids"], batch["attention_mask"], segments.get("token_type_ids"))
            hidden = hidden.to(batch["input_ids"].device)
            if self.head.encoder == "none":  # the token-classification model's own classifier, as in eval
                return self.hf.classifier(hidden[:, offset : offset + width])
        elif self.head.encoder == "none":
            # shape: (batch, seq_len, num_tags)
            logits = self.hf(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **segments).logits
            return logits[:, offset : offset + width]
        else:
            # shape: (batch, seq_len, hidden)
            hidden = self.hf.base_model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **segments
            ).last_hidden_state
        hidden = hidden[:, offset : offset + width]
        if self.head.unseen_buckets and "unseen" in batch:  # what BERT sees as [UNK], told apart
            ids = _fold(batch["unseen"][:, offset : offset + width], self.head.unseen_buckets)
            # bucket 0 (no [UNK]) is a zero vector: a batch without any adds nothing (at inference,
            # skipped: in training DDP wants every parameter used at every step)
            if self.training or bool(ids.any()):
                hidden = hidden + self.unseen_proj(self.unseen(ids))
        parts = [hidden, self.casing(batch["casing"][:, offset : offset + width])]
        if self.with_predicate_vector and "predicate" in batch:
            flags = batch["predicate"][:, offset : offset + width].unsqueeze(-1).to(hidden.dtype)
            # shape: (batch, 1, hidden): the mean of the predicate's subword vectors, on every word
            vector = (hidden * flags).sum(1, keepdim=True) / flags.sum(1, keepdim=True).clamp_min(1.0)
            parts.append(vector.expand(-1, hidden.shape[1], -1))
        if self.indicator:
            parts.append(self.predicate(batch["predicate"][:, offset : offset + width]))
        if self.head.suffix_buckets:
            parts.append(self.suffix(_fold(batch["suffix"][:, offset : offset + width], self.head.suffix_buckets)))
        if self.head.lexicon:
            ids = batch["lexicon"][:, offset : offset + width]
            # shape: (batch, content_len, LEXICON_BITS): the bits as 0/1 features
            bits = (ids.unsqueeze(-1) >> self.lexicon_shifts) & 1
            parts.append(self.lexicon(bits.to(hidden.dtype)))
        if self.head.bigram_buckets:
            parts.append(self.bigram(_fold(batch["bigram"][:, offset : offset + width], self.head.bigram_buckets)))
        if self.head.word_buckets:
            parts.append(self.word(_fold(batch["word"][:, offset : offset + width], self.head.word_buckets)))
        features = self.dropout(torch.cat(parts, dim=-1))
        if self.lstm_runtime is not None:  # the tag scores from ONNX Runtime (inference only: no dropout)
            return self.lstm_runtime(features, batch["lengths"])
        # shape: (batch, content_len, 2 * lstm_hidden)
        out = bilstm(self.lstm, features, batch["lengths"])
        return self.classifier(self.dropout(out))

    def loss(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood (CRF) or cross-entropy (softmax) over real subwords."""
        tags = tags[:, : emissions.shape[1]]
        if self.head.task == "tags" and self.head.decoder == "crf":  # a chain over the words alone
            emissions, mask, tags = heads_only(emissions, mask & (tags >= 0), tags)
            if not mask.any():
                return emissions.sum() * 0.0
        if self.head.decoder == "crf":
            return -self.crf(emissions, tags.clamp(min=0), mask, reduction="token_mean")
        return nn.functional.cross_entropy(emissions[mask], tags[mask])

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> tuple[list[list[int]], torch.Tensor]:
        """Best valid tag path per row and the per-position probability of every tag (on CPU)."""
        if self.head.decoder == "crf":
            return decode_with_marginals(self.crf, emissions, mask)
        probs = emissions.float().softmax(-1).cpu()
        k = probs.shape[-1]
        start = np.where(self.allowed_start.cpu().numpy(), 0.0, FORBIDDEN)
        trans = np.where(self.allowed.cpu().numpy(), 0.0, FORBIDDEN)
        log_probs = probs.clamp_min(1e-9).log().double().numpy()
        paths = viterbi_np(log_probs, mask.sum(1).cpu().numpy(), start, trans, np.zeros(k))
        return paths, probs

    def head_state(self) -> dict[str, torch.Tensor]:
        """Parameters that are not part of the transformers model (saved in an extra file)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("hf.")}


def check_bilstm(lstm: nn.LSTM, caller: str) -> None:
    """Refuse an LSTM other than the head's kind: one layer, batch-first, bidirectional, biases."""
    if lstm.num_layers != 1 or not lstm.bidirectional or lstm.proj_size or not lstm.bias or not lstm.batch_first:
        raise ValueError(f"{caller} takes a one-layer, batch-first, bidirectional LSTM with biases")


def bilstm(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """A one-layer bidirectional ``lstm`` over the right-padded batch ``x`` (batch, width, dim):
    (batch, width, 2 * hidden), the same numbers a packed sequence gives, zero on the padding.

    Not packed: on CPU the backward pass of a packed LSTM fills and adds a buffer the size of the
    whole batch at every time step, a cost that grows with the square of the length (a batch of
    Chinese sentences, 140 characters long, spent a third of its step there). Here the forward
    direction reads the padded rows as they are (their padding comes after what it reads) and the
    backward direction reads each row's real part reversed in place, so the padding again comes last.
    """
    check_bilstm(lstm, "bilstm()")
    if x.device.type == "cpu" and torch.is_autocast_enabled("cpu") and not bf16_lstm():
        # bfloat16 autocast (--bf16) on a CPU whose oneDNN has no bfloat16 LSTM (no AVX-512 BF16
        # or AMX): it fails to build one, so the LSTM alone computes in float32
        with torch.autocast("cpu", enabled=False):
            return bilstm(lstm, x.float(), lengths)
    weights = lstm._flat_weights  # forward direction's 4 tensors, then the backward one's
    width = x.shape[1]
    lengths = lengths.to(x.device).unsqueeze(1)
    pos = torch.arange(width, device=x.device).unsqueeze(0)
    real = pos < lengths
    # per row: position t of the reversed row reads position lengths - 1 - t (padding stays put)
    index = torch.where(real, lengths - 1 - pos, pos).unsqueeze(-1)
    zeros = x.new_zeros(1, x.shape[0], lstm.hidden_size)

    def run(inputs: torch.Tensor, params) -> torch.Tensor:
        return torch.lstm(inputs, (zeros, zeros), params, True, 1, 0.0, lstm.training, False, True)[0]

    forward = run(x, weights[:4])
    backward = run(x.gather(1, index.expand(-1, -1, x.shape[-1])), weights[4:])
    backward = backward.gather(1, index.expand(-1, -1, lstm.hidden_size))
    return torch.cat([forward, backward], dim=-1) * real.unsqueeze(-1)


def bf16_lstm() -> bool:
    """Whether oneDNN computes an LSTM in bfloat16 here (CPUs with AVX-512 BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without the helper
        return False


def word_transitions(k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Transitions of a ``tags`` model: every tag may follow every tag (the CRF learns which are
    likely), but none may follow, precede or start as "O", which the words never carry."""
    allowed = torch.ones(k, k, dtype=torch.bool)
    allowed[0, :] = allowed[:, 0] = False
    start = torch.ones(k, dtype=torch.bool)
    start[0] = False
    if k == 1:  # a model of no tags still decodes (to "O")
        allowed[0, 0] = start[0] = True
    return allowed, start


def heads_only(emissions: torch.Tensor, select: torch.Tensor, *more: torch.Tensor):
    """The positions ``select`` marks, moved to the left of each row: (emissions, new mask, *more).

    A ``tags`` model's CRF runs over words, not subwords: each word's first subword (where its tag
    is) is kept, in order, and the rest dropped.
    """
    counts = select.sum(1)
    width = max(int(counts.max()) if counts.numel() else 0, 1)
    # stable sort puts the selected positions first, in their order
    order = torch.sort((~select).to(torch.int8), dim=1, stable=True).indices[:, :width]
    mask = torch.arange(width, device=select.device)[None, :] < counts[:, None]
    picked = emissions.gather(1, order[..., None].expand(-1, -1, emissions.shape[-1]))
    return (picked, mask, *(m.gather(1, order) for m in more))


def content_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """(batch, width) bool: True on the first ``lengths[i]`` positions of row i."""
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]
