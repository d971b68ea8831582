import { afterEach, describe, expect, it } from 'vitest';
import { createSession } from '../../src/auth/index.js';
import { bearerAuth } from '../../src/auth/static.js';
import { createClient } from '../../src/client/client.js';
import { Secret } from '../../src/core/secret.js';
import { createJsonLogger } from '../../src/observability/logging.js';
import { createMetrics } from '../../src/observability/metrics.js';
import {
  attemptTimeout,
  bulkhead,
  circuitBreaker,
  hooks,
  RetryBudget,
  rateLimit,
  retry,
  standardPolicies,
  TokenBucketLimiter,
  totalTimeout,
  UsageTracker,
} from '../../src/policies/index.js';
import { FakeClock } from '../../src/testing.js';
import { refusal } from '../helpers/options.js';
import { startServer, type TestServer } from '../helpers/server.js';

const SECRET = 'sk-live-7f3a9c1e5b2d4086';
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function server(statuses: number[]): Promise<TestServer> {
  const s = await startServer((_req, res) => {
    res.statusCode = statuses.shift() ?? 200;
    res.end('{"ok":true}');
  });
  cleanup.push(() => s.close());
  return s;
}

function session(extra: Record<string, unknown> = {}) {
  const s = createSession({
    tokenUrl: 'http://127.0.0.1:9/token',
    clients: { demo: new Secret('demo-secret') },
    services: { billing: { baseUrl: 'http://127.0.0.1:9/api' } },
    ...extra,
  });
  cleanup.push(() => s.close());
  return s;
}

const noop = () => undefined;
const policy = { name: 'noop', wrap: (next: unknown) => next } as never;

// Every public constructor: a misspelt key (its value secret-looking) is refused with the option path and a
// did-you-mean, and the message never contains the value.
const MISSPELT: [string, () => unknown, string, string][] = [
  ['createClient', () => createClient({ retyr: SECRET } as never), 'retyr', 'retry'],
  [
    'createClient http',
    () => createClient({ http: { conections: SECRET } } as never),
    'http.conections',
    'connections',
  ],
  [
    'createClient redact',
    () => createClient({ redact: { header: [SECRET] } } as never),
    'redact.header',
    'headers',
  ],
  [
    'createClient propagate',
    () => createClient({ propagate: { requestIdHeadr: SECRET } } as never),
    'propagate.requestIdHeadr',
    'requestIdHeader',
  ],
  [
    'createClient hooks',
    () => createClient({ hooks: { onRequst: noop } } as never),
    'hooks.onRequst',
    'onRequest',
  ],
  [
    'createClient timeout',
    () => createClient({ timeout: { totl: SECRET } } as never),
    'timeout.totl',
    'total',
  ],
  [
    'createClient retry',
    () => createClient({ retry: { retires: SECRET } } as never),
    'retry.retires',
    'retries',
  ],
  ['retry', () => retry({ maxDelya: SECRET } as never), 'retry.maxDelya', 'maxDelay'],
  [
    'circuitBreaker',
    () => circuitBreaker({ failureRate: SECRET } as never),
    'circuitBreaker.failureRate',
    'failureRatio',
  ],
  ['rateLimit', () => rateLimit({ limit: 5, brust: SECRET } as never), 'rateLimit.brust', 'burst'],
  [
    'bulkhead',
    () => bulkhead({ maxConcurrent: 1, queSize: SECRET } as never),
    'bulkhead.queSize',
    'queueSize',
  ],
  [
    'TokenBucketLimiter',
    () => new TokenBucketLimiter({ limit: 1, windw: SECRET } as never),
    'rateLimit.windw',
    'window',
  ],
  ['RetryBudget', () => new RetryBudget({ ratoi: SECRET } as never), 'retry.budget.ratoi', 'ratio'],
  ['UsageTracker', () => new UsageTracker({ limts: SECRET } as never), 'usage.limts', 'limits'],
  [
    'UsageLimits',
    () => new UsageTracker({ limits: { perHuor: SECRET } } as never),
    'usage.limits.perHuor',
    'perHour',
  ],
  ['hooks', () => hooks({ onRespons: noop } as never), 'hooks.onRespons', 'onResponse'],
  ['standardPolicies', () => standardPolicies({ bulkhed: SECRET } as never), 'bulkhed', 'bulkhead'],
  ['createSession', () => session({ servics: SECRET }), 'servics', 'services'],
  [
    'createSession service',
    () => session({ services: { billing: { baseUrl: 'http://x', retyr: SECRET } } }),
    'services.billing.retyr',
    'retry',
  ],
  ['session.client', () => session().client('billing', { timout: SECRET } as never), 'timout', 'timeout'],
  ['createMetrics', () => createMetrics({ prefx: SECRET } as never), 'metrics.prefx', 'prefix'],
  ['createJsonLogger', () => createJsonLogger({ levle: SECRET } as never), 'logger.levle', 'level'],
  [
    'per call',
    () => createClient().get('http://127.0.0.1:9/', { parms: SECRET } as never),
    'parms',
    'params',
  ],
];

