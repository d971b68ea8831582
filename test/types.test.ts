import { describe, expectTypeOf, it } from 'vitest';
import type { Token } from '../src/auth/index.js';
import { loadClients } from '../src/config.js';
import {
  type CallOptions,
  type Client,
  createClient,
  type Duration,
  type Handler,
  type HttpError,
  type HttpResponse,
  isHttpError,
  isTooManyRequestsError,
  type Policy,
  type ResponsePromise,
  resilience,
  type TimeoutOptions,
  type TooManyRequestsError,
  type UsageSnapshot,
} from '../src/index.js';
import { MemoryTransport } from '../src/testing.js';

// These tests are checked by `npm run typecheck`. The calls are never made: `typesOnly` only exists
// so that the type checker sees them.
const typesOnly = (_check: () => void) => undefined;

describe('public types', () => {
  const api: Client = createClient({ baseUrl: 'http://t', transport: new MemoryTransport() });

  it('types client.state() so a part narrows on enabled, and usage() as possibly off', () =>
    typesOnly(() => {
      const state = api.state();
      expectTypeOf(state.circuitBreaker.state).toEqualTypeOf<
        'disabled' | 'closed' | 'open' | 'half-open' | 'isolated'
      >();
      const limiter = state.rateLimit;
      if (limiter.enabled) expectTypeOf(limiter.queueLength).toEqualTypeOf<number>();
      // @ts-expect-error the counters exist only once `enabled` says the client has a limiter
      void state.rateLimit.queueLength;
      expectTypeOf(api.usage()).toEqualTypeOf<UsageSnapshot | undefined>();
    }));

  it('types path parameters from literal templates', () =>
    typesOnly(() => {
      expectTypeOf(api.get('/users/{id}', { params: { id: 1 } })).toEqualTypeOf<ResponsePromise<unknown>>();
      // @ts-expect-error params are required when the template has parameters
      void api.get('/users/{id}').catch(() => undefined);
      // @ts-expect-error every template parameter must be given
      void api.get('/orgs/{org}/users/{id}', { params: { org: 'a' } }).catch(() => undefined);
      const dynamic: string = '/users/{id}';
      expectTypeOf(api.get(dynamic)).toEqualTypeOf<ResponsePromise<unknown>>();
    }));

  it('types JSON results', () =>
    typesOnly(() => {
      interface User {
        name: string;
      }
      expectTypeOf(api.get<User>('/me').json()).toEqualTypeOf<Promise<User>>();
      expectTypeOf(api.get('/me').json<User>()).toEqualTypeOf<Promise<User>>();
      expectTypeOf(api.get('/me')).resolves.toEqualTypeOf<HttpResponse>();
    }));

  it('narrows errors with guards', () => {
    const e: unknown = new Error();
    if (isHttpError(e)) expectTypeOf(e.status).toEqualTypeOf<number>();
    if (isTooManyRequestsError(e)) expectTypeOf(e).toEqualTypeOf<TooManyRequestsError>();
    expectTypeOf<TooManyRequestsError>().toMatchTypeOf<HttpError>();
  });

  it('types per-call retry settings and resilience().execute', () =>
    typesOnly(() => {
      void api.get('/x', { retry: { retries: 5, backoff: ({ attempt }) => attempt * 100 } });
      void api.get('/x', {
        retry: { retryOn: ({ response }) => (response?.status === 503 ? 1_000 : false) },
      });
      // @ts-expect-error the retry budget is the client's, not one call's
      void api.get('/x', { retry: { budget: false } });
      const guard = resilience({ retry: { retryOn: () => true } });
      expectTypeOf(guard.execute(async (signal) => (signal.aborted ? 1 : 2))).toEqualTypeOf<Promise<1 | 2>>();
      expectTypeOf(guard.execute(() => 'sync')).toEqualTypeOf<Promise<string>>();
      // @ts-expect-error retryOn is required: no error is retried unless it says so
      resilience({ retry: { retries: 3 } });
    }));

  it('types policies as handler wrappers', () => {
    expectTypeOf<Policy['wrap']>().toEqualTypeOf<(next: Handler) => Handler>();
    expectTypeOf<CallOptions['timeout']>().toEqualTypeOf<TimeoutOptions | Duration | false | undefined>();
  });

  it('types config-file clients by the upstreams the program names, and session tokens', () => {
    const named = () => loadClients('reqforge.yaml', { upstreams: ['care', 'ztp'] });
    expectTypeOf<Awaited<ReturnType<typeof named>>['clients']>().toEqualTypeOf<
      Readonly<Record<'care' | 'ztp', Client>>
    >();
    const any = () => loadClients('reqforge.yaml');
    expectTypeOf<Awaited<ReturnType<typeof any>>['clients']>().toEqualTypeOf<
      Readonly<Record<string, Client>>
    >();
    expectTypeOf<ReturnType<import('../src/auth/session.js').Session['getToken']>>().toEqualTypeOf<
      Promise<Token>
    >();
  });
});
