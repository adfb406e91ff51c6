"""The timing loop both all-reduce peers share (gloo and Open MPI): same warm-up, barrier, clock and CPU accounting.

argv of a peer script: comma-separated sizes in MiB, then iteration counts, then warm-up counts (same length).
Each size prints one JSON line: {"rank", "mib", "seconds", "cpu"} (mean wall and CPU seconds per all-reduce).
"""
import json
import resource
import sys
import time


def plan(argv=None):
    """(mib, iterations, warm-ups) per size, from the command line."""
    argv = sys.argv if argv is None else argv
    sizes = [float(s) for s in argv[1].split(",")]
    iters = [int(s) for s in argv[2].split(",")]
    warmups = [int(s) for s in argv[3].split(",")]
    return list(zip(sizes, iters, warmups))


def time_allreduce(rank, mib, n_iter, n_warm, zeros, allreduce, barrier):
    """Times `allreduce(x)` in place on a float32 buffer of `mib` MiB made by `zeros(n)` and prints the JSON line."""
    x = zeros(int(mib * 2**20) // 4)  # zeros: stays finite over many in-place sums
    for _ in range(n_warm):
        allreduce(x)
    barrier()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    for _ in range(n_iter):
        allreduce(x)
    seconds = (time.perf_counter() - t0) / n_iter
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / n_iter
    print(json.dumps({"rank": rank, "mib": mib, "seconds": seconds, "cpu": cpu}), flush=True)
