import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createClient } from '../src/client/client.js';
import { CallAbort } from '../src/core/context.js';
import { type Deadline, DeadlineQueue, deadlineQueue } from '../src/core/deadlines.js';
import { TimeoutError } from '../src/core/errors.js';
import type { HttpResponse } from '../src/core/response.js';
import { attemptTimeout, totalTimeout } from '../src/policies/timeout.js';
import { FakeClock } from '../src/testing/fake-clock.js';
import { MemoryTransport } from '../src/transport/memory.js';

interface TestEntry extends Deadline {
  readonly name: string;
  /** Clock times at which it fired (once, unless re-added). */
  readonly firedAt: number[];
}

/** An entry that records when it fires, in a shared log, then runs `then`. */
function entry(clock: FakeClock, name: string, log: string[] = [], then?: () => void): TestEntry {
  const e: TestEntry = {
    name,
    at: 0,
    queued: false,
    firedAt: [],
    fire() {
      e.firedAt.push(clock.now());
      log.push(name);
      then?.();
    },
  };
  return e;
}

/** A fake clock, a 1 s queue on it and a log of fired entry names. */
function fixture() {
  const clock = new FakeClock();
  return { clock, queue: new DeadlineQueue(clock, 1_000), log: [] as string[] };
}

function entries(clock: FakeClock, log: string[], ...names: string[]): TestEntry[] {
  return names.map((name) => entry(clock, name, log));
}

