// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests are about ${ENV} interpolation syntax.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isInvalidOptionError } from '../../src/core/errors.js';
import {
  bulkheadOptionsSchema,
  checkKeys,
  circuitBreakerOptionsSchema,
  httpOptionsSchema,
  notYet,
  parseDuration,
  parseOptions,
  parseSize,
  rateLimitOptionsSchema,
  retryOptionsSchema,
  suggest,
  timeoutOptionSchema,
  usageLimitsSchema,
} from '../../src/core/options/index.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { configIssues, refusal } from '../helpers/options.js';

const SECRET = 'sk-live-7f3a9c1e5b2d4086';

describe('durations and sizes: one parser', () => {
  it.each([
    [250, 250],
    ['500ms', 500],
    ['1.5s', 1500],
    ['60s', 60_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    [' 2 S ', 2000],
    ['750', 750],
    [0, 0],
  ])('parseDuration(%j) = %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([
    ['soon'],
    ['-1s'],
    [-5],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    ['5 days'],
    ['1e3'],
    [null],
    [{}],
  ])('parseDuration(%j) is not a duration', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });

  it('parses sizes in binary units', () => {
    expect(parseSize('512kb')).toBe(512 * 1024);
    expect(parseSize('10MB')).toBe(10 * 1024 ** 2);
    expect(parseSize(1.5)).toBeUndefined();
    expect(parseSize('lots')).toBeUndefined();
  });

  it('gives the gateway and the library the same durations', () => {
    const config = parseGatewayConfig(
      { upstreams: { a: { baseUrl: 'http://x', retry: { baseDelay: '1.5s', maxDelay: '1m' } } } },
      { env: {} },
    );
    const upstream = config.upstreams.a;
    const library = parseOptions(retryOptionsSchema, { baseDelay: '1.5s', maxDelay: '1m' }, 'retry');
    expect(upstream?.retry).toEqual({ baseDelay: 1500, maxDelay: 60_000 });
    expect(library).toEqual({ baseDelay: 1500, maxDelay: 60_000 });
  });
});

