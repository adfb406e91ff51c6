"""One rank of the gloo all-reduce benchmark (PyTorch torch.distributed, TCP over loopback).

Launched by scripts/bench-allreduce.ts with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set.
argv: comma-separated sizes in MiB, then iteration counts, then warm-up counts (same length).
Prints one JSON line per size: {"rank", "mib", "seconds", "cpu"} (mean wall and CPU seconds per all-reduce).
"""
import json
import resource
import os
import sys
import time

import torch
import torch.distributed as dist


def main() -> None:
    sizes = [float(s) for s in sys.argv[1].split(",")]
    iters = [int(s) for s in sys.argv[2].split(",")]
    warmups = [int(s) for s in sys.argv[3].split(",")]
    rank = int(os.environ["RANK"])
    dist.init_process_group("gloo", rank=rank, world_size=int(os.environ["WORLD_SIZE"]))
    for mib, n_iter, n_warm in zip(sizes, iters, warmups):
        x = torch.zeros(int(mib * 2**20) // 4, dtype=torch.float32)  # zeros: stays finite over many in-place sums
        for _ in range(n_warm):
            dist.all_reduce(x)
        dist.barrier()
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        for _ in range(n_iter):
            dist.all_reduce(x)
        seconds = (time.perf_counter() - t0) / n_iter
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / n_iter
        print(json.dumps({"rank": rank, "mib": mib, "seconds": seconds, "cpu": cpu}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
