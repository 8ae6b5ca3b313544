"""Training on two CPU processes (torchrun, gloo) follows the loss curve of one process with the
whole batch, and rank 0 alone saves (tagger/distributed.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tagger.formats import write_jsonl
from tests.conftest import VOCAB, make_corpus

ROOT = Path(__file__).resolve().parents[1]
# no dropout anywhere: the two runs then differ only by the order of floating-point sums
FLAGS = ["--epochs", "3", "--batch-size", "8", "--lr", "3e-3", "--head-lr", "1e-2", "--max-length", "64",
         "--lstm-hidden", "16", "--dropout", "0", "--seed", "5"]


@pytest.fixture(scope="module")
def still_base(tmp_path_factory) -> str:
    """The tiny BERT of conftest without dropout."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-bert-no-dropout")
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(VOCAB)}, model_max_length=64)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(command: list[str], out: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "seqlab.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("decoder", ["crf", "softmax"])
def test_two_gloo_processes_follow_one_process_with_the_whole_batch(still_base, tmp_path, decoder):
    data = tmp_path / "train.jsonl"
    write_jsonl(make_corpus(60, seed=3), data)  # 60 sentences: the last batch of 4 splits 2 + 2
    common = ["-m", "tagger", "train", "--train", str(data), "--base-model", still_base, "--decoder", decoder, *FLAGS]
    one = _train([sys.executable, *common, "--out", str(tmp_path / "one")], tmp_path / "one")
    two = _train([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr",
                  "127.0.0.1", "--master-port", str(_free_port()), *common, "--out", str(tmp_path / "two")],
                 tmp_path / "two")
    assert one["train_config"]["world_size"] == 1 and two["train_config"]["world_size"] == 2
    losses = [[row["loss"] for row in run["history"]] for run in (one, two)]
    assert len(losses[0]) == 3 and losses[0] == pytest.approx(losses[1], rel=2e-3, abs=2e-4), losses
    assert losses[1][-1] < losses[1][0]  # and it learned


def test_a_short_batch_leaves_no_process_without_a_step(still_base, tmp_path):
    """9 sentences in batches of 8 on 2 processes: the last batch of 1 is one process's; the other
    steps with weight 0, so neither waits for the other forever."""
    data = tmp_path / "train.jsonl"
    write_jsonl(make_corpus(9, seed=4), data)
    out = tmp_path / "model"
    meta = _train([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr",
                   "127.0.0.1", "--master-port", str(_free_port()), "-m", "tagger", "train", "--train", str(data),
                   "--base-model", still_base, *FLAGS[:2], "--batch-size", "8", "--max-length", "64",
                   "--lstm-hidden", "16", "--out", str(out)], out)
    assert meta["train_config"]["world_size"] == 2 and len(meta["history"]) == 3
