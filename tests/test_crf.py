"""CRF layer against brute-force enumeration of every tag sequence."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tagger.crf import CRF, FORBIDDEN, allowed_transitions, constrained_viterbi

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
O, B_PER, I_PER, B_LOC, I_LOC = range(len(TAGS))
SHAPES = [(3, 1), (3, 4), (4, 3), (5, 2), (5, 4)]


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Like torch.testing.assert_close, without its half-second first-call import."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    assert torch.allclose(actual, expected, rtol=1e-6, atol=1e-9), f"{actual} != {expected}"


def make_crf(num_tags: int, seed: int = 0, constrained: bool = False) -> CRF:
    """A float64 CRF with transition scores large enough to matter."""
    torch.manual_seed(seed)
    masks = allowed_transitions(TAGS[:num_tags]) if constrained else (None, None)
    crf = CRF(num_tags, *masks).double()
    with torch.no_grad():
        for param in crf.parameters():
            param.normal_()
    return crf


def make_batch(num_tags: int, seq_len: int, seed: int = 0):
    """Emissions (4, seq_len, K), random tags with -100 padding, and rows of lengths T..1."""
    gen = torch.Generator().manual_seed(seed)
    emissions = torch.randn(4, seq_len, num_tags, generator=gen, dtype=torch.float64)
    lengths = torch.tensor([seq_len, max(seq_len - 1, 1), 1, seq_len])
    # shape: (4, seq_len)
    mask = torch.arange(seq_len) < lengths.unsqueeze(1)
    tags = torch.randint(num_tags, (4, seq_len), generator=gen).masked_fill(~mask, -100)
    return emissions, tags, mask


def all_paths(num_tags: int, length: int) -> torch.Tensor:
    """(num_tags ** length, length) every tag sequence, by itertools.product."""
    return torch.tensor(list(itertools.product(range(num_tags), repeat=length)))


def path_scores(emissions, paths, start, trans, end) -> torch.Tensor:
    """(num_paths,) score of each path over one unpadded row of emissions (length, K)."""
    steps = torch.arange(paths.size(1))
    return (
        start[paths[:, 0]]
        + emissions[steps, paths].sum(1)
        + trans[paths[:, :-1], paths[:, 1:]].sum(1)
        + end[paths[:, -1]]
    )


def crf_scores(crf: CRF):
    """Start, transition and end scores with forbidden moves penalised, as the CRF sees them."""
    start = crf.start_transitions.masked_fill(~crf.allowed_start, FORBIDDEN)
    trans = crf.transitions.masked_fill(~crf.allowed, FORBIDDEN)
    return start.detach(), trans.detach(), crf.end_transitions.detach()


def is_allowed(path, allowed, allowed_start) -> bool:
    return bool(allowed_start[path[0]]) and all(
        bool(allowed[i, j]) for i, j in zip(path, path[1:])
    )


def brute_force_best(emissions, start, trans, end, allowed=None, allowed_start=None):
    """Argmax path over every (allowed) sequence for one unpadded row."""
    paths = all_paths(emissions.size(1), emissions.size(0))
    if allowed is not None:
        keep = [is_allowed(p.tolist(), allowed, allowed_start) for p in paths]
        paths = paths[torch.tensor(keep)]
    return paths[path_scores(emissions, paths, start, trans, end).argmax()].tolist()


def test_allowed_transitions_forbid_inside_tag_without_its_begin():
    allowed, allowed_start = allowed_transitions(TAGS)
    assert not allowed[O, I_PER]
    assert not allowed[I_LOC, I_PER]
    assert not allowed[B_LOC, I_PER]
    assert not allowed_start[I_PER]
    assert allowed[B_PER, I_PER] and allowed[I_PER, I_PER]


def test_allowed_transitions_allow_everything_else():
    allowed, allowed_start = allowed_transitions(TAGS)
    expected = torch.ones(5, 5, dtype=torch.bool)
    expected[:, I_PER] = torch.tensor([False, True, True, False, False])
    expected[:, I_LOC] = torch.tensor([False, False, False, True, True])
    assert torch.equal(allowed, expected)
    assert allowed_start.tolist() == [True, True, False, True, False]


def test_allowed_transitions_take_label_after_first_dash():
    allowed, _ = allowed_transitions(["O", "B-GEO-LOC", "I-GEO-LOC", "I-LOC"])
    assert allowed[1, 2] and not allowed[1, 3]


@pytest.mark.parametrize("reduction", ["none", "sum", "mean", "token_mean"])
@pytest.mark.parametrize("constrained", [False, True])
def test_forward_equals_brute_force_log_likelihood(reduction, constrained):
    for num_tags, seq_len in SHAPES:
        crf = make_crf(num_tags, seed=seq_len, constrained=constrained)
        emissions, tags, mask = make_batch(num_tags, seq_len, seed=num_tags)
        start, trans, end = crf_scores(crf)
        expected = []
        for row in range(len(emissions)):
            n = int(mask[row].sum())
            em, gold = emissions[row, :n], tags[row, :n].unsqueeze(0)
            log_z = path_scores(em, all_paths(num_tags, n), start, trans, end).logsumexp(0)
            expected.append(path_scores(em, gold, start, trans, end)[0] - log_z)
        expected = torch.stack(expected)
        reduce = {
            "none": lambda x: x,
            "sum": torch.sum,
            "mean": torch.mean,
            "token_mean": lambda x: x.sum() / mask.sum(),
        }[reduction]
        actual = crf(emissions, tags, mask, reduction=reduction)
        assert_close(actual, reduce(expected).detach())


def test_forward_without_mask_uses_every_position():
    crf = make_crf(3)
    emissions, tags, _ = make_batch(3, 4)
    tags = tags.clamp_min(0)
    full = torch.ones(tags.shape, dtype=torch.bool)
    assert_close(crf(emissions, tags), crf(emissions, tags, full))


def test_forward_ignores_tags_and_emissions_under_padding():
    crf = make_crf(4)
    emissions, tags, mask = make_batch(4, 3)
    noisy = emissions.masked_fill(~mask.unsqueeze(2), 1e6)
    zeros = tags.masked_fill(~mask, 0)
    expected = crf(emissions, tags, mask, reduction="none")
    assert_close(crf(noisy, zeros, mask, reduction="none"), expected)


@pytest.mark.parametrize("constrained", [False, True])
def test_decode_equals_brute_force_argmax(constrained):
    for num_tags, seq_len in SHAPES:
        crf = make_crf(num_tags, seed=seq_len, constrained=constrained)
        emissions, _, mask = make_batch(num_tags, seq_len, seed=num_tags)
        masks = (crf.allowed, crf.allowed_start) if constrained else ()
        expected = [
            brute_force_best(emissions[row, : int(n)], *crf_scores(crf), *masks)
            for row, n in enumerate(mask.sum(1))
        ]
        assert crf.decode(emissions, mask) == expected


def test_decode_never_outputs_forbidden_sequence():
    allowed, allowed_start = allowed_transitions(TAGS)
    crf = CRF(len(TAGS), allowed, allowed_start)
    # shape: (3, 6, 5), I-PER favoured everywhere, I-LOC second
    emissions = torch.zeros(3, 6, 5)
    emissions[..., I_PER] = 50.0
    emissions[..., I_LOC] = 40.0
    emissions[1, 2, O] = 100.0
    mask = torch.arange(6) < torch.tensor([[6], [6], [1]])
    paths = crf.decode(emissions, mask)
    assert [len(p) for p in paths] == [6, 6, 1]
    assert all(is_allowed(p, allowed, allowed_start) for p in paths)
    assert paths[0] == [B_PER] + [I_PER] * 5
    assert paths[1] == [B_PER, I_PER, O, B_PER, I_PER, I_PER]


def test_decode_handles_single_timestep():
    crf = make_crf(3)
    emissions = torch.randn(2, 1, 3, dtype=torch.float64)
    expected = [brute_force_best(em, *crf_scores(crf)) for em in emissions]
    assert crf.decode(emissions) == expected


def test_marginals_equal_brute_force():
    for num_tags, seq_len in SHAPES:
        crf = make_crf(num_tags, seed=seq_len, constrained=True)
        emissions, _, mask = make_batch(num_tags, seq_len, seed=num_tags)
        expected = torch.zeros(emissions.shape, dtype=torch.float64)
        for row, n in enumerate(mask.sum(1).tolist()):
            paths = all_paths(num_tags, n)
            probs = path_scores(emissions[row, :n], paths, *crf_scores(crf)).softmax(0)
            for t in range(n):
                expected[row, t].index_add_(0, paths[:, t], probs)
        assert_close(crf.marginals(emissions, mask).detach(), expected)


def test_marginals_sum_to_one_on_and_zero_under_padding():
    crf = make_crf(5, constrained=True)
    emissions, _, mask = make_batch(5, 4)
    probs = crf.marginals(emissions, mask)
    assert_close(probs.sum(2)[mask], torch.ones(int(mask.sum()), dtype=probs.dtype))
    assert (probs[~mask] == 0).all()


def test_constrained_viterbi_equals_brute_force_over_allowed_sequences():
    allowed, allowed_start = allowed_transitions(TAGS)
    zeros = torch.zeros(5, dtype=torch.float64)
    for seq_len in (1, 2, 4):
        emissions, _, mask = make_batch(5, seq_len, seed=seq_len)
        log_probs = emissions.mul(3).log_softmax(2)
        expected = [
            brute_force_best(
                log_probs[row, : int(n)], zeros, zeros.expand(5, 5), zeros, allowed, allowed_start
            )
            for row, n in enumerate(mask.sum(1))
        ]
        assert constrained_viterbi(log_probs, mask, allowed, allowed_start) == expected


def test_gradients_are_finite_even_for_a_forbidden_gold_path():
    crf = CRF(len(TAGS), *allowed_transitions(TAGS))
    emissions, _, mask = make_batch(5, 4)
    emissions = emissions.float().requires_grad_()
    # shape: (4, 4), row 0 starts with I-PER, row 1 has O -> I-LOC
    tags = torch.tensor([[I_PER, I_PER, O, O], [O, I_LOC, O, O], [O, 0, 0, 0], [B_PER] * 4])
    loss = -crf(emissions, tags.masked_fill(~mask, -100), mask)
    loss.backward()
    assert torch.isfinite(loss)
    for grad in (crf.transitions.grad, crf.start_transitions.grad, emissions.grad):
        assert grad is not None and torch.isfinite(grad).all()
    assert crf.transitions.grad.abs().sum() > 0


def test_half_emissions_are_computed_in_float32():
    crf = CRF(3)
    emissions, tags, mask = make_batch(3, 4)
    half = emissions.to(torch.bfloat16)
    llh = crf(half, tags, mask, reduction="none")
    assert llh.dtype == torch.float32
    assert_close(llh, crf(half.float(), tags, mask, reduction="none"))
    assert crf.marginals(half, mask).dtype == torch.bfloat16


def test_masks_are_saved_in_state_dict():
    crf = CRF(len(TAGS), *allowed_transitions(TAGS))
    fresh = CRF(len(TAGS))
    fresh.load_state_dict(crf.state_dict())
    assert torch.equal(fresh.allowed, crf.allowed)
    assert torch.equal(fresh.allowed_start, crf.allowed_start)


def _call(name):
    crf = CRF(3)
    em = torch.zeros(2, 4, 3)
    tags = torch.zeros(2, 4, dtype=torch.long)
    gap = torch.tensor([[True] * 4, [True, False, True, False]])
    return {
        "2 dims": lambda: crf.decode(em[0]),
        "last dim": lambda: crf(torch.zeros(2, 4, 7), tags),
        "first step": lambda: crf(em, tags, torch.zeros(2, 4, dtype=torch.bool)),
        "mask shape": lambda: crf.marginals(em, torch.ones(2, 3, dtype=torch.bool)),
        "tags shape": lambda: crf(em, tags[:, :3]),
        "gap": lambda: crf(em, tags, gap),
        "tag range": lambda: crf(em, tags.masked_fill(tags == 0, -100)),
        "reduction": lambda: crf(em, tags, reduction="avg"),
        "allowed": lambda: CRF(3, torch.ones(3, 2, dtype=torch.bool)),
        "viterbi allowed": lambda: constrained_viterbi(
            em, tags == 0, torch.ones(3, 3), torch.ones(2)
        ),
    }[name]()


@pytest.mark.parametrize(
    "name, message",
    [
        ("2 dims", "emissions must have 3 dims (batch, seq_len, num_tags), got 2"),
        ("last dim", "expected last dimension of emissions is 3, got 7"),
        ("first step", "mask of the first timestep must all be on"),
        ("mask shape", "emissions and mask must match, got (2, 4) and (2, 3)"),
        ("tags shape", "emissions and tags must match, got (2, 4) and (2, 3)"),
        ("gap", "mask must be left-aligned (no on after an off), got a gap in row 1"),
        ("tag range", "tags must be in [0, 3) where mask is on, got -100"),
        ("reduction", "reduction must be one of ('none', 'sum', 'mean', 'token_mean'), got 'avg'"),
        ("allowed", "allowed must have shape (3, 3), got (3, 2)"),
        ("viterbi allowed", "allowed_start must have shape (3,), got (2,)"),
    ],
)
def test_bad_shapes_raise_value_error_with_expected_and_actual(name, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        _call(name)


@settings(max_examples=60, deadline=None)
@given(
    num_tags=st.integers(2, 4),
    lengths=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    constrained=st.booleans(),
    data=st.data(),
)
def test_decoded_path_scores_as_high_as_brute_force(num_tags, lengths, constrained, data):
    seq_len = max(lengths)
    size = len(lengths) * seq_len * num_tags
    values = st.floats(-5, 5, allow_nan=False, width=32)
    flat = data.draw(st.lists(values, min_size=size, max_size=size))
    emissions = torch.tensor(flat, dtype=torch.float64).view(len(lengths), seq_len, num_tags)
    mask = torch.arange(seq_len) < torch.tensor(lengths).unsqueeze(1)
    crf = make_crf(num_tags, seed=seq_len, constrained=constrained)
    start, trans, end = crf_scores(crf)
    for row, path in enumerate(crf.decode(emissions, mask)):
        n = lengths[row]
        assert len(path) == n
        em = emissions[row, :n]
        best = path_scores(em, all_paths(num_tags, n), start, trans, end).max()
        got = path_scores(em, torch.tensor([path]), start, trans, end)[0]
        assert_close(got, best)


# --------------------------------------------------------------- the NumPy inference path


def _random_case(seed: int, batch: int = 4, steps: int = 7, k: int = 5):
    gen = torch.Generator().manual_seed(seed)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"][:k]
    allowed, allowed_start = allowed_transitions(tags)
    crf = CRF(k, allowed, allowed_start)
    with torch.no_grad():
        crf.transitions.normal_(generator=gen)
        crf.start_transitions.normal_(generator=gen)
        crf.end_transitions.normal_(generator=gen)
    emissions = torch.randn(batch, steps, k, generator=gen) * 3
    lengths = torch.tensor([steps, 1, max(1, steps - 3), steps - 1])[:batch]
    mask = torch.arange(steps)[None, :] < lengths[:, None]
    return crf, emissions, mask


@pytest.mark.parametrize("steps", [7, 45])  # 45: the messages rescaled on the way (every 8 positions)
@pytest.mark.parametrize("seed", range(20))
def test_numpy_decode_and_marginals_match_the_torch_reference(seed, steps):
    from tagger.crf import decode_with_marginals

    crf, emissions, mask = _random_case(seed, steps=steps)
    paths, probs = decode_with_marginals(crf, emissions, mask)
    assert paths == crf.decode(emissions, mask)
    # in float64: over 45 positions torch's own float32 recursion drifts by 6e-5
    reference = crf.double().marginals(emissions.double(), mask)
    assert torch.allclose(probs.double(), reference, atol=1e-6)


def test_numpy_viterbi_matches_constrained_viterbi():
    import numpy as np

    from tagger.crf import viterbi_np

    _, emissions, mask = _random_case(3)
    allowed, allowed_start = allowed_transitions(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    log_probs = emissions.log_softmax(-1)
    expected = constrained_viterbi(log_probs, mask, allowed, allowed_start)
    got = viterbi_np(log_probs.double().numpy(), mask.sum(1).numpy(), np.where(allowed_start.numpy(), 0.0, FORBIDDEN),
                     np.where(allowed.numpy(), 0.0, FORBIDDEN), np.zeros(5))
    assert got == expected


@pytest.mark.parametrize("scale", [1.0, 100.0, 400.0])
def test_scaled_marginals_match_the_log_space_ones_and_fall_back_when_exp_overflows(scale):
    from tagger.crf import _marginals_log, _marginals_scaled, marginals_np

    crf, emissions, mask = _random_case(7)
    with torch.no_grad():
        crf.transitions.mul_(scale)
    _, start, trans, end = (t.detach().double().numpy() for t in crf._scores(emissions * scale))
    em, lengths = (emissions * scale).double().numpy(), mask.sum(1).numpy()
    probs = marginals_np(em, lengths, start, trans, end)
    assert np.isfinite(probs).all()
    assert np.allclose(probs, _marginals_log(em, lengths, start, trans, end), atol=1e-6)
    if scale == 1.0:  # the fast path itself, not its fallback; the float32 reference only here
        assert np.allclose(probs, crf.marginals(emissions, mask).detach().double().numpy(), atol=1e-5)
        assert np.allclose(_marginals_scaled(em, lengths, start, trans, end), probs, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.lists(st.integers(1, 70), min_size=1, max_size=5), st.floats(0.1, 30.0))
def test_numpy_crf_inference_matches_the_log_space_recursions_whatever_the_lengths(seed, lengths, scale):
    """Rows of any lengths in one batch, in any order, scores of any spread: the fast Viterbi
    is torch's, the rescaled marginals are the log-space ones (or fall back to them)."""
    import numpy as np

    from tagger.crf import _marginals_log, marginals_np, viterbi_np

    k = 5
    gen = torch.Generator().manual_seed(seed)
    allowed, allowed_start = allowed_transitions(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    crf = CRF(k, allowed, allowed_start)
    with torch.no_grad():
        for p in (crf.transitions, crf.start_transitions, crf.end_transitions):
            p.normal_(generator=gen)
    steps = max(lengths)
    emissions = torch.randn(len(lengths), steps, k, generator=gen, dtype=torch.float64) * scale
    mask = torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None]
    _, start, trans, end = (t.detach().double().numpy() for t in crf._scores(emissions))
    em = emissions.numpy()
    assert viterbi_np(em, np.array(lengths), start, trans, end) == crf.decode(emissions, mask)
    probs = marginals_np(em, np.array(lengths), start, trans, end)
    assert np.allclose(probs, _marginals_log(em, np.array(lengths), start, trans, end), atol=1e-6)
