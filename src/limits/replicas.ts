/**
 * Replica heartbeats: each process using a shared limit announces itself in Redis every `interval` ms, and the
 * answer says how many are alive. The count sizes the in-process fallback (limit ÷ live replicas) when Redis
 * goes down; without a fresh count (Redis down since start) the configured `expectedReplicas` is used.
 */

/** How long a heartbeat keeps a replica counted, in heartbeat intervals. */
export const HEARTBEAT_LIFETIME = 3;

/** The live-replica count as this process last saw it. */
export class ReplicaCount {
  #count = 0;
  #at = Number.NEGATIVE_INFINITY;

  constructor(
    /** The count to use without a fresh heartbeat answer. */
    readonly expected: number,
    /** Heartbeat interval in ms: an answer older than {@link HEARTBEAT_LIFETIME} intervals is stale. */
    readonly interval: number,
  ) {}

  /** Records a heartbeat's answer (`count` replicas alive, this one included) at `now` ms. */
  seen(count: number, now: number): void {
    this.#count = Math.max(1, count);
    this.#at = now;
  }

  /** Whether the last answer is recent enough to trust at `now`. */
  fresh(now: number): boolean {
    return now - this.#at <= HEARTBEAT_LIFETIME * this.interval;
  }

  /** Live replicas at `now`: the last heartbeat's answer while fresh, `expected` otherwise. */
  current(now: number): number {
    return this.fresh(now) ? this.#count : this.expected;
  }

  /** The last answer, 0 before any. */
  get last(): number {
    return this.#count;
  }
}
