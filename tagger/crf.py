"""Linear-chain CRF layer: forward algorithm, Viterbi, marginals, allowed-transition masks.

Batch-first throughout. Forbidden moves score ``FORBIDDEN`` (a large negative constant,
not ``-inf``) so that log-sums and their gradients never become NaN; any path that uses a
forbidden move loses to an allowed one as long as scores at one position differ by less
than ``-FORBIDDEN``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

FORBIDDEN = -1e4
REDUCTIONS = ("none", "sum", "mean", "token_mean")


def allowed_transitions(tags: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Allowed moves between IOB2 tags as ``(allowed, allowed_start)`` bool masks.

    ``allowed[i, j]`` says tag j may follow tag i; ``allowed_start[j]`` says tag j may start a
    sequence. ``I-X`` may only follow ``B-X`` or ``I-X`` and may not start a sequence; everything
    else is allowed. The label is the text after the first ``-``.
    """
    prefixes = [tag.split("-", 1)[0] for tag in tags]
    labels = [tag.split("-", 1)[1] if "-" in tag else None for tag in tags]
    size = len(tags)
    # shape: (num_tags, num_tags)
    allowed = torch.ones(size, size, dtype=torch.bool)
    # shape: (num_tags,)
    allowed_start = torch.ones(size, dtype=torch.bool)
    for j in range(size):
        if prefixes[j] != "I":
            continue
        allowed_start[j] = False
        for i in range(size):
            allowed[i, j] = prefixes[i] in ("B", "I") and labels[i] == labels[j]
    return allowed, allowed_start


