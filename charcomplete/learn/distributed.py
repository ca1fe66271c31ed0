"""Data-parallel training under torchrun (torch.distributed + DDP), and the no-op single
process case behind the same small interface, so the training loop has one shape."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as torch_dist

from charcomplete.core.errors import CharcompleteError


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device | None = None  # set when world > 1

    @property
    def main(self) -> bool:
        """Rank 0 alone reports progress and writes the model."""
        return self.rank == 0

    def shard(self, data: np.ndarray) -> np.ndarray:
        """This rank's contiguous share of a byte stream."""
        if self.world == 1:
            return data
        size = len(data) // self.world
        if size < 3:
            raise CharcompleteError(f"there is too little text to share among {self.world} processes")
        return data[self.rank * size : (self.rank + 1) * size]

    def agree(self, stop: bool, *rank0_flags: bool) -> tuple[bool, ...]:
        """One decision for all ranks: stop if any rank wants to; the other flags are rank 0's."""
        if self.world == 1:
            return (stop, *rank0_flags)
        values = [float(stop)] + [float(flag) if self.main else 0.0 for flag in rank0_flags]
        tensor = torch.tensor(values, device=self.device)
        torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.MAX)
        return tuple(bool(v) for v in tensor.tolist())

    def sum(self, *values: float) -> list[float]:
        if self.world == 1:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.SUM)
        return tensor.tolist()

    def close(self) -> None:
        if self.world > 1 and torch_dist.is_initialized():
            # Leave together: a rank that tore its process group down while the other was still
            # saving sometimes died in gloo's threads at exit (SIGABRT, about one run in ten).
            try:
                torch_dist.barrier()
            except RuntimeError:
                pass  # the other rank is gone already: tear down all the same
            torch_dist.destroy_process_group()


SINGLE = Distributed()


def from_environment(device_choice: str) -> Distributed:
    """Join the process group torchrun described in the environment, or return SINGLE."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_choice == "cuda" or (device_choice == "auto" and torch.cuda.is_available())
    if use_cuda:
        if not torch.cuda.is_available():
            raise CharcompleteError("--device cuda was asked for, but PyTorch sees no CUDA GPU on this machine")
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        backend = "gloo"
        # The processes on one machine share its cores; each taking all of them would thrash.
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    torch_dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return Distributed(rank=rank, world=world, local_rank=local_rank, device=device)
