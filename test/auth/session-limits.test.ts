import { afterEach, describe, expect, it } from 'vitest';
import { createSession } from '../../src/auth/index.js';
import { FakeClock } from '../../src/testing.js';
import { startServer, type TestServer } from '../helpers/server.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

/** Waits (in real time, for loopback I/O) until `done()` holds. */
async function until(done: () => boolean, what: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

interface Arrival {
  readonly who: string;
  readonly at: number;
}

async function upstream(clock: FakeClock): Promise<{ server: TestServer; arrivals: Arrival[] }> {
  const arrivals: Arrival[] = [];
  const server = await startServer((req, res) => {
    // Measured where it counts: when the upstream sees the call, on the test's clock.
    arrivals.push({ who: String(req.headers['x-client'] ?? req.url), at: clock.now() });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  cleanup.push(() => server.close());
  return { server, arrivals };
}

function provider() {
  return { id: 'static', fetchToken: async () => ({ accessToken: 'token', expiresIn: 3600 }) };
}

describe('session-wide settings', () => {
  it('one 20/s bucket shared by two clients, 50/s for the client that overrides only the limit', async () => {
    const clock = new FakeClock();
    const { server, arrivals } = await upstream(clock);
    const session = createSession({
      providers: { fortinet: provider() },
      clock,
      timeout: false,
      retry: false,
      rateLimit: { limit: 20, window: '1s', strategy: 'queue' },
      circuitBreaker: { consecutiveFailures: 5 },
      services: {
        care: { baseUrl: `${server.url}/care` },
        ztp: { baseUrl: `${server.url}/ztp` },
      },
    });
    cleanup.push(() => session.close());
    await session.getToken();
    const care = session.client('care', { headers: { 'x-client': 'care' } });
    const ztp = session.client('ztp', { headers: { 'x-client': 'ztp' } });
    // Only the limit: window '1s' and strategy 'queue' stay inherited (so it queues instead of dropping).
    const fast = session.client('care', {
      name: 'care-fast',
      headers: { 'x-client': 'fast' },
      rateLimit: { limit: 50 },
    });
    const calls = [
      ...Array.from({ length: 150 }, () => care.get('/x')),
      ...Array.from({ length: 150 }, () => ztp.get('/x')),
      ...Array.from({ length: 400 }, () => fast.get('/x')),
    ];
    const total = calls.length;
    // Every call is either at the server or asleep in a limiter queue (a keep-alive timer on the fake clock).
    const settled = () => arrivals.length + clock.keepingAlive === total;
    const state = () => `${arrivals.length} arrived, ${clock.keepingAlive} queued of ${total}`;
    await until(settled, state);
    // The bursts: a full window of each bucket at once.
    expect(arrivals.filter((a) => a.who !== 'fast')).toHaveLength(20);
    expect(arrivals.filter((a) => a.who === 'fast')).toHaveLength(50);
    for (let t = 0; t < 15_000; t += 10) {
      await clock.advance(10);
      await until(settled, state);
    }
    await Promise.all(calls);
    const inWindow = (who: (w: string) => boolean, from: number, to: number) =>
      arrivals.filter((a) => who(a.who) && a.at >= from && a.at < to).length;
    // Steady state, away from the bursts and the ends of the queues.
    const shared = inWindow((w) => w !== 'fast', 1_000, 11_000) / 10;
    const own = inWindow((w) => w === 'fast', 1_000, 6_000) / 5;
    expect(Math.abs(shared - 20) / 20).toBeLessThan(0.03);
    expect(Math.abs(own - 50) / 50).toBeLessThan(0.03);
    // Both share the one bucket (FIFO): neither is starved, together they get 20/s, not 40.
    expect(inWindow((w) => w === 'care', 1_000, 11_000)).toBeGreaterThan(80);
    expect(inWindow((w) => w === 'ztp', 1_000, 11_000)).toBeGreaterThan(80);
    expect(arrivals).toHaveLength(total);
  }, 60_000);

  it('merges every level field by field; a service-level limit is one bucket for that service', async () => {
    const clock = new FakeClock();
    const { server, arrivals } = await upstream(clock);
    const session = createSession({
      providers: { fortinet: provider() },
      clock,
      timeout: { total: '30s' },
      retry: { retries: 0 },
      headers: { 'x-app': 'session', 'x-client': 'session' },
      rateLimit: { limit: 1, window: '1m', strategy: 'drop' },
      services: {
        a: { baseUrl: `${server.url}/a`, headers: { 'x-client': 'a' }, rateLimit: { limit: 2 } },
        b: { baseUrl: `${server.url}/b`, timeout: { attempt: '5s' } },
      },
    });
    cleanup.push(() => session.close());
    const a1 = session.client('a');
    const a2 = session.client('a', { name: 'a2' });
    const b = session.client('b');
    expect(b.options.timeout).toEqual({ total: '30s', attempt: '5s' });
    expect(a1.options.headers).toEqual({ 'x-app': 'session', 'x-client': 'a' });
    // Service a: 2 per minute shared by a1 and a2, strategy `drop` inherited from the session.
    await a1.get('/x');
    await a2.get('/x');
    await expect(a1.get('/x')).rejects.toMatchObject({ code: 'ERR_DROPPED' });
    // Service b: the session's bucket (1 per minute), not bound by service a's.
    await b.get('/x');
    await expect(b.get('/x')).rejects.toMatchObject({ code: 'ERR_DROPPED' });
    expect(arrivals.map((x) => x.who)).toEqual(['a', 'a', 'session']);
    // `rateLimit: false` on one client turns the limit off for it alone.
    const free = session.client('b', { name: 'free', rateLimit: false });
    await Promise.all([free.get('/x'), free.get('/x'), free.get('/x')]);
    expect(arrivals).toHaveLength(6);
  });
});
