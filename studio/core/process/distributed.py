"""Data-parallel training across processes (torch.distributed, DDP), as launched by torchrun:

    torchrun --nproc_per_node=4 -m studio run recipe.yaml --device cuda

Every process runs the whole recipe; training steps shard each epoch's examples by rank and DDP
averages gradients, so all ranks hold the same weights. Only rank 0 writes files and prints results.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_from_environment(device: str) -> str:
    """Join the process group torchrun describes in the environment (no-op in a single process).
    Returns the device this process trains on."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available() or dist.is_initialized():
        return device
    dist.init_process_group(backend="nccl" if device == "cuda" else "gloo")
    if device == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return f"cuda:{local}"
    return device


def rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    return rank_and_world()[0] == 0


def wrap(module: torch.nn.Module, device: str) -> torch.nn.Module:
    """DDP around the module inside a process group (even a group of one); the module itself otherwise."""
    if not (dist.is_available() and dist.is_initialized()):
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [torch.device(device).index] if device.startswith("cuda") else None
    return DistributedDataParallel(module, device_ids=ids)


def shard(order: torch.Tensor) -> torch.Tensor:
    """This rank's share of an epoch's shuffled indices; every rank gets the same count, so DDP's
    collective calls stay in step."""
    rank, world = rank_and_world()
    if world <= 1:
        return order
    usable = len(order) - len(order) % world
    return order[:usable][rank::world]
