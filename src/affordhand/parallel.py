"""Process groups under torchrun: which rank this process is, how many there are, and waiting for all.

`torchrun --nproc_per_node N -m affordhand train|refine ...` starts N processes (and --nnodes M machines);
each reads RANK and WORLD_SIZE from its environment. One process (no torchrun) is rank 0 of 1.
"""

from __future__ import annotations

import os


def join(device: str = "cpu") -> tuple[int, int, str]:
    """Return (rank, world size, device) and join the process group when launched by torchrun (gloo on
    CPU, nccl on CUDA, one GPU per local rank)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    import torch
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return rank, world, device


def barrier() -> None:
    """Wait until every process of the group gets here (no-op for one process)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
