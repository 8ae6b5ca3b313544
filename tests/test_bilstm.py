"""tagger.model.bilstm: the padded BiLSTM gives what a packed sequence gives, values and gradients."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from tagger.model import bilstm


def packed(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The reference: torch's packed sequence, padded back to the batch's width."""
    seq = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, _ = lstm(seq)
    return nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]


@settings(max_examples=25, deadline=None)
@given(lengths=st.lists(st.integers(1, 9), min_size=1, max_size=5), extra=st.integers(0, 3),
       seed=st.integers(0, 2**16))
def test_bilstm_matches_packed_sequence(lengths, extra, seed):
    torch.manual_seed(seed)
    lstm = nn.LSTM(6, 4, batch_first=True, bidirectional=True).double()
    width = max(lengths) + extra  # the batch may be wider than its longest row
    x = torch.randn(len(lengths), width, 6, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor(lengths)
    weights = torch.randn(len(lengths), width, 8, dtype=torch.float64)

    ours = bilstm(lstm, x, lengths)
    (ours * weights).sum().backward()
    ours_grads = [x.grad.clone()] + [p.grad.clone() for p in lstm.parameters()]
    x.grad = None
    lstm.zero_grad()
    theirs = packed(lstm, x, lengths)
    (theirs * weights).sum().backward()
    theirs_grads = [x.grad] + [p.grad for p in lstm.parameters()]

    assert torch.allclose(ours, theirs, atol=1e-10)
    assert (ours[torch.arange(width)[None, :] >= lengths[:, None]] == 0).all()  # padding is zero
    for a, b in zip(ours_grads, theirs_grads):
        assert torch.allclose(a, b, atol=1e-10)


def test_bilstm_refuses_what_it_does_not_compute():
    with pytest.raises(ValueError, match="one-layer"):
        bilstm(nn.LSTM(3, 2, num_layers=2, batch_first=True, bidirectional=True), torch.zeros(1, 2, 3),
               torch.tensor([2]))
    with pytest.raises(ValueError, match="bidirectional"):
        bilstm(nn.LSTM(3, 2, batch_first=True), torch.zeros(1, 2, 3), torch.tensor([2]))
