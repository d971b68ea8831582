// /status.json carries each upstream's client state in the library's shape (`client.state()`), with breaker and
// limiter targets shown (not taken for secrets), while an API key in the base URL's query stays redacted.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientState } from '../../src/index.js';
import { type Rig, startRig } from './helpers.js';

const API_KEY = 'api-key-value-7f3a9c';

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await request(url);
  return { status: res.statusCode, text: await res.body.text() };
}

describe('/status.json: the state shape of client.state()', () => {
  let rig: Rig;
  let host: string;
  beforeAll(async () => {
    rig = await startRig(
      {},
      {
        circuitBreaker: { consecutiveFailures: 2, minimumCalls: 100, openDuration: '30s' },
        rateLimit: { limit: 100, window: '1s', strategy: 'queue' },
        retry: { retries: 1, baseDelay: '1ms', maxDelay: '2ms' },
        usage: { perMinute: 100, errorsPerMinute: 1 },
      },
    );
    host = new URL(rig.sandbox.url).host;
    // The first call's two attempts fail (500, retried once) and open the breaker; the next two are refused by it.
    for (let i = 0; i < 3; i++) await get(`${rig.gateway.url}/pets/pets?fault=500`);
  });
  afterAll(() => rig.close());

  it('shows breakers and limiter buckets by target, with the library’s fields', async () => {
    const doc = JSON.parse((await get(`${rig.gateway.url}/status.json`)).text) as {
      upstreams: { name: string; state: ClientState }[];
    };
    const row = doc.upstreams.find((u) => u.name === 'pets');
    expect(row).toBeDefined();
    const state = row!.state;
    expect(state.name).toBe('pets');
    expect(state.circuitBreaker).toEqual({
      enabled: true,
      state: 'open',
      breakers: [
        {
          target: host,
          state: 'open',
          calls: 2,
          failures: 2,
          consecutiveFailures: 2,
          halfOpenIn: expect.any(Number),
        },
      ],
    });
    const halfOpenIn = state.circuitBreaker.breakers[0]!.halfOpenIn;
    expect(halfOpenIn).toBeGreaterThan(20_000);
    expect(halfOpenIn).toBeLessThanOrEqual(30_000);
    expect(state.rateLimit).toMatchObject({
      enabled: true,
      strategy: 'queue',
      limit: 100,
      window: 1000,
      allowed: 2,
      dropped: 0,
      raised: 0,
      efficiency: 1,
      queueLength: 0,
      targets: [{ target: host, available: expect.any(Number), nextIn: expect.any(Number) }],
    });
    expect(state.bulkhead).toEqual({
      enabled: true,
      inFlight: 0,
      queued: 0,
      maxConcurrent: 256,
      queueSize: 64,
    });
    expect(state.retryBudget).toEqual({
      enabled: true,
      ratio: 0.2,
      minRetries: 3,
      targets: [{ target: host, requests: 0, retries: 0, allowed: 3 }],
    });
    expect(state.usage).toMatchObject({
      enabled: true,
      lastMinute: { calls: 3, errors: 3 },
      limits: { perMinute: 100, errorsPerMinute: 1 },
      withinLimits: false,
      exceeded: ['errorsPerMinute'],
    });
    // The same keys, all the way down, as the library's client.state() of that upstream.
    const library = rig.gateway.upstreams.get('pets')!.client.state();
    expect(shape(state)).toEqual(shape(library));
    expect(JSON.stringify(doc)).not.toContain('[REDACTED]');
  });

  it('the status page embeds the same document for its script to render', async () => {
    const page = (await get(`${rig.gateway.url}/status`)).text;
    const embedded = /<script type="application\/json" id="status-data">(.*?)<\/script>/s.exec(page)?.[1];
    const doc = JSON.parse(embedded ?? 'null') as { upstreams: { state: ClientState }[] };
    expect(doc.upstreams[0]!.state.circuitBreaker.breakers[0]).toMatchObject({ target: host, state: 'open' });
    expect(doc.upstreams[0]!.state.rateLimit.enabled).toBe(true);
  });
});

describe('/status.json keeps redacting secrets', () => {
  it('redacts a status provider’s `key` fields while the breaker and limiter targets show the host', async () => {
    const rig = await startRig(
      {},
      { circuitBreaker: { consecutiveFailures: 5 }, rateLimit: { limit: 10 } },
      { status: () => ({ key: API_KEY, apiKey: API_KEY, note: 'shown' }) },
    );
    try {
      const host = new URL(rig.sandbox.url).host;
      expect((await get(`${rig.gateway.url}/pets/pets`)).status).toBe(200);
      const json = (await get(`${rig.gateway.url}/status.json`)).text;
      const page = (await get(`${rig.gateway.url}/status`)).text;
      for (const text of [json, page]) expect(text).not.toContain(API_KEY);
      const row = (JSON.parse(json) as { upstreams: { extra: unknown; state: ClientState }[] }).upstreams[0]!;
      expect(row.extra).toEqual({ key: '[REDACTED]', apiKey: '[REDACTED]', note: 'shown' });
      expect(row.state.circuitBreaker.breakers.map((b) => b.target)).toEqual([host]);
      expect(row.state.rateLimit.enabled && row.state.rateLimit.targets.map((t) => t.target)).toEqual([host]);
    } finally {
      await rig.close();
    }
  });
});

/** The key paths of a JSON value (arrays by their first element), to compare shapes without values. */
function shape(value: unknown, at = ''): string[] {
  if (Array.isArray(value)) return value.length > 0 ? shape(value[0], `${at}[]`) : [`${at}[]`];
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [`${at}.${k}`, ...shape(v, `${at}.${k}`)]);
  }
  return [];
}
