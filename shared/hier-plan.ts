/**
 * Who does what in the hierarchical all-reduce (worker/hier/), from the host of every rank. Pure,
 * so the coordinator computes it once and every rank gets the same answer.
 *
 * Note [hierarchical slices]: every buffer is cut into S slices, S = the largest host's number of
 * ranks. On host h (with L_h ranks) slice k is owned by local rank k mod L_h: that rank sums slice
 * k over its host's ranks (shared memory), carries the host's partial sum around the ring of slice
 * k, whose members are slice k's owners on every host, in host order (ZeroMQ, across hosts), and
 * leaves the result where its host's other ranks copy it (shared memory). On the largest host each
 * rank owns one slice; on a smaller one a rank may own several and runs their rings side by side.
 * Every float is summed in one fixed order (local ranks in rank order, then hosts in ring order),
 * so the result depends only on which ranks share a host, never on timing.
 */

/** One rank's part. */
export interface HierPlacement {
  /** Its host, numbered in order of the hosts' lowest ranks. */
  host: number;
  hosts: number;
  /** Its index among its host's ranks (in rank order), and how many ranks its host has. */
  localRank: number;
  localWorld: number;
  /** Slices every buffer is cut into (the same on every rank). */
  slices: number;
  /** The slices it owns, ascending. */
  owned: number[];
  /** The ranks of its host, in local rank order. */
  hostRanks: number[];
}

/** The whole plan: each rank's placement, and for each slice the rank that owns it on each host. */
export interface HierPlan {
  placements: HierPlacement[];
  /** ringMembers[k][h]: the rank owning slice k on host h (member h of slice k's ring). */
  ringMembers: number[][];
}

/** Plans the hierarchical all-reduce for ranks whose hosts are `hostOf[rank]` (any identity strings). */
export function hierPlan(hostOf: string[]): HierPlan {
  if (hostOf.length === 0) throw new Error('hierarchical all-reduce: no ranks to plan for');
  const hostIds = [...new Set(hostOf)];
  const members = hostIds.map((id) => hostOf.flatMap((h, rank) => (h === id ? [rank] : [])));
  const slices = Math.max(...members.map((m) => m.length));
  const ringMembers = Array.from({ length: slices }, (_, k) => members.map((m) => m[k % m.length]));
  const placements = hostOf.map((id, rank) => {
    const host = hostIds.indexOf(id);
    const local = members[host];
    const localRank = local.indexOf(rank);
    const owned = Array.from({ length: slices }, (_, k) => k).filter((k) => k % local.length === localRank);
    return { host, hosts: hostIds.length, localRank, localWorld: local.length, slices, owned, hostRanks: local };
  });
  return { placements, ringMembers };
}

/** What a worker says when it connects: its host's name and its task rank in the job, if any. */
export interface Arrival {
  host: string;
  order: number | null;
}

/**
 * Note [rank order]: which arrival becomes which rank. Ranks are numbered host by host (hosts in
 * order of their lowest task rank, then by name), and within a host by task rank, then arrival.
 * The hierarchical all-reduce sums each host's ranks first, so which ranks share a host decides
 * the summation order: numbering by host keeps that (and so every bit of a run) independent of
 * which worker happened to connect first. Returns, for each rank, the index of its arrival.
 */
export function rankOrder(arrivals: Arrival[]): number[] {
  const first = new Map<string, number>();
  for (const a of arrivals) first.set(a.host, Math.min(first.get(a.host) ?? Infinity, a.order ?? Infinity));
  const key = (i: number) => arrivals[i];
  return arrivals
    .map((_, i) => i)
    .sort((i, j) => {
      const [a, b] = [key(i), key(j)];
      if (a.host !== b.host) return first.get(a.host)! - first.get(b.host)! || (a.host < b.host ? -1 : 1);
      return (a.order ?? Infinity) - (b.order ?? Infinity) || i - j;
    });
}
