"""Training on several processes: PyTorch DistributedDataParallel, launched by ``torchrun``.

    torchrun --nproc-per-node 2 -m tagger train --train train.txt --out models/ner    # one machine
    torchrun --nnodes 2 --node-rank R --master-addr HOST --nproc-per-node 4 -m tagger train ...

``torchrun`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; :func:`world` reads them and joins
the process group (gloo on CPU, NCCL on GPUs). Every process builds the same global batches from
the same seed and trains on its share of each (``--batch-size`` is the global batch); gradients
are averaged by DDP with each process's loss weighted by its share of the batch's tokens, so N
processes follow the loss curve of one process with the whole batch. Rank 0 alone scores the dev
set, reports progress and saves; the others wait for its decision.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (``size`` 1: training alone)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """The process that reports, evaluates and saves."""
        return self.rank == 0

    def device(self, asked: str) -> str:
        """The device of this process: ``cuda:<local rank>`` when CUDA is asked for, else ``asked``."""
        if self.size > 1 and asked.startswith("cuda"):
            return f"cuda:{self.local_rank}"
        return asked


def world(device: str = "cpu") -> World:
    """The process group ``torchrun`` describes in the environment, joined; ``World()`` without one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    import torch.distributed as dist

    here = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") and torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(here.local_rank)
        dist.init_process_group(backend)
    return here


def leave(here: World, wait: bool = True) -> None:
    """Wait for every process (``wait``), then leave the process group (nothing when training alone).

    A process that exits with the group still joined can abort in gloo's threads ("terminate called
    without an active exception") while rank 0 is still saving, and torchrun then fails the run.
    """
    if here.size == 1:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        if wait:  # not after a failure: the others may be inside another collective
            dist.barrier()
        dist.destroy_process_group()


def total(value: float, here: World) -> float:
    """The sum of ``value`` over every process (the value itself when training alone)."""
    if here.size == 1:
        return value
    import torch.distributed as dist

    buffer = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(buffer)
    return float(buffer.item())


def from_main(value, here: World):
    """Rank 0's ``value`` (any picklable object), on every process."""
    if here.size == 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def share(group: list[int], here: World) -> list[int]:
    """This process's part of a global batch (every process gets one item or more when it can)."""
    return group[here.rank::here.size] if here.size > 1 else group
