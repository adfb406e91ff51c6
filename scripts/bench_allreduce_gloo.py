"""One rank of the gloo all-reduce benchmark (PyTorch torch.distributed, TCP over loopback).

Launched by scripts/bench-allreduce.ts with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set;
argv and output as in bench_allreduce_timing.py.
"""
import os

import torch
import torch.distributed as dist

from bench_allreduce_timing import plan, time_allreduce


def main() -> None:
    rank = int(os.environ["RANK"])
    dist.init_process_group("gloo", rank=rank, world_size=int(os.environ["WORLD_SIZE"]))
    for mib, n_iter, n_warm in plan():
        time_allreduce(rank, mib, n_iter, n_warm, zeros=lambda n: torch.zeros(n, dtype=torch.float32), allreduce=dist.all_reduce, barrier=dist.barrier)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