describe('parseOptions', () => {
  it.each([
    [retryOptionsSchema, 'retry', { retires: 3 }, 'retry.retires', 'retries'],
    [retryOptionsSchema, 'retry', { basedelay: 1 }, 'retry.basedelay', 'baseDelay'],
    [retryOptionsSchema, 'retry', { budget: { ratoi: 0.5 } }, 'retry.budget.ratoi', 'ratio'],
    [
      circuitBreakerOptionsSchema,
      'circuitBreaker',
      { failureRate: 0.5 },
      'circuitBreaker.failureRate',
      'failureRatio',
    ],
    [rateLimitOptionsSchema, 'rateLimit', { limit: 1, brust: 2 }, 'rateLimit.brust', 'burst'],
    [bulkheadOptionsSchema, 'bulkhead', { maxConcurrent: 1, queSize: 2 }, 'bulkhead.queSize', 'queueSize'],
    [timeoutOptionSchema, 'timeout', { totl: 1 }, 'timeout.totl', 'total'],
    [httpOptionsSchema, 'http', { conections: 1 }, 'http.conections', 'connections'],
  ] as const)('%# refuses a misspelt key with a did-you-mean', (schema, where, value, option, hint) => {
    const { option: got, message } = refusal(() => parseOptions(schema, value, where));
    expect(got).toBe(option);
    expect(message).toBe(`Invalid option "${option}": unknown option; did you mean "${hint}"?`);
  });

  it('lists the known keys when nothing is close', () => {
    expect(
      refusal(() => parseOptions(bulkheadOptionsSchema, { maxConcurrent: 1, zzz: 1 }, 'bulkhead')).message,
    ).toBe(
      'Invalid option "bulkhead.zzz": unknown option (known: maxConcurrent, queueSize, queueTimeout, keyBy)',
    );
  });

  it('names the path and the expected type, never the value', () => {
    const cases: [unknown, string, RegExp][] = [
      [{ retries: SECRET }, 'retry.retries', /expected a number \(got a string\)/],
      [{ baseDelay: SECRET }, 'retry.baseDelay', /expected a duration such as 500ms/],
      [{ idempotencyKey: 42 }, 'retry.idempotencyKey', /expected one of: a boolean \| a string/],
      [{ retries: 1.5 }, 'retry.retries', /expected a whole number$/],
      [{ retries: -1 }, 'retry.retries', /expected a number >= 0$/],
      [
        { backoff: SECRET },
        'retry.backoff',
        /expected one of "none", "constant", "exponential" or "decorrelated"/,
      ],
      [{ retryOn: SECRET }, 'retry.retryOn', /expected a function/],
    ];
    for (const [value, option, pattern] of cases) {
      const error = refusal(() => parseOptions(retryOptionsSchema, value, 'retry'));
      expect(error.option).toBe(option);
      expect(error.message).toMatch(pattern);
      expect(error.message).not.toContain(SECRET);
    }
    expect(refusal(() => parseOptions(retryOptionsSchema, { retries: 1.5 }, 'retry')).message).not.toContain(
      '1.5',
    );
  });

  it('puts every problem on the error, unknown keys first', () => {
    try {
      parseOptions(bulkheadOptionsSchema, { maxConcurent: 3, queueSize: -1 }, 'bulkhead');
      expect.unreachable();
    } catch (error) {
      if (!isInvalidOptionError(error)) throw error;
      expect(error.issues).toEqual([
        { path: 'bulkhead.maxConcurent', message: 'unknown option; did you mean "maxConcurrent"?' },
        { path: 'bulkhead.maxConcurrent', message: 'required (a number)' },
        { path: 'bulkhead.queueSize', message: 'expected a number >= 0' },
      ]);
      expect(error.message).toBe(
        'Invalid option "bulkhead.maxConcurent": unknown option; did you mean "maxConcurrent"? (and 2 more problems)',
      );
    }
  });

  it('refuses options a later version adds with "not supported yet"', () => {
    const schema = z.strictObject({ now: z.number().optional(), later: notYet('use `now` meanwhile') });
    expect(refusal(() => parseOptions(schema, { now: 1, later: 1 }, 'limits'))).toEqual({
      option: 'limits.later',
      message: 'Invalid option "limits.later": not supported yet; use `now` meanwhile',
    });
  });

  it('takes error limits beside call limits (usage)', () => {
    const limits = { perHour: 10, errorsPerMinute: 1, errorsPerFiveMinutes: 2, errorsPerHour: 3 };
    expect(parseOptions(usageLimitsSchema, limits, 'limits')).toEqual(limits);
    expect(refusal(() => parseOptions(usageLimitsSchema, { errorsPerHour: 1.5 }, 'limits')).option).toBe(
      'limits.errorsPerHour',
    );
  });

  it('requires a limit unless a limiter is given', () => {
    expect(refusal(() => parseOptions(rateLimitOptionsSchema, { window: '1s' }, 'rateLimit')).option).toBe(
      'rateLimit.limit',
    );
    const limiter = { reserve: () => undefined, pause: () => undefined };
    expect(parseOptions(rateLimitOptionsSchema, { limiter }, 'rateLimit').limiter).toBe(limiter);
  });

  it('accepts durations as numbers or strings, and Infinity or false to turn a timeout off', () => {
    expect(parseOptions(timeoutOptionSchema, '5s', 'timeout')).toBe(5000);
    expect(parseOptions(timeoutOptionSchema, { total: '1m', attempt: 2500 }, 'timeout')).toEqual({
      total: 60_000,
      attempt: 2500,
    });
    expect(parseOptions(timeoutOptionSchema, Number.POSITIVE_INFINITY, 'timeout')).toBe(
      Number.POSITIVE_INFINITY,
    );
    expect(parseOptions(timeoutOptionSchema, false, 'timeout')).toBe(false);
    expect(refusal(() => parseOptions(timeoutOptionSchema, true, 'timeout')).message).toContain(
      '(got a boolean)',
    );
    expect(
      refusal(() => parseOptions(circuitBreakerOptionsSchema, { window: 0 }, 'circuitBreaker')).message,
    ).toBe('Invalid option "circuitBreaker.window": expected a duration > 0');
  });
});