describe('every constructor refuses an unknown key with a did-you-mean, never printing the value', () => {
  it.each(MISSPELT)('%s', async (_name, make, option, hint) => {
    let error: { option: string; message: string };
    try {
      // A per-call refusal comes as a rejected promise.
      await make();
      throw new Error('expected a refusal');
    } catch (thrown) {
      error = refusal(() => {
        throw thrown;
      });
    }
    expect(error.option).toBe(option);
    expect(error.message).toBe(`Invalid option "${option}": unknown option; did you mean "${hint}"?`);
    expect(error.message).not.toContain(SECRET);
  });

  it.each([
    ['createClient', 'maxBodySize', () => createClient({ maxBodySize: SECRET } as never)],
    ['createClient', 'timeout', () => createClient({ baseUrl: 'http://x', timeout: SECRET } as never)],
    ['retry', 'retry.retries', () => retry({ retries: SECRET } as never)],
    ['rateLimit', 'rateLimit.limit', () => rateLimit({ limit: SECRET } as never)],
    ['bulkhead', 'bulkhead.maxConcurrent', () => bulkhead({ maxConcurrent: SECRET } as never)],
    [
      'circuitBreaker',
      'circuitBreaker.openDuration',
      () => circuitBreaker({ openDuration: SECRET } as never),
    ],
    ['totalTimeout', 'timeout.total', () => totalTimeout(SECRET as never)],
    ['session', 'policies', () => session({ policies: SECRET })],
  ] as const)('%s refuses a wrong value naming %s without printing it', (_name, option, make) => {
    const error = refusal(make);
    expect(error.option).toBe(option);
    expect(error.message).toMatch(/expected/);
    expect(error.message).not.toContain(SECRET);
  });
});

