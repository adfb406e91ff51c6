"""One rank of the Open MPI all-reduce benchmark (mpi4py, in-place MPI_Allreduce of float32).

Launched by scripts/bench-allreduce.ts through mpirun (TCP-only or shared-memory transports);
argv and output as in bench_allreduce_timing.py.
"""
import numpy as np
from mpi4py import MPI

from bench_allreduce_timing import plan, time_allreduce


def main() -> None:
    comm = MPI.COMM_WORLD
    for mib, n_iter, n_warm in plan():
        time_allreduce(
            comm.Get_rank(), mib, n_iter, n_warm,
            zeros=lambda n: np.zeros(n, dtype=np.float32),
            allreduce=lambda x: comm.Allreduce(MPI.IN_PLACE, x, op=MPI.SUM),
            barrier=comm.Barrier,
        )


if __name__ == "__main__":
    main()