describe('DeadlineQueue', () => {
  it('add() sets the deadline, marks the entry queued and counts it', () => {
    const clock = new FakeClock();
    const queue = new DeadlineQueue(clock, 1_000);
    const a = entry(clock, 'a');
    expect(queue.ms).toBe(1_000);
    expect(queue.size).toBe(0);
    expect(queue.add(a)).toBe(1_000);
    expect(a.at).toBe(1_000);
    expect(a.queued).toBe(true);
    expect(queue.size).toBe(1);
    expect(clock.pending).toBe(1);
  });

  it('fires entries in deadline order once their deadline passes, and not before', async () => {
    const { clock, queue, log } = fixture();
    const [a, b, c] = entries(clock, log, 'a', 'b', 'c');
    queue.add(a); // due 1000
    await clock.advance(300);
    queue.add(b); // due 1300
    await clock.advance(300);
    queue.add(c); // due 1600
    expect(clock.pending).toBe(1); // one timer for the whole queue

    await clock.advance(399); // t = 999
    expect(log).toEqual([]);
    await clock.advance(1); // t = 1000
    expect(log).toEqual(['a']);
    expect(a.queued).toBe(false);
    expect(queue.size).toBe(2);
    await clock.advance(299); // t = 1299
    expect(log).toEqual(['a']);
    await clock.advance(1); // t = 1300
    expect(log).toEqual(['a', 'b']);
    await clock.advance(299); // t = 1599
    expect(log).toEqual(['a', 'b']);
    await clock.advance(1); // t = 1600
    expect(log).toEqual(['a', 'b', 'c']);
    expect([a.firedAt, b.firedAt, c.firedAt]).toEqual([[1_000], [1_300], [1_600]]);
    expect(queue.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('entries added 1 ms apart fire 1 ms apart', async () => {
    const clock = new FakeClock();
    const queue = new DeadlineQueue(clock, 100);
    const log: string[] = [];
    queue.add(entry(clock, 'a', log));
    await clock.advance(1);
    queue.add(entry(clock, 'b', log));
    await clock.advance(1);
    queue.add(entry(clock, 'c', log));
    await clock.advance(98); // t = 100
    expect(log).toEqual(['a']);
    await clock.advance(1);
    expect(log).toEqual(['a', 'b']);
    await clock.advance(1);
    expect(log).toEqual(['a', 'b', 'c']);
  });

  it('entries added at the same instant fire together, in the order they were added', async () => {
    const clock = new FakeClock();
    const queue = new DeadlineQueue(clock, 50);
    const log: string[] = [];
    for (const name of ['x', 'y', 'z']) queue.add(entry(clock, name, log));
    await clock.advance(49);
    expect(log).toEqual([]);
    await clock.advance(1);
    expect(log).toEqual(['x', 'y', 'z']);
  });

  it('a removed entry never fires', async () => {
    const { clock, queue, log } = fixture();
    const [a, b, c] = entries(clock, log, 'a', 'b', 'c');
    queue.add(a);
    queue.add(b);
    await clock.advance(10);
    queue.add(c);
    queue.remove(b);
    expect(b.queued).toBe(false);
    expect(queue.size).toBe(2);
    await clock.advance(5_000);
    expect(log).toEqual(['a', 'c']);
    expect(b.firedAt).toEqual([]);
  });

  it('remove() is a no-op for an entry that already fired or was already removed', async () => {
    const clock = new FakeClock();
    const queue = new DeadlineQueue(clock, 100);
    const a = entry(clock, 'a');
    const b = entry(clock, 'b');
    const c = entry(clock, 'c');
    queue.add(a);
    await clock.advance(100);
    expect(a.firedAt).toEqual([100]);
    queue.add(b);
    queue.add(c);
    queue.remove(a); // already fired
    expect(queue.size).toBe(2);
    queue.remove(b);
    queue.remove(b); // already removed
    expect(queue.size).toBe(1);
    await clock.advance(100);
    expect(c.firedAt).toEqual([200]);
    expect(queue.size).toBe(0);
  });

  it('removing every entry releases the timer', async () => {
    const clock = new FakeClock();
    const queue = new DeadlineQueue(clock, 1_000);
    const entries = Array.from({ length: 10 }, (_, i) => entry(clock, `e${i}`));
    for (const e of entries) {
      queue.add(e);
      await clock.advance(5);
    }
    expect(clock.pending).toBe(1);
    // Remove in a mixed order: middle, tail, head, the rest.
    for (const i of [4, 9, 0, 1, 8, 2, 7, 3, 6, 5]) queue.remove(entries[i] as TestEntry);
    expect(queue.size).toBe(0);
    expect(clock.pending).toBe(0);
    await clock.advance(10_000);
    expect(entries.every((e) => e.firedAt.length === 0)).toBe(true);
    // The queue works again afterwards.
    const again = entry(clock, 'again');
    expect(queue.add(again)).toBe(10_050 + 1_000);
    expect(clock.pending).toBe(1);
    await clock.advance(1_000);
    expect(again.firedAt).toEqual([11_050]);
  });

  it('a removed head does not delay later entries: they fire exactly at their own deadline', async () => {
    const { clock, queue, log } = fixture();
    const [a, b, c] = entries(clock, log, 'a', 'b', 'c');
    queue.add(a); // due 1000
    await clock.advance(400);
    queue.add(b); // due 1400
    await clock.advance(100);
    queue.add(c); // due 1500
    queue.remove(a);
    await clock.advance(499); // t = 999
    await clock.advance(1); // t = 1000: the timer armed for `a` may wake, but nothing is due
    expect(log).toEqual([]);
    await clock.advance(399); // t = 1399
    expect(log).toEqual([]);
    await clock.advance(1); // t = 1400
    expect(log).toEqual(['b']);
    expect(b.firedAt).toEqual([1_400]);
    queue.remove(c);
    expect(clock.pending).toBe(0);
  });

  it('a removed head does not delay later entries when the clock jumps far past them', async () => {
    const clock = new FakeClock();
    const queue = new DeadlineQueue(clock, 1_000);
    const a = entry(clock, 'a');
    const b = entry(clock, 'b');
    queue.add(a);
    await clock.advance(250);
    queue.add(b); // due 1250
    queue.remove(a);
    await clock.advance(10_000);
    expect(b.firedAt).toEqual([1_250]);
  });

  it("an entry's fire() that adds a new entry: the new one fires at its own deadline, not early, not never", async () => {
    const { clock, queue, log } = fixture();
    const late = entry(clock, 'late', log);
    const first = entry(clock, 'first', log, () => queue.add(late));
    const second = entry(clock, 'second', log);
    queue.add(first); // due 1000, adds `late` (due 2000)
    queue.add(second); // due 1000
    await clock.advance(1_000);
    expect(log).toEqual(['first', 'second']);
    expect(late.queued).toBe(true);
    expect(queue.size).toBe(1);
    expect(clock.pending).toBe(1);
    await clock.advance(999);
    expect(log).toEqual(['first', 'second']);
    await clock.advance(1);
    expect(log).toEqual(['first', 'second', 'late']);
    expect(late.firedAt).toEqual([2_000]);
    expect(clock.pending).toBe(0);
  });

  it("an entry's fire() that adds a new entry does not delay entries already waiting", async () => {
    const { clock, queue, log } = fixture();
    const added = entry(clock, 'added', log);
    const first = entry(clock, 'first', log, () => queue.add(added)); // due 1000, adds one due 2000
    const waiting = entry(clock, 'waiting', log);
    queue.add(first);
    await clock.advance(500);
    queue.add(waiting); // due 1500
    await clock.advance(999); // t = 1499
    expect(log).toEqual(['first']);
    await clock.advance(1); // t = 1500
    expect(log).toEqual(['first', 'waiting']);
    expect(waiting.firedAt).toEqual([1_500]);
    await clock.advance(500);
    expect(added.firedAt).toEqual([2_000]);
  });

  it("an entry's fire() that removes another entry due at the same instant: that one does not fire", async () => {
    const { clock, queue, log } = fixture();
    const victim = entry(clock, 'victim', log);
    const killer = entry(clock, 'killer', log, () => queue.remove(victim));
    const bystander = entry(clock, 'bystander', log);
    queue.add(killer);
    queue.add(victim);
    queue.add(bystander);
    await clock.advance(1_000);
    expect(log).toEqual(['killer', 'bystander']);
    expect(victim.firedAt).toEqual([]);
    expect(queue.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it("an entry's fire() that removes a later entry: it never fires, the others still do on time", async () => {
    const { clock, queue, log } = fixture();
    const victim = entry(clock, 'victim', log);
    const other = entry(clock, 'other', log);
    const killer = entry(clock, 'killer', log, () => queue.remove(victim));
    queue.add(killer); // due 1000
    await clock.advance(100);
    queue.add(victim); // due 1100
    await clock.advance(100);
    queue.add(other); // due 1200
    await clock.advance(5_000);
    expect(log).toEqual(['killer', 'other']);
    expect(other.firedAt).toEqual([1_200]);
    expect(clock.pending).toBe(0);
  });

  it("an entry's fire() that empties the queue and then adds: the new entry fires at its own deadline", async () => {
    const clock = new FakeClock();
    const queue = new DeadlineQueue(clock, 500);
    const log: string[] = [];
    const b = entry(clock, 'b', log);
    const c = entry(clock, 'c', log);
    const fresh = entry(clock, 'fresh', log);
    const a = entry(clock, 'a', log, () => {
      queue.remove(b);
      queue.remove(c);
      expect(queue.size).toBe(0);
      queue.add(fresh); // due 1000
    });
    queue.add(a);
    queue.add(b);
    await clock.advance(10);
    queue.add(c);
    await clock.advance(500);
    expect(log).toEqual(['a']);
    expect(queue.size).toBe(1);
    await clock.advance(489); // t = 999
    expect(log).toEqual(['a']);
    await clock.advance(1);
    expect(log).toEqual(['a', 'fresh']);
    expect(fresh.firedAt).toEqual([1_000]);
    expect(clock.pending).toBe(0);
  });

  it('an entry that re-adds itself when it fires fires once per period, on time', async () => {
    const clock = new FakeClock();
    const queue = new DeadlineQueue(clock, 250);
    let ticks = 0;
    const periodic: TestEntry = entry(clock, 'tick', [], () => {
      if (++ticks < 4) queue.add(periodic);
    });
    queue.add(periodic);
    await clock.advance(2_000);
    expect(periodic.firedAt).toEqual([250, 500, 750, 1_000]);
    expect(clock.pending).toBe(0);
  });

  it('an entry removed and added again fires at its new deadline only', async () => {
    const clock = new FakeClock();
    const queue = new DeadlineQueue(clock, 1_000);
    const a = entry(clock, 'a');
    queue.add(a);
    await clock.advance(600);
    queue.remove(a);
    queue.add(a); // due 1600
    await clock.advance(999); // t = 1599
    expect(a.firedAt).toEqual([]);
    await clock.advance(1);
    expect(a.firedAt).toEqual([1_600]);
    expect(queue.size).toBe(0);
  });

  it('thousands of adds and removes in mixed order keep size right and fire exactly the live entries, on time', async () => {
    const clock = new FakeClock();
    const queue = new DeadlineQueue(clock, 1_000);
    // A small deterministic PRNG (mulberry32) so a failure reproduces.
    let seed = 0x5eed;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = seed;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const all: TestEntry[] = [];
    const live = new Set<TestEntry>();
    const removed = new Set<TestEntry>();
    const removeOne = (e: TestEntry) => {
      queue.remove(e);
      live.delete(e);
      removed.add(e);
    };
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 250; i++) {
        const e = entry(clock, `r${round}-${i}`);
        queue.add(e);
        all.push(e);
        live.add(e);
      }
      const current = [...live];
      switch (round % 4) {
        case 0: // remove a run from the front (the head)
          for (const e of current.slice(0, 200)) removeOne(e);
          break;
        case 1: // remove a run from the back
          for (const e of current.slice(-150)) removeOne(e);
          break;
        case 2: // remove at random
          for (const e of current) if (random() < 0.6) removeOne(e);
          break;
        default: // remove every other one
          for (const [i, e] of current.entries()) if (i % 2 === 0) removeOne(e);
      }
      expect(queue.size).toBe(live.size);
      await clock.advance(Math.floor(random() * 120));
      // Anything due by now has fired and left the live set.
      for (const e of [...live]) if (e.firedAt.length > 0) live.delete(e);
      expect(queue.size).toBe(live.size);
    }
    await clock.advance(2_000);
    expect(queue.size).toBe(0);
    expect(clock.pending).toBe(0);
    // Only entries that had not fired yet were removed: they must never fire; every other one fired once, on time.
    for (const e of all) expect([e.name, e.firedAt]).toEqual([e.name, removed.has(e) ? [] : [e.at]]);
    expect(removed.size).toBeGreaterThan(2_000);
  });

  it('property: any mix of add, remove and advance fires exactly the live entries, each at its deadline', async () => {
    type Op = { kind: 'add' } | { kind: 'remove'; pick: number } | { kind: 'advance'; ms: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { arbitrary: fc.constant<Op>({ kind: 'add' }), weight: 4 },
      { arbitrary: fc.nat().map<Op>((pick) => ({ kind: 'remove', pick })), weight: 3 },
      { arbitrary: fc.integer({ min: 0, max: 3 }).map<Op>((ms) => ({ kind: 'advance', ms })), weight: 2 },
      { arbitrary: fc.integer({ min: 0, max: 400 }).map<Op>((ms) => ({ kind: 'advance', ms })), weight: 2 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 300 }),
        fc.array(op, { maxLength: 120 }),
        async (ms, ops) => {
          const clock = new FakeClock();
          const queue = new DeadlineQueue(clock, ms);
          const log: string[] = [];
          const model: { e: TestEntry; deadline: number; removed: boolean }[] = [];
          let n = 0;
          for (const o of ops) {
            if (o.kind === 'add') {
              const e = entry(clock, `e${n++}`, log);
              const deadline = queue.add(e);
              expect(deadline).toBe(clock.now() + ms);
              model.push({ e, deadline, removed: false });
            } else if (o.kind === 'remove') {
              const waiting = model.filter((m) => !m.removed && m.e.firedAt.length === 0);
              if (waiting.length === 0) continue;
              const m = waiting[o.pick % waiting.length]!;
              queue.remove(m.e);
              m.removed = true;
            } else {
              await clock.advance(o.ms);
            }
            const now = clock.now();
            for (const m of model) {
              const shouldHaveFired = !m.removed && m.deadline <= now;
              // Removed entries are only ever removed before they fire, so they must never fire.
              expect(m.e.firedAt).toEqual(shouldHaveFired ? [m.deadline] : []);
            }
            expect(queue.size).toBe(model.filter((m) => !m.removed && m.deadline > now).length);
          }
          await clock.advance(ms);
          const expected = model
            .filter((m) => !m.removed)
            .sort((x, y) => x.deadline - y.deadline)
            .map((m) => m.e.name);
          // Fired in deadline order (ties in the order they were added, which a stable sort keeps).
          expect(log).toEqual(expected);
          expect(queue.size).toBe(0);
          expect(clock.pending).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('very long durations do not fire early (Node timers overflow past 2^31 - 1 ms): re-armed in steps', async () => {
    const clock = new FakeClock();
    const queue = new DeadlineQueue(clock, 2 ** 32);
    const a = entry(clock, 'a');
    queue.add(a);
    expect(a.at).toBe(2 ** 32);
    await clock.advance(2 ** 31);
    expect(a.firedAt).toEqual([]);
    expect(a.queued).toBe(true);
    expect(clock.pending).toBe(1); // re-armed
    await clock.advance(2 ** 32 - 2 ** 31 - 1); // t = 2^32 - 1
    expect(a.firedAt).toEqual([]);
    await clock.advance(1);
    expect(a.firedAt).toEqual([2 ** 32]);
    expect(clock.pending).toBe(0);
  });

  it('never asks the clock for a timer longer than 2^31 - 1 ms', () => {
    const clock = new FakeClock();
    const delays: number[] = [];
    const spy = Object.assign(Object.create(clock) as FakeClock, {
      now: () => clock.now(),
      setTimeout: (fn: () => void, ms: number) => {
        delays.push(ms);
        return clock.setTimeout(fn, ms);
      },
      clearTimeout: (h: Parameters<FakeClock['clearTimeout']>[0]) => clock.clearTimeout(h),
    });
    const queue = new DeadlineQueue(spy, 2 ** 40);
    queue.add(entry(clock, 'far'));
    expect(delays).toEqual([2 ** 31 - 1]);
  });
});

describe('deadlineQueue()', () => {
  it('returns the same queue for the same clock and duration, and different ones otherwise', () => {
    const clock = new FakeClock();
    const other = new FakeClock();
    const q = deadlineQueue(clock, 1_000);
    expect(q).toBeInstanceOf(DeadlineQueue);
    expect(q.ms).toBe(1_000);
    expect(deadlineQueue(clock, 1_000)).toBe(q);
    expect(deadlineQueue(clock, 2_000)).not.toBe(q);
    expect(deadlineQueue(clock, 2_000)).toBe(deadlineQueue(clock, 2_000));
    expect(deadlineQueue(other, 1_000)).not.toBe(q);
    expect(deadlineQueue(other, 1_000)).toBe(deadlineQueue(other, 1_000));
  });

  it('past 256 distinct durations on one clock, new durations get a fresh queue each time (still working)', async () => {
    const clock = new FakeClock();
    const shared = Array.from({ length: 256 }, (_, i) => deadlineQueue(clock, i + 1));
    expect(deadlineQueue(clock, 1)).toBe(shared[0]);
    expect(deadlineQueue(clock, 256)).toBe(shared[255]);
    const extra = deadlineQueue(clock, 10_000);
    expect(extra.ms).toBe(10_000);
    expect(deadlineQueue(clock, 10_000)).not.toBe(extra);
    const e = entry(clock, 'e');
    extra.add(e);
    await clock.advance(10_000);
    expect(e.firedAt).toEqual([10_000]);
  });
});

describe('timeout policies on the deadline queue', () => {
  /** A transport whose calls wait until the test answers them (it never sets timers on the clock). */
  function manualTransport() {
    const waiting: (() => void)[] = [];
    const transport = new MemoryTransport().route(
      'GET',
      '/wait',
      () => new Promise((resolve) => waiting.push(() => resolve({ json: { ok: true } }))),
    );
    return { transport, waiting };
  }

  type Outcome = { at: number; response?: HttpResponse; error?: unknown };
  function track(clock: FakeClock, call: Promise<HttpResponse>) {
    const outcome: { settled?: Outcome } = {};
    call.then(
      (response) => {
        outcome.settled = { at: clock.now(), response };
      },
      (error: unknown) => {
        outcome.settled = { at: clock.now(), error };
      },
    );
    return outcome;
  }

  it('calls started at t=0 and t=500 with a 1000 ms attempt timeout each time out at their own deadline', async () => {
    const clock = new FakeClock();
    const { transport } = manualTransport();
    const api = createClient({ baseUrl: 'http://mem', transport, clock, policies: [attemptTimeout(1_000)] });
    const first = track(clock, api.get('/wait'));
    await clock.advance(500);
    const second = track(clock, api.get('/wait'));
    await clock.advance(499); // t = 999
    expect(first.settled).toBeUndefined();
    await clock.advance(1); // t = 1000
    expect(first.settled?.at).toBe(1_000);
    expect(first.settled?.error).toBeInstanceOf(TimeoutError);
    expect(first.settled?.error).toMatchObject({ code: 'ERR_TIMEOUT', scope: 'attempt', timeout: 1_000 });
    expect(second.settled).toBeUndefined();
    await clock.advance(499); // t = 1499
    expect(second.settled).toBeUndefined();
    await clock.advance(1); // t = 1500
    expect(second.settled?.at).toBe(1_500);
    expect(second.settled?.error).toMatchObject({ code: 'ERR_TIMEOUT', scope: 'attempt' });
    expect(clock.pending).toBe(0);
  });

  it('many concurrent calls with the same attempt timeout each time out exactly at start + timeout', async () => {
    const clock = new FakeClock();
    const { transport } = manualTransport();
    const api = createClient({ baseUrl: 'http://mem', transport, clock, policies: [attemptTimeout(1_000)] });
    const calls: { start: number; outcome: ReturnType<typeof track> }[] = [];
    for (let i = 0; i < 40; i++) {
      calls.push({ start: clock.now(), outcome: track(clock, api.get('/wait')) });
      await clock.advance(25 + (i % 3) * 10);
    }
    expect(clock.pending).toBe(1); // one timer for them all
    await clock.advance(3_000);
    for (const { start, outcome } of calls) {
      expect(outcome.settled?.at).toBe(start + 1_000);
      expect(outcome.settled?.error).toMatchObject({ code: 'ERR_TIMEOUT', scope: 'attempt' });
    }
    expect(clock.pending).toBe(0);
  });

  it('the total timeout fires at its own deadline with scope "total"', async () => {
    const clock = new FakeClock();
    const { transport } = manualTransport();
    const api = createClient({ baseUrl: 'http://mem', transport, clock, policies: [totalTimeout(2_000)] });
    const a = track(clock, api.get('/wait'));
    await clock.advance(700);
    const b = track(clock, api.get('/wait'));
    await clock.advance(1_299); // t = 1999
    expect(a.settled).toBeUndefined();
    await clock.advance(1); // t = 2000
    expect(a.settled?.error).toMatchObject({ code: 'ERR_TIMEOUT', scope: 'total', timeout: 2_000 });
    await clock.advance(699); // t = 2699
    expect(b.settled).toBeUndefined();
    await clock.advance(1);
    expect(b.settled?.at).toBe(2_700);
    expect(clock.pending).toBe(0);
  });

  it('total and attempt timeouts of the same length share one queue; the outer (total) one wins', async () => {
    const clock = new FakeClock();
    const { transport } = manualTransport();
    const api = createClient({
      baseUrl: 'http://mem',
      transport,
      clock,
      policies: [totalTimeout(1_000), attemptTimeout(1_000)],
    });
    const a = track(clock, api.get('/wait'));
    await clock.advance(300);
    const b = track(clock, api.get('/wait'));
    expect(clock.pending).toBe(1);
    await clock.advance(699);
    expect(a.settled).toBeUndefined();
    await clock.advance(1);
    expect(a.settled?.error).toMatchObject({ code: 'ERR_TIMEOUT', scope: 'total' });
    expect(b.settled).toBeUndefined();
    await clock.advance(300);
    expect(b.settled?.at).toBe(1_300);
    expect(b.settled?.error).toMatchObject({ code: 'ERR_TIMEOUT', scope: 'total' });
    expect(clock.pending).toBe(0);
  });

  it('a per-call attempt timeout uses its own queue, interleaved correctly with the default one', async () => {
    const clock = new FakeClock();
    const { transport } = manualTransport();
    const api = createClient({ baseUrl: 'http://mem', transport, clock, policies: [attemptTimeout(1_000)] });
    const long = track(clock, api.get('/wait'));
    await clock.advance(100);
    const short = track(clock, api.get('/wait', { timeout: { attempt: 300 } }));
    expect(clock.pending).toBe(2);
    await clock.advance(299); // t = 399
    expect(short.settled).toBeUndefined();
    await clock.advance(1); // t = 400
    expect(short.settled?.error).toMatchObject({ scope: 'attempt', timeout: 300 });
    expect(long.settled).toBeUndefined();
    await clock.advance(600); // t = 1000
    expect(long.settled?.error).toMatchObject({ scope: 'attempt', timeout: 1_000 });
    expect(clock.pending).toBe(0);
  });

  it('calls that complete in time leave no timer pending', async () => {
    const clock = new FakeClock();
    const { transport, waiting } = manualTransport();
    const api = createClient({
      baseUrl: 'http://mem',
      transport,
      clock,
      policies: [totalTimeout(5_000), attemptTimeout(1_000)],
    });
    const calls = [] as ReturnType<typeof track>[];
    for (let i = 0; i < 20; i++) {
      calls.push(track(clock, api.get('/wait')));
      await clock.advance(10);
    }
    expect(clock.pending).toBeGreaterThan(0);
    expect(waiting).toHaveLength(20);
    for (const answer of waiting) answer();
    await clock.advance(0);
    for (const c of calls) {
      expect(c.settled?.response?.status).toBe(200);
      expect(c.settled?.at).toBe(200);
    }
    expect(clock.pending).toBe(0);
    // And none of them times out later.
    await clock.advance(10_000);
    for (const c of calls) expect(c.settled?.error).toBeUndefined();
  });

  it('a mix of calls that complete and calls that time out: only the slow ones fail, on time, and no timer is left', async () => {
    const clock = new FakeClock();
    const { transport, waiting } = manualTransport();
    const api = createClient({ baseUrl: 'http://mem', transport, clock, policies: [attemptTimeout(1_000)] });
    const calls = [] as { start: number; outcome: ReturnType<typeof track> }[];
    for (let i = 0; i < 10; i++) {
      calls.push({ start: clock.now(), outcome: track(clock, api.get('/wait')) });
      await clock.advance(50);
    }
    // t = 500: answer the even calls.
    for (const [i, answer] of waiting.entries()) if (i % 2 === 0) answer();
    await clock.advance(0);
    expect(clock.pending).toBe(1);
    await clock.advance(2_000);
    calls.forEach(({ start, outcome }, i) => {
      if (i % 2 === 0) {
        expect(outcome.settled?.response?.status).toBe(200);
        expect(outcome.settled?.at).toBe(500);
      } else {
        expect(outcome.settled?.error).toMatchObject({ code: 'ERR_TIMEOUT', scope: 'attempt' });
        expect(outcome.settled?.at).toBe(start + 1_000);
      }
    });
    expect(clock.pending).toBe(0);
  });
});

describe('failing listeners', () => {
  it('an abort listener that throws does not keep the others from hearing of the abort', () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    const abort = new CallAbort();
    const child = abort.child();
    const heard: string[] = [];
    abort.on('abort', () => heard.push('first'));
    abort.on('abort', () => {
      throw new Error('listener bug');
    });
    abort.on('abort', () => heard.push('third'));
    abort.abort(new Error('stop'));
    expect(heard).toEqual(['first', 'third']);
    expect(child.aborted).toBe(true);
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        process.off('warning', onWarning);
        expect(warnings.some((m) => m.includes('listener bug'))).toBe(true);
        resolve();
      }),
    );
  });

  it('a deadline whose fire() throws does not stop the other due entries or the queue', async () => {
    const { clock, queue, log } = fixture();
    const bad = entry(clock, 'bad', log, () => {
      throw new Error('fire bug');
    });
    const [a, b] = entries(clock, log, 'a', 'b');
    queue.add(a as TestEntry);
    queue.add(bad);
    queue.add(b as TestEntry);
    await clock.advance(1_000);
    expect(log).toEqual(['a', 'bad', 'b']);
    const [c] = entries(clock, log, 'c');
    queue.add(c as TestEntry);
    await clock.advance(1_000);
    expect(log).toEqual(['a', 'bad', 'b', 'c']);
  });
});
