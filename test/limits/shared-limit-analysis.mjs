// What the shared-limit test and bench judge, from what the limiter granted (not from wall-clock jitter):
// reservation start times on Redis's clock recorded by every process, and arrival times at the loopback server.

/** Largest number of values of a sorted list that fall in any half-open span [v, v + span). */
export function maxInSpan(sorted, span) {
  let max = 0;
  let lo = 0;
  for (let hi = 0; hi < sorted.length; hi++) {
    while (sorted[hi] - sorted[lo] >= span) lo++;
    max = Math.max(max, hi - lo + 1);
  }
  return max;
}

/** Counts of arrivals per fixed one-second window from the first arrival (the last, partial one dropped). */
export function perSecond(arrivals) {
  if (arrivals.length === 0) return [];
  const sorted = [...arrivals].sort((a, b) => a - b);
  const first = sorted[0];
  const counts = [];
  for (const t of sorted) {
    const i = Math.floor((t - first) / 1000);
    counts[i] = (counts[i] ?? 0) + 1;
  }
  counts.pop();
  return Array.from(counts, (c) => c ?? 0);
}

/**
 * The longest span during which callers were queued without a break: the union of [at, start] of reservations
 * that had to wait. Only while callers are queued must the limiter deliver the limit; a busy machine that issues
 * fewer calls lowers demand, not what the limiter grants.
 */
export function longestBacklog(reservations) {
  const queued = reservations.filter(([at, start]) => start > at).sort((a, b) => a[0] - b[0]);
  let best = [0, 0];
  let cur;
  for (const [at, start] of queued) {
    if (cur && at <= cur[1]) cur[1] = Math.max(cur[1], start);
    else cur = [at, start];
    if (cur[1] - cur[0] > best[1] - best[0]) best = [...cur];
  }
  return best;
}

/**
 * Judges one run.
 * @param results the workers' results (`reservations` as [at, start] on Redis's clock, `sends` as wall ms)
 * @param o `limit` per second, `burst`, `durationMs` of the measured span
 */
export function analyse(results, o) {
  const all = results.flatMap((r) => r.reservations).sort((a, b) => a[0] - b[0]);
  const starts = all.map((r) => r[1]).sort((a, b) => a - b);
  // Delivered while callers were queued: the slots that started in the longest backlog, against the limit over it.
  const [from, to] = longestBacklog(all);
  const delivered = starts.filter((s) => s > from && s <= to).length;
  const expected = (o.limit * (to - from)) / 1000;
  // Arrival order at Redis (when each reservation was handled) against start order: one queue, FIFO.
  let orderViolations = 0;
  for (let i = 1; i < all.length; i++) if (all[i][1] < all[i - 1][1] - 0.001) orderViolations++;
  // No call leaves before its slot: the i-th earliest send of a process is not before its i-th earliest start.
  let earlySends = 0;
  let maxLateMs = 0;
  for (const r of results) {
    const mine = r.reservations.map((x) => x[1]).sort((a, b) => a - b);
    const sends = [...r.sends].sort((a, b) => a - b);
    for (let i = 0; i < Math.min(mine.length, sends.length); i++) {
      if (sends[i] < mine[i] - 2) earlySends++;
      maxLateMs = Math.max(maxLateMs, sends[i] - mine[i]);
    }
  }
  return {
    granted: all.length,
    backlogMs: Math.round(to - from),
    delivered,
    expected,
    deviation: (delivered - expected) / expected,
    maxPerSecondGranted: maxInSpan(starts, 1000),
    orderViolations,
    earlySends,
    maxLateMs: Math.round(maxLateMs),
    processes: results.length,
  };
}

/**
 * What the server saw, from each request's arrival and the slot it carried (`x-slot`, on Redis's clock, which is
 * this machine's clock): requests that came more than `lateMs` after their slot (a process stalled by a busy
 * machine) are counted apart, and the on-time ones per one-second window of arrival.
 */
export function serverView(hits, lateMs = 200) {
  const withSlot = hits.filter((h) => Number.isFinite(h.slot));
  const early = withSlot.filter((h) => h.at < h.slot - 2).length;
  const onTime = withSlot.filter((h) => h.at - h.slot <= lateMs).map((h) => h.at);
  return {
    requests: hits.length,
    withSlot: withSlot.length,
    early,
    late: withSlot.length - onTime.length,
    maxOnTimeInAnySecond: maxInSpan(
      onTime.sort((a, b) => a - b),
      1000,
    ),
    perSecond: perSecond(hits.map((h) => h.at)),
  };
}