describe('checkKeys (per-call hot path)', () => {
  const KNOWN = new Set(['params', 'query', 'retry']);
  const LATER = new Map([['redirect', 'redirects are not followed yet']]);

  it('passes known keys and refuses unknown ones with a did-you-mean', () => {
    expect(() => checkKeys({ params: {}, retry: false }, KNOWN)).not.toThrow();
    expect(refusal(() => checkKeys({ parms: {} }, KNOWN, '', LATER)).message).toBe(
      'Invalid option "parms": unknown option; did you mean "params"?',
    );
    expect(refusal(() => checkKeys({ redirect: 'follow' }, KNOWN, '', LATER)).message).toBe(
      'Invalid option "redirect": not supported yet; redirects are not followed yet',
    );
  });

  it('suggests by edit distance, not only by case', () => {
    expect(suggest('retires', ['retries', 'timeout'])).toBe('retries');
    expect(suggest('TIMEOUT', ['retries', 'timeout'])).toBe('timeout');
    expect(suggest('banana', ['retries', 'timeout'])).toBeUndefined();
  });
});

describe('gateway configuration built from the shared definitions', () => {
  const upstream = (extra: object) => ({ upstreams: { a: { baseUrl: 'http://x', ...extra } } });

  it('accepts every data option the library takes (no drift)', () => {
    const config = parseGatewayConfig(
      upstream({
        retry: { backoff: 'constant', budget: { ratio: 0.5 } },
        circuitBreaker: { keyBy: 'route', maxKeys: 10 },
        rateLimit: { limit: 5, window: '1s', serverAware: false, maxKeys: 100 },
        http: { pipelining: 2, keepAliveTimeout: '4s' },
      }),
      { env: {} },
    );
    const a = config.upstreams.a;
    expect(a?.retry).toEqual({ backoff: 'constant', budget: { ratio: 0.5 } });
    expect(a?.circuitBreaker).toEqual({ keyBy: 'route', maxKeys: 10 });
    expect(a?.rateLimit).toEqual({ limit: 5, window: 1000, serverAware: false, maxKeys: 100 });
    expect(a?.http).toEqual({ pipelining: 2, keepAliveTimeout: 4000 });
  });

  it('turns ${ENV} text into numbers and booleans in its own step; the library never accepts text for numbers', () => {
    const config = parseGatewayConfig(
      {
        listen: { port: '${PORT}' },
        metrics: { enabled: '${METRICS}' },
        ...upstream({
          retry: { retries: '${RETRIES}', idempotencyKey: 'true' },
          circuitBreaker: '${BREAKER}',
        }),
      },
      { env: { PORT: '9100', METRICS: 'false', RETRIES: '2', BREAKER: 'false' } },
    );
    expect(config.listen.port).toBe(9100);
    expect(config.metrics.enabled).toBe(false);
    expect(config.upstreams.a?.retry).toEqual({ retries: 2, idempotencyKey: true });
    expect(config.upstreams.a?.circuitBreaker).toBe(false);
    expect(refusal(() => parseOptions(retryOptionsSchema, { retries: '2' }, 'retry')).message).toBe(
      'Invalid option "retry.retries": expected a number (got a string)',
    );
  });

  it('never prints a value in a configuration error', () => {
    const found = configIssues(() =>
      parseGatewayConfig(upstream({ timeout: { total: '${TOKEN}' }, retry: { retries: '${TOKEN}' } }), {
        env: { TOKEN: SECRET },
      }),
    );
    expect(found.map((i) => i.path)).toEqual(['upstreams.a.retry.retries', 'upstreams.a.timeout.total']);
    expect(JSON.stringify(found)).not.toContain(SECRET);
  });
});
