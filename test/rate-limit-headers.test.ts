import fc from 'fast-check';
import { serializeItem, serializeList, Token } from 'structured-headers';
import { describe, expect, it } from 'vitest';
import { createClient, parseRateLimitHeaders, parseRateLimitPolicies } from '../src/index.js';
import { sendJson, startServer } from './helpers/server.js';

const NOW = Date.UTC(2026, 0, 1);

describe('parseRateLimitHeaders', () => {
  it('reads the RateLimit / RateLimit-Policy structured fields and picks the most constraining policy', () => {
    const info = parseRateLimitHeaders(
      {
        'ratelimit-policy': '"burst";q=100;w=60, "daily";q=1000;w=86400;qu="requests"',
        ratelimit: '"burst";r=42;t=30, "daily";r=7;t=3600',
      },
      NOW,
    );
    expect(info).toEqual({
      source: 'ratelimit',
      limit: 1000,
      remaining: 7,
      reset: 3_600_000,
      window: 86_400_000,
      policy: 'daily',
      policies: [
        { name: 'burst', quota: 100, window: 60_000, unit: undefined },
        { name: 'daily', quota: 1000, window: 86_400_000, unit: 'requests' },
      ],
    });
  });

  it("reads the earlier drafts' separate headers and dictionary form", () => {
    expect(
      parseRateLimitHeaders(
        {
          'ratelimit-limit': '100, 100;w=60',
          'ratelimit-remaining': '5',
          'ratelimit-reset': '12',
          'ratelimit-policy': '100;w=60',
        },
        NOW,
      ),
    ).toMatchObject({ source: 'ratelimit-draft', limit: 100, remaining: 5, reset: 12_000, window: 60_000 });
    expect(parseRateLimitHeaders({ ratelimit: 'limit=10, remaining=0, reset=4' }, NOW)).toMatchObject({
      source: 'ratelimit-draft',
      limit: 10,
      remaining: 0,
      reset: 4000,
    });
  });

  it('reads X-RateLimit-*, with an epoch reset turned into a wait', () => {
    expect(
      parseRateLimitHeaders(
        {
          'x-ratelimit-limit': '5000',
          'x-ratelimit-remaining': '4999',
          'x-ratelimit-reset': String(NOW / 1000 + 90),
        },
        NOW,
      ),
    ).toEqual({
      source: 'x-ratelimit',
      limit: 5000,
      remaining: 4999,
      reset: 90_000,
      window: undefined,
      policy: undefined,
      policies: [],
    });
  });

  it('returns undefined without rate-limit headers and leaves out what cannot be parsed', () => {
    expect(parseRateLimitHeaders({ 'content-type': 'text/plain' }, NOW)).toBeUndefined();
    expect(
      parseRateLimitHeaders({ 'x-ratelimit-remaining': 'lots', 'x-ratelimit-limit': '10' }, NOW),
    ).toEqual(expect.objectContaining({ limit: 10, remaining: undefined }));
    expect(parseRateLimitHeaders({ ratelimit: '"x";r=-1' }, NOW)).toBeUndefined();
  });

  it('never throws, whatever the header values (property)', () => {
    const value = fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 3 }));
    fc.assert(
      fc.property(value, value, value, value, (a, b, c, d) => {
        const info = parseRateLimitHeaders(
          { ratelimit: a, 'ratelimit-policy': b, 'x-ratelimit-reset': c, 'ratelimit-limit': d },
          NOW,
        );
        if (info === undefined) return;
        for (const n of [info.limit, info.remaining, info.reset, info.window])
          expect(n === undefined || (Number.isFinite(n) && n >= 0)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('reads back any policies and remaining counts a server serialises (property)', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/);
    const policy = fc.record({
      name,
      quota: fc.integer({ min: 0, max: 1e9 }),
      window: fc.integer({ min: 1, max: 1e6 }),
      remaining: fc.integer({ min: 0, max: 1e9 }),
      reset: fc.integer({ min: 0, max: 1e6 }),
    });
    fc.assert(
      fc.property(fc.uniqueArray(policy, { minLength: 1, maxLength: 4, selector: (p) => p.name }), (ps) => {
        const headers = {
          'ratelimit-policy': serializeList(
            ps.map((p) => [
              p.name,
              new Map<string, number | Token>([
                ['q', p.quota],
                ['w', p.window],
              ]),
            ]),
          ),
          ratelimit: serializeList(
            ps.map((p) => [
              p.name,
              new Map<string, number>([
                ['r', p.remaining],
                ['t', p.reset],
              ]),
            ]),
          ),
        };
        const info = parseRateLimitHeaders(headers, NOW);
        const tightest = ps.reduce((a, b) => (b.remaining < a.remaining ? b : a));
        expect(info).toEqual({
          source: 'ratelimit',
          limit: tightest.quota,
          remaining: tightest.remaining,
          reset: tightest.reset * 1000,
          window: tightest.window * 1000,
          policy: tightest.name,
          policies: ps.map((p) => ({
            name: p.name,
            quota: p.quota,
            window: p.window * 1000,
            unit: undefined,
          })),
        });
      }),
      { numRuns: 300 },
    );
  });

  it('reads a policy whose name is a token, and the earlier numeric form', () => {
    expect(parseRateLimitPolicies(serializeItem([new Token('std'), new Map([['q', 5]])]))).toEqual([
      { name: 'std', quota: 5, window: undefined, unit: undefined },
    ]);
    expect(parseRateLimitPolicies('10;w=1, 1000;w=3600')).toEqual([
      { name: undefined, quota: 10, window: 1000, unit: undefined },
      { name: undefined, quota: 1000, window: 3_600_000, unit: undefined },
    ]);
  });
});

describe('response.rateLimit', () => {
  it('is what the server sent, on a real response and on the HttpError of a 429', async () => {
    const server = await startServer((req, res) => {
      const limited = req.url === '/limited';
      sendJson(
        res,
        limited ? 429 : 200,
        {},
        {
          'ratelimit-policy': '"default";q=60;w=60',
          ratelimit: `"default";r=${limited ? 0 : 59};t=${limited ? 45 : 60}`,
        },
      );
    });
    const api = createClient({ baseUrl: server.url, retry: false });
    const response = await api.get('/ok');
    expect(response.rateLimit).toMatchObject({ limit: 60, remaining: 59, reset: 60_000, window: 60_000 });
    expect(response.rateLimit).toBe(response.rateLimit);
    const error = (await api.get('/limited').catch((e: unknown) => e)) as { headers: Record<string, string> };
    expect(parseRateLimitHeaders(error.headers)).toMatchObject({ remaining: 0, reset: 45_000 });
    await api.close();
    await server.close();
  });
});