describe('options that vanished (issue 10, defect 3)', () => {
  it('createClient({ policies, retry, timeout }) names the policy to add instead', () => {
    expect(refusal(() => createClient({ policies: [policy], retry: { retries: 5 }, timeout: 1000 }))).toEqual(
      {
        option: 'timeout',
        message:
          'Invalid option "timeout": cannot be combined with "policies"; put `totalTimeout(…)` and `attemptTimeout(…)` into `policies`, or drop `policies` to use the preset',
      },
    );
    expect(refusal(() => createClient({ policies: [policy], retry: { retries: 5 } })).message).toBe(
      'Invalid option "retry": cannot be combined with "policies"; put `retry(…)` into `policies`, or drop `policies` to use the preset',
    );
    for (const key of ['circuitBreaker', 'rateLimit', 'bulkhead', 'preset', 'auth']) {
      const value =
        key === 'preset'
          ? 'standard'
          : key === 'auth'
            ? bearerAuth('t')
            : key === 'bulkhead'
              ? { maxConcurrent: 1 }
              : key === 'rateLimit'
                ? { limit: 1 }
                : {};
      expect(refusal(() => createClient({ policies: [], [key]: value })).option).toBe(key);
    }
  });

  it('with({ policies }) replaces the preset options instead of clashing with them', () => {
    const api = createClient({ retry: { retries: 1 }, timeout: 1000 });
    expect(api.with({ policies: [] }).handler).toBeTypeOf('function');
    expect(refusal(() => createClient({ policies: [] }).with({ retry: { retries: 2 } })).option).toBe(
      'retry',
    );
  });

  it("session.client(name, { rateLimit }) is refused when the session's policies replace the preset", () => {
    const s = session({ policies: [policy] });
    expect(refusal(() => s.client('billing', { rateLimit: { limit: 1 } }))).toEqual({
      option: 'rateLimit',
      message:
        'Invalid option "rateLimit": the session\'s policies replace the preset, so it would be ignored; put `rateLimit(…)` into `policies`, or drop `policies` to use the preset',
    });
    // Without session policies the same option builds the preset with the limiter in it.
    const limited = session().client('billing', { rateLimit: { limit: 1 } });
    expect(limited.handler).toBeTypeOf('function');
  });

  it('session-wide limits are refused as not supported yet', () => {
    expect(refusal(() => session({ rateLimit: { limit: 1 } })).message).toMatch(
      /^Invalid option "rateLimit": not supported yet; session-wide limits come in a later version/,
    );
  });

  it('UsageLimits compares errorsPerHour (issue 13) instead of reporting withinLimits: true', () => {
    const tracker = new UsageTracker({ limits: { perHour: 100, errorsPerHour: 1 } });
    tracker.record(true);
    expect(tracker.snapshot()).toMatchObject({ withinLimits: true, exceeded: [] });
    tracker.record(true);
    expect(tracker.snapshot()).toMatchObject({ withinLimits: false, exceeded: ['errorsPerHour'] });
    expect(refusal(() => new UsageTracker({ limits: { errorsPerHour: -1 } })).option).toBe(
      'usage.limits.errorsPerHour',
    );
  });

  it('per-call retry settings go through the retry schema; redirects are refused as not supported yet', async () => {
    const api = createClient({ baseUrl: 'http://127.0.0.1:9' });
    await expect(api.get('/', { retry: { retires: 5 } } as never)).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTION',
      option: 'retry.retires',
      message: expect.stringMatching(/did you mean "retries"/) as string,
    });
    await expect(api.get('/', { retry: { budget: { ratio: 1 } } } as never)).rejects.toMatchObject({
      option: 'retry.budget',
      message: expect.stringMatching(/shared by every call of a client/) as string,
    });
    await expect(
      createClient({ baseUrl: 'http://127.0.0.1:9', retry: false }).get('/', { retry: { retries: 5 } }),
    ).rejects.toMatchObject({
      option: 'retry',
      message: expect.stringMatching(/this client has no retry policy to apply it/) as string,
    });
    // Redirects are followed now (issue 14): a per-call `redirect` is `false` or `{ max }`, other spellings are named.
    await expect(api.get('/', { redirect: 'follow' } as never)).rejects.toMatchObject({
      option: 'redirect',
      message: expect.stringMatching(/expected false .* or \{ max: n \}/) as string,
    });
    await expect(api.get('/', { maxRedirects: 3 } as never)).rejects.toMatchObject({
      option: 'maxRedirects',
      message: expect.stringMatching(/`redirect: \{ max: n \}`/) as string,
    });
    await expect(api.get('/', { idempotent: 'yes' } as never)).rejects.toMatchObject({
      option: 'idempotent',
    });
  });
});

