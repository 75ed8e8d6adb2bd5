"""Training in several processes with ``torchrun``: torch's DistributedDataParallel, nothing
home-made.

``torchrun --nproc_per_node N -m genrec train ...`` starts N copies of the command with
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address in the environment.
:func:`init_from_env` joins them in one process group (gloo on the CPU, NCCL on GPUs); without
those variables it does nothing, so the same command runs as one process. The state lives in
``torch.distributed``'s process group, never in this module: :func:`current` reads it.

Every rank holds the epoch's window index and draws the same random order (the run's seed), so
all ranks agree on each *global* batch of ``batch_size`` windows; each rank trains on its share
(``rows[rank::world]``), optionally in several micro-batches, and DDP averages the gradients.
:class:`Sharding` scales each share's loss so that the averaged gradient is the gradient of the
global batch's mean loss: the same step as one process taking the whole batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Sharding:
    """Who this process is among the training processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0 writes checkpoints, the saved model and progress bars."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def share(self, n: int) -> torch.Tensor:
        """This rank's positions among ``n`` (every ``world``-th, from ``rank``)."""
        return torch.arange(self.rank, n, self.world)

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over the ranks (the values themselves with one process)."""
        if not self.active:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device())
        dist.all_reduce(tensor)
        return [float(v) for v in tensor.cpu()]

    def all_gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order."""
        if not self.active:
            return [value]
        gathered: list[Any] = [None] * self.world
        dist.all_gather_object(gathered, value)
        return gathered

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def device(self) -> torch.device:
        """The device collective tensors live on: the rank's GPU with NCCL, else the CPU."""
        if self.active and dist.get_backend() == "nccl":
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher setting the same
    variables) with more than one process."""
    return all(v in os.environ for v in ENV_VARS) and int(os.environ["WORLD_SIZE"]) > 1


def init_from_env(backend: str | None = None) -> Sharding:
    """Join the process group torchrun describes in the environment (once; later calls return
    the same); one process when not launched that way. ``backend``: gloo or nccl (default:
    NCCL when CUDA is available, else gloo)."""
    if not launched():
        return current()
    if not dist.is_initialized():
        local_rank = int(os.environ["LOCAL_RANK"])
        chosen = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        if chosen == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=chosen)
    return current()


def current() -> Sharding:
    """This process's place in the process group (rank 0 of 1 when there is none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return Sharding()
    return Sharding(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def shutdown() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
