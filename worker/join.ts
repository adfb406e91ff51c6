/**
 * How a worker joins the all-reduce the coordinator picked (its 'ring' order): the flat ring it
 * bound at welcome, its host's shared memory, or the hierarchical all-reduce, which answers with
 * its slice rings' endpoints and is complete once the coordinator sends their members ('hierRings').
 */
import type { AllReduce } from './allreduce';
import { HierAllReduce } from './hier/allreduce';
import type { Ring, RingOptions } from './ring/ring';
import { ShmAllReduce } from './shm/allreduce';
import type { CoordMsg, WorkerMsg } from '../shared/protocol';

/** What a worker brings to the join. */
export interface Joining {
  rank: number;
  world: number;
  /** The flat ring, bound at welcome (closed unless it is the choice). */
  ring: Ring;
  /** Largest buffer the replica all-reduces, in floats. */
  capacity: number;
  /** Settings of any ring this worker binds: its interface, the job keys, the wire format. */
  ringOptions: Pick<RingOptions, 'host' | 'keys' | 'wire'>;
}

/** What the worker sums with from now on, and its answer to the order. */
export async function joinAllReduce(
  order: Extract<CoordMsg, { type: 'ring' }>,
  j: Joining,
): Promise<{ allreduce: AllReduce; reply: WorkerMsg }> {
  const ready: WorkerMsg = { type: 'ringReady' };
  switch (order.allreduce) {
    case 'ring':
      await j.ring.connect(order.endpoints);
      return { allreduce: j.ring, reply: ready };
    case 'shm': {
      const shm = await ShmAllReduce.attach({ rank: j.rank, world: j.world, name: order.shmName, capacity: j.capacity });
      await j.ring.close();
      return { allreduce: shm, reply: ready };
    }
    case 'hier': {
      if (!order.hier) throw new Error("the coordinator ordered the hierarchical all-reduce without this rank's part of it");
      const hier = await HierAllReduce.create({
        placement: order.hier,
        shm: { name: order.shmName, capacity: j.capacity },
        ring: j.ringOptions,
      });
      await j.ring.close();
      return { allreduce: hier, reply: { type: 'hierBound', endpoints: hier.endpoints } };
    }
  }
}