class CRF(nn.Module):
    """Linear-chain CRF over ``num_tags`` tags with optional allowed-transition masks."""

    def __init__(
        self,
        num_tags: int,
        allowed: torch.Tensor | None = None,
        allowed_start: torch.Tensor | None = None,
    ) -> None:
        if num_tags <= 0:
            raise ValueError(f"num_tags must be positive, got {num_tags}")
        super().__init__()
        self.num_tags = num_tags
        self.start_transitions = nn.Parameter(torch.empty(num_tags))
        self.end_transitions = nn.Parameter(torch.empty(num_tags))
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))
        if allowed is None:
            allowed = torch.ones(num_tags, num_tags, dtype=torch.bool)
        if allowed_start is None:
            allowed_start = torch.ones(num_tags, dtype=torch.bool)
        _check_allowed(allowed, allowed_start, num_tags)
        self.register_buffer("allowed", allowed.detach().clone().bool(), persistent=True)
        self.register_buffer(
            "allowed_start", allowed_start.detach().clone().bool(), persistent=True
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise the transition scores uniformly in (-0.1, 0.1), like pytorch-crf."""
        nn.init.uniform_(self.start_transitions, -0.1, 0.1)
        nn.init.uniform_(self.end_transitions, -0.1, 0.1)
        nn.init.uniform_(self.transitions, -0.1, 0.1)

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}"

    def forward(
        self,
        emissions: torch.Tensor,
        tags: torch.Tensor,
        mask: torch.Tensor | None = None,
        reduction: str = "mean",
    ) -> torch.Tensor:
        """Log-likelihood of ``tags`` given ``emissions``; negate it for a loss.

        Args:
            emissions: (batch, seq_len, num_tags) scores.
            tags: (batch, seq_len) tag ids; values where ``mask`` is off are ignored (may be -100).
            mask: (batch, seq_len) bool, left-aligned; ``None`` means every position is on.
            reduction: ``none`` (batch,), ``sum``, ``mean`` over the batch, or ``token_mean``
                (sum divided by the number of positions that are on).

        Returns:
            The log-likelihood, in float32 for half/bfloat16 emissions, else in their dtype.
        """
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        mask = _check_inputs(emissions, self.num_tags, mask)
        tags = _check_tags(tags, mask, self.num_tags)
        emissions, start, trans, end = self._scores(emissions)
        # shape: (batch,)
        gold = _path_score(emissions, tags, mask, start, trans, end)
        # shape: (batch,)
        log_partition = torch.logsumexp(_alphas(emissions, mask, start, trans)[:, -1] + end, 1)
        # shape: (batch,)
        llh = gold - log_partition
        if reduction == "none":
            return llh
        if reduction == "sum":
            return llh.sum()
        if reduction == "mean":
            return llh.mean()
        return llh.sum() / mask.sum()

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor | None = None) -> list[list[int]]:
        """Viterbi best tag path per sequence, each as long as its row of ``mask``."""
        mask = _check_inputs(emissions, self.num_tags, mask)
        return _viterbi(*self._scores(emissions), mask)

    def marginals(self, emissions: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, seq_len, num_tags) posterior probability of each tag; 0 where mask is off."""
        mask = _check_inputs(emissions, self.num_tags, mask)
        out_dtype = emissions.dtype
        emissions, start, trans, end = self._scores(emissions)
        # shape: (batch, seq_len, num_tags)
        alphas = _alphas(emissions, mask, start, trans)
        # shape: (batch, seq_len, num_tags)
        betas = _betas(emissions, mask, trans, end)
        # shape: (batch, 1, 1)
        log_partition = torch.logsumexp(alphas[:, -1] + end, 1)[:, None, None]
        # shape: (batch, seq_len, num_tags)
        probs = (alphas + betas - log_partition).exp()
        return probs.masked_fill(~mask.unsqueeze(2), 0.0).to(out_dtype)

    def _scores(
        self, emissions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Emissions and start/transition/end scores (forbidden moves penalised) in one dtype."""
        dtype = _compute_dtype(emissions)
        start = self.start_transitions.masked_fill(~self.allowed_start, FORBIDDEN)
        trans = self.transitions.masked_fill(~self.allowed, FORBIDDEN)
        return (
            emissions.to(dtype),
            start.to(dtype),
            trans.to(dtype),
            self.end_transitions.to(dtype),
        )


def constrained_viterbi(
    log_probs: torch.Tensor,
    mask: torch.Tensor,
    allowed: torch.Tensor,
    allowed_start: torch.Tensor,
) -> list[list[int]]:
    """Best tag path per sequence by summed ``log_probs`` under allowed moves, no learned scores."""
    num_tags = log_probs.size(-1)
    _check_allowed(allowed, allowed_start, num_tags)
    mask = _check_inputs(log_probs, num_tags, mask)
    dtype, device = _compute_dtype(log_probs), log_probs.device
    zeros = torch.zeros(num_tags, dtype=dtype, device=device)
    # shape: (num_tags,)
    start = zeros.masked_fill(~allowed_start.to(device).bool(), FORBIDDEN)
    # shape: (num_tags, num_tags)
    trans = zeros.expand(num_tags, num_tags).masked_fill(~allowed.to(device).bool(), FORBIDDEN)
    with torch.no_grad():
        return _viterbi(log_probs.to(dtype), start, trans, zeros, mask)


def _compute_dtype(emissions: torch.Tensor) -> torch.dtype:
    """float32 for half/bfloat16 emissions (log-sums need the range), else their own dtype."""
    if emissions.dtype in (torch.float16, torch.bfloat16):
        return torch.float32
    return emissions.dtype


def _check_allowed(allowed: torch.Tensor, allowed_start: torch.Tensor, num_tags: int) -> None:
    if tuple(allowed.shape) != (num_tags, num_tags):
        raise ValueError(
            f"allowed must have shape ({num_tags}, {num_tags}), got {tuple(allowed.shape)}"
        )
    if tuple(allowed_start.shape) != (num_tags,):
        raise ValueError(
            f"allowed_start must have shape ({num_tags},), got {tuple(allowed_start.shape)}"
        )


def _check_inputs(
    emissions: torch.Tensor, num_tags: int, mask: torch.Tensor | None
) -> torch.Tensor:
    """Validate emissions and mask shapes; return the mask as bool (all on when ``None``)."""
    if emissions.dim() != 3:
        raise ValueError(
            f"emissions must have 3 dims (batch, seq_len, num_tags), got {emissions.dim()}"
        )
    if emissions.size(2) != num_tags:
        raise ValueError(
            f"expected last dimension of emissions is {num_tags}, got {emissions.size(2)}"
        )
    if emissions.size(1) == 0:
        raise ValueError("emissions must have at least one timestep, got seq_len 0")
    if mask is None:
        return emissions.new_ones(emissions.shape[:2], dtype=torch.bool)
    if mask.shape != emissions.shape[:2]:
        raise ValueError(
            "the first two dimensions of emissions and mask must match, "
            f"got {tuple(emissions.shape[:2])} and {tuple(mask.shape)}"
        )
    mask = mask.bool()
    if not mask[:, 0].all():
        raise ValueError("mask of the first timestep must all be on")
    # shape: (batch, seq_len - 1)
    gaps = mask[:, 1:] & ~mask[:, :-1]
    if gaps.any():
        row = int(gaps.any(1).nonzero()[0])
        raise ValueError(f"mask must be left-aligned (no on after an off), got a gap in row {row}")
    return mask


def _check_tags(tags: torch.Tensor, mask: torch.Tensor, num_tags: int) -> torch.Tensor:
    """Validate tags against the mask; return them as long with padded positions set to 0."""
    if tags.shape != mask.shape:
        raise ValueError(
            "the first two dimensions of emissions and tags must match, "
            f"got {tuple(mask.shape)} and {tuple(tags.shape)}"
        )
    # shape: (batch, seq_len)
    tags = tags.long().masked_fill(~mask, 0)
    bad = (tags < 0) | (tags >= num_tags)
    if bad.any():
        raise ValueError(
            f"tags must be in [0, {num_tags}) where mask is on, got {int(tags[bad][0])}"
        )
    return tags


def _path_score(
    emissions: torch.Tensor,
    tags: torch.Tensor,
    mask: torch.Tensor,
    start: torch.Tensor,
    trans: torch.Tensor,
    end: torch.Tensor,
) -> torch.Tensor:
    """(batch,) score of the given tag paths; positions where mask is off add nothing."""
    zero = emissions.new_zeros(())
    # shape: (batch, seq_len)
    emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)
    # shape: (batch, seq_len - 1)
    moves = trans[tags[:, :-1], tags[:, 1:]]
    # shape: (batch,)
    last = tags.gather(1, mask.sum(1, keepdim=True) - 1).squeeze(1)
    return (
        start[tags[:, 0]]
        + torch.where(mask, emit, zero).sum(1)
        + torch.where(mask[:, 1:], moves, zero).sum(1)
        + end[last]
    )


def _alphas(
    emissions: torch.Tensor, mask: torch.Tensor, start: torch.Tensor, trans: torch.Tensor
) -> torch.Tensor:
    """(batch, seq_len, num_tags) log-sum of prefixes ending in each tag; carried over padding."""
    # shape: (batch, seq_len, num_tags, num_tags), [b, t, i, j] = move i -> j then emit j at t
    step = trans + emissions.unsqueeze(2)
    # shape: (batch, num_tags)
    alpha = start + emissions[:, 0]
    alphas = [alpha]
    for t in range(1, emissions.size(1)):
        # shape: (batch, num_tags)
        nxt = torch.logsumexp(alpha.unsqueeze(2) + step[:, t], dim=1)
        alpha = torch.where(mask[:, t].unsqueeze(1), nxt, alpha)
        alphas.append(alpha)
    return torch.stack(alphas, 1)


def _betas(
    emissions: torch.Tensor, mask: torch.Tensor, trans: torch.Tensor, end: torch.Tensor
) -> torch.Tensor:
    """(batch, seq_len, num_tags) log-sum of suffixes after each tag, end score included."""
    # shape: (batch, num_tags)
    beta = end.expand(emissions.size(0), -1)
    betas = [beta]
    for t in range(emissions.size(1) - 2, -1, -1):
        # shape: (batch, num_tags), from tag i at t over tag j at t + 1
        nxt = torch.logsumexp(trans + (emissions[:, t + 1] + beta).unsqueeze(1), dim=2)
        beta = torch.where(mask[:, t + 1].unsqueeze(1), nxt, beta)
        betas.append(beta)
    return torch.stack(betas[::-1], 1)


def _viterbi(
    emissions: torch.Tensor,
    start: torch.Tensor,
    trans: torch.Tensor,
    end: torch.Tensor,
    mask: torch.Tensor,
) -> list[list[int]]:
    """Best path per row, vectorised over the batch; padding steps back-track as identity."""
    batch, seq_len, num_tags = emissions.shape
    # shape: (batch, num_tags)
    identity = torch.arange(num_tags, device=emissions.device).expand(batch, num_tags)
    # shape: (batch, num_tags)
    score = start + emissions[:, 0]
    history = []
    for t in range(1, seq_len):
        # shape: (batch, num_tags), best previous tag for each current tag
        best, prev = (score.unsqueeze(2) + trans).max(dim=1)
        on = mask[:, t].unsqueeze(1)
        score = torch.where(on, best + emissions[:, t], score)
        history.append(torch.where(on, prev, identity))
    # shape: (batch,)
    tag = (score + end).argmax(1)
    path = [tag]
    for prev in reversed(history):
        tag = prev.gather(1, tag.unsqueeze(1)).squeeze(1)
        path.append(tag)
    # shape: (batch, seq_len)
    paths = torch.stack(path[::-1], 1).tolist()
    return [row[:n] for row, n in zip(paths, mask.sum(1).tolist())]


# ----------------------------------------------------------------------------- inference on CPU
# At inference the sequences are short and the tag set small, so each time step is a handful of
# (batch, K, K) operations: NumPy does each in about a microsecond where a torch op costs ten.
# These give the same paths and marginals as decode() and marginals() (tested against them).


def decode_with_marginals(crf: CRF, emissions: torch.Tensor, mask: torch.Tensor) -> tuple[list[list[int]], torch.Tensor]:
    """Viterbi paths and posterior marginals of ``crf`` in NumPy: (paths, (B, T, K) probs)."""
    with torch.no_grad():
        _, start, trans, end = crf._scores(emissions)
        scores = [t.detach().float().cpu().numpy().astype(np.float64) for t in (start, trans, end)]
    em = emissions.detach().float().cpu().numpy().astype(np.float64)
    lengths = mask.sum(1).cpu().numpy()
    paths = viterbi_np(em, lengths, *scores)
    probs = marginals_np(em, lengths, *scores)
    return paths, torch.from_numpy(probs.astype(np.float32))


def viterbi_np(em: np.ndarray, lengths: np.ndarray, start: np.ndarray, trans: np.ndarray,
               end: np.ndarray) -> list[list[int]]:
    """Best path per row of ``em`` (B, T, K) over its first ``lengths[b]`` positions.

    Four array operations per position, into buffers made once; each row's final scores are
    read at its own last position, so the padding needs no step of its own (a paragraph's
    Viterbi 0.45 ms instead of 0.6; a batch of 32 SRL rows, 41 tags, as fast as before)."""
    batch, steps, k = em.shape
    lengths = np.asarray(lengths)
    # shape: (steps, batch, num_tags): the best score of a path that ends in each tag at each step
    best = np.empty((steps, batch, k))
    best[0] = start[None, :] + em[:, 0]
    by_step = np.ascontiguousarray(em.transpose(1, 0, 2))
    back = np.empty((max(steps - 1, 0), batch, k), dtype=np.intp)
    # shape: (batch, num_tags, num_tags): previous tag i -> tag j
    cand = np.empty((batch, k, k))
    for t in range(1, steps):
        np.add(best[t - 1][:, :, None], trans, out=cand)
        cand.argmax(1, out=back[t - 1])
        cand.max(1, out=best[t])
        best[t] += by_step[t]
    last = np.maximum(lengths - 1, 0)
    final = (best[last, np.arange(batch)] + end[None, :]).argmax(1)
    paths = []
    for b in range(batch):
        tag = int(final[b])
        path, pointers = [tag], back[:, b]
        for t in range(int(last[b]) - 1, -1, -1):
            tag = int(pointers[t, tag])
            path.append(tag)
        paths.append(path[::-1])
    return paths


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    top = x.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(x - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def marginals_np(em: np.ndarray, lengths: np.ndarray, start: np.ndarray, trans: np.ndarray,
                 end: np.ndarray) -> np.ndarray:
    """(B, T, K) posterior probability of each tag; 0 on padding.

    Forward-backward in probability space, the messages rescaled every few positions (a matrix
    product per position instead of a log-sum-exp): the marginal at a position is the normalised
    product of its two messages, so the scales cancel. Where the exponentials under- or
    overflow (scores hundreds apart) it falls back to the log-space recursion.
    """
    with np.errstate(all="ignore"):
        probs = _marginals_scaled(em, lengths, start, trans, end)
    if np.isfinite(probs).all():
        return probs
    return _marginals_log(em, lengths, start, trans, end)


RESCALE_EVERY = 8  # positions between rescalings: the messages can shrink or grow by at most
# a factor of num_tags at a position, so 8 stay far from float64's limits; a row that does not
# (scores hundreds apart) comes out NaN and takes the log-space recursion


def _marginals_scaled(em, lengths, start, trans, end) -> np.ndarray:
    """The forward and backward messages in one loop: the backward recursion over each row's
    real part reversed in place is the forward one with the moves transposed, so both advance
    by one stacked matrix product and one product with the gains per position (a paragraph's
    marginals 0.35 ms instead of 1.0)."""
    batch, steps, k = em.shape
    lengths = np.asarray(lengths)
    pos = np.arange(steps)[None, :]
    active = pos < lengths[:, None]
    # shape: (batch, steps): position t of a reversed row reads position lengths - 1 - t
    reverse = np.where(active, lengths[:, None] - 1 - pos, pos)[:, :, None]
    gain = np.exp(em - em.max(-1, keepdims=True))
    move = np.exp(trans - trans.max())
    # shape: (steps, 2, batch, num_tags): the forward direction's gains, then the backward one's
    gains = np.ascontiguousarray(np.stack([gain, np.take_along_axis(gain, reverse, 1)]).transpose(2, 0, 1, 3))
    # shape: (2, num_tags, num_tags): one matrix product per direction, over the whole batch
    moves = np.stack([move, move.T])
    # ``inbound``: a message before the gain of its position (the backward one is beta itself);
    # ``message``: after it. shape: (steps, 2, batch, num_tags)
    inbound = np.empty((steps, 2, batch, k))
    message = np.empty((steps, 2, batch, k))
    inbound[0, 0] = np.exp(start - start.max())[None, :]
    inbound[0, 1] = np.exp(end - end.max())[None, :]
    np.multiply(inbound[0], gains[0], out=message[0])
    for t in range(1, steps):
        np.matmul(message[t - 1], moves, out=inbound[t])
        np.multiply(inbound[t], gains[t], out=message[t])
        if t % RESCALE_EVERY == 0:  # a scale per row and direction cancels in each position's normalisation
            message[t] /= message[t].sum(-1, keepdims=True)
    # shape: (batch, steps, num_tags)
    alpha = message[:, 0].transpose(1, 0, 2)
    beta = np.take_along_axis(inbound[:, 1].transpose(1, 0, 2), reverse, 1)
    probs = alpha * beta
    probs /= probs.sum(-1, keepdims=True)
    return np.where(active[:, :, None], probs, 0.0)


def _marginals_log(em, lengths, start, trans, end) -> np.ndarray:
    """The same marginals by the log-space recursion (slower, never overflows)."""
    batch, steps, k = em.shape
    active = np.arange(steps)[None, :] < lengths[:, None]
    alpha = np.empty_like(em)
    alpha[:, 0] = start[None, :] + em[:, 0]
    for t in range(1, steps):
        nxt = _logsumexp(alpha[:, t - 1, :, None] + trans[None], 1) + em[:, t]
        alpha[:, t] = np.where(active[:, t, None], nxt, alpha[:, t - 1])
    beta = np.empty_like(em)
    # the last real position of each row ends the sequence
    beta[:, steps - 1] = end[None, :]
    for t in range(steps - 2, -1, -1):
        nxt = _logsumexp(trans[None] + (em[:, t + 1] + beta[:, t + 1])[:, None, :], 2)
        beta[:, t] = np.where(active[:, t + 1, None], nxt, end[None, :])
    log_z = _logsumexp(alpha[np.arange(batch), np.maximum(lengths - 1, 0)] + end[None, :], 1)
    probs = np.exp(alpha + beta - log_z[:, None, None])
    return np.where(active[:, :, None], probs, 0.0)