describe('createClient({ auth }) keeps the preset (issue 10, defect 2)', () => {
  it('retries a 503 with the credential on every attempt', async () => {
    const s = await server([503, 503, 503]);
    const api = createClient({
      baseUrl: s.url,
      auth: bearerAuth('tok-1'),
      retry: { baseDelay: 1, maxDelay: 2 },
    });
    cleanup.push(() => api.close());
    const response = await api.get('/me');
    expect(response.status).toBe(200);
    expect(response.attempts).toBe(4);
    expect(s.requests.map((r) => r.headers.authorization)).toEqual(Array(4).fill('Bearer tok-1'));
    expect(api.handler).toBeTypeOf('function');
  });

  it('puts auth inside the limiters and outside the attempt timeout', () => {
    const names = standardPolicies({ auth: bearerAuth('t'), rateLimit: { limit: 1 } }, 'standard').map(
      (p) => p.name,
    );
    expect(names.join(' → ')).toBe(
      'totalTimeout → redirect → retry → circuitBreaker → rateLimit → auth → attemptTimeout',
    );
  });
});

describe('durations in every duration option', () => {
  it('accepts milliseconds or strings through the one parser', () => {
    expect((totalTimeout('1.5s') as unknown as { timeout: number }).timeout).toBe(1500);
    expect((attemptTimeout('250ms') as unknown as { timeout: number }).timeout).toBe(250);
    expect(new TokenBucketLimiter({ limit: 10, window: '1m' }).window).toBe(60_000);
    expect(rateLimit({ limit: 10, window: '2s', maxWait: '5s' }).limiter.window).toBe(2000);
    expect(retry({ baseDelay: '100ms', maxDelay: '2s', maxRetryAfter: '1m' }).name).toBe('retry');
    expect(() =>
      createClient({ timeout: { total: '30s', attempt: '10s' }, maxBodySize: '1mb' }),
    ).not.toThrow();
    expect(refusal(() => createClient({ timeout: { total: '1s', attempt: '2s' } })).option).toBe(
      'timeout.attempt',
    );
    expect(
      refusal(() =>
        standardPolicies({ timeout: { attempt: '20s', total: '1m' }, circuitBreaker: { window: '30s' } }),
      ),
    ).toMatchObject({
      option: 'circuitBreaker.window',
    });
  });

  it('a breaker opened for "2s" half-opens after 2000 ms', () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({ consecutiveFailures: 1, openDuration: '2s', window: '1m', clock });
    const b = breaker.breaker('h');
    b.record(clock.now(), true, false);
    expect(b.state(clock.now() + 1999)).toBe('open');
    expect(b.state(clock.now() + 2000)).toBe('half-open');
  });

  it('a bulkhead queueTimeout of "500ms" times a queued call out after 500 ms', async () => {
    const clock = new FakeClock();
    const s = await startServer(() => undefined); // never answers
    cleanup.push(() => s.close());
    const limit = bulkhead({ maxConcurrent: 1, queueSize: 1, queueTimeout: '500ms' });
    const api = createClient({ baseUrl: s.url, clock, policies: [limit] });
    const controller = new AbortController();
    const hanging = api.get('/h', { signal: controller.signal }).catch((e: unknown) => e);
    while (s.requests.length < 1) await new Promise((r) => setTimeout(r, 5));
    let settled = false;
    const queued = api.get('/q').catch((e: unknown) => {
      settled = true;
      return e;
    });
    await clock.advance(499);
    expect(settled).toBe(false);
    await clock.advance(1);
    expect(await queued).toMatchObject({ code: 'ERR_BULKHEAD_REJECTED', reason: 'queue-timeout' });
    controller.abort();
    await hanging;
    await api.close();
  });

  it('a per-call timeout given as a string applies', async () => {
    const clock = new FakeClock();
    const s = await startServer(() => undefined);
    cleanup.push(() => s.close());
    const api = createClient({ baseUrl: s.url, clock, retry: false });
    cleanup.push(() => api.close());
    const call = api.get('/slow', { timeout: { total: '2s', attempt: '1s' } }).catch((e: unknown) => e);
    while (s.requests.length < 1) await new Promise((r) => setTimeout(r, 5));
    await clock.advance(1000);
    expect(await call).toMatchObject({ code: 'ERR_TIMEOUT' });
  });
});
