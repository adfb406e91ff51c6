"""One rank of the Open MPI all-reduce benchmark (mpi4py, in-place MPI_Allreduce of float32).

Launched by scripts/bench-allreduce.ts through mpirun (TCP-only or shared-memory transports).
argv: comma-separated sizes in MiB, then iteration counts, then warm-up counts (same length).
Prints one JSON line per size: {"rank", "mib", "seconds", "cpu"} (mean wall and CPU seconds per all-reduce).
"""
import json
import resource
import sys
import time

import numpy as np
from mpi4py import MPI


def main() -> None:
    sizes = [float(s) for s in sys.argv[1].split(",")]
    iters = [int(s) for s in sys.argv[2].split(",")]
    warmups = [int(s) for s in sys.argv[3].split(",")]
    comm = MPI.COMM_WORLD
    for mib, n_iter, n_warm in zip(sizes, iters, warmups):
        x = np.zeros(int(mib * 2**20) // 4, dtype=np.float32)  # zeros: stays finite over many in-place sums
        for _ in range(n_warm):
            comm.Allreduce(MPI.IN_PLACE, x, op=MPI.SUM)
        comm.Barrier()
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        for _ in range(n_iter):
            comm.Allreduce(MPI.IN_PLACE, x, op=MPI.SUM)
        seconds = (time.perf_counter() - t0) / n_iter
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / n_iter
        print(json.dumps({"rank": comm.Get_rank(), "mib": mib, "seconds": seconds, "cpu": cpu}), flush=True)


if __name__ == "__main__":
    main()
