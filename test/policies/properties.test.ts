import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Breaker, CIRCUIT_BREAKER_DEFAULTS, createBackoff, TokenBucketLimiter } from '../../src/index.js';
import { FakeClock } from '../../src/testing.js';

describe('properties', () => {
  it('the token bucket never admits more than limit + burst in any window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 10, max: 2_000 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 300 }),
        (limit, window, burst, gaps) => {
          const clock = new FakeClock();
          let now = 0;
          const limiter = new TokenBucketLimiter({
            limit,
            window,
            burst,
            clock: { ...clock, now: () => now } as FakeClock,
          });
          const admitted: number[] = [];
          for (const gap of gaps) {
            now += gap;
            if (limiter.reserve('k', 0).ok) admitted.push(now);
          }
          // Slide a window over every admitted instant.
          for (let i = 0; i < admitted.length; i++) {
            let j = i;
            while (j < admitted.length && admitted[j]! < admitted[i]! + window) j++;
            expect(j - i).toBeLessThanOrEqual(limit + burst);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('queued reservations are granted in FIFO order, and the bucket refuses waits past maxWait', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 60 }), (limit, callers) => {
        const limiter = new TokenBucketLimiter({ limit, window: 1000, burst: 1, clock: new FakeClock() });
        const waits: number[] = [];
        for (let i = 0; i < callers; i++) {
          const r = limiter.reserve('k', 5_000);
          if (r.ok) waits.push(r.wait);
          else expect(r.retryAfter).toBeGreaterThan(5_000);
        }
        for (let i = 1; i < waits.length; i++) expect(waits[i]).toBeGreaterThan(waits[i - 1]!);
        expect(waits.at(-1)!).toBeLessThanOrEqual(5_000);
      }),
    );
  });

  it('backoff delays stay within their bounds', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('none', 'constant', 'exponential', 'decorrelated' as const),
        fc.integer({ min: 0, max: 1_000 }),
        fc.integer({ min: 0, max: 60_000 }),
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0, max: 0.9999999, noNaN: true }),
        fc.double({ min: 0, max: 100_000, noNaN: true }),
        (kind, base, extra, retry, random, previous) => {
          const cap = base + extra;
          const delay = createBackoff({ kind, base, cap })(retry, previous, random);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(cap);
          if (kind === 'exponential')
            expect(delay).toBeLessThanOrEqual(Math.min(cap, base * 2 ** (retry - 1)));
          if (kind === 'decorrelated') expect(delay).toBeGreaterThanOrEqual(Math.min(base, cap));
        },
      ),
    );
  });

  it('a half-open breaker never lets more than the configured number of probes through', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.constantFrom('acquire', 'succeed', 'fail', 'tick'), { maxLength: 200 }),
        (probes, ops) => {
          let now = 0;
          const settings = {
            ...CIRCUIT_BREAKER_DEFAULTS,
            halfOpenProbes: probes,
            consecutiveFailures: 1,
            openDuration: 1_000,
          };
          const breaker = new Breaker('k', settings, () => undefined);
          breaker.record(now, true, false); // open it
          const inFlight: boolean[] = [];
          for (const op of ops) {
            if (op === 'tick') now += 600;
            else if (op === 'acquire') {
              const wasHalfOpen = breaker.state(now) === 'half-open';
              if (breaker.tryAcquire(now) === undefined) inFlight.push(wasHalfOpen);
            } else if (inFlight.length > 0) {
              breaker.record(now, op === 'fail', inFlight.shift()!);
            }
            if (breaker.state(now) === 'half-open') {
              expect(inFlight.filter(Boolean).length).toBeLessThanOrEqual(probes);
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
