import { afterEach, describe, expect, it } from 'vitest';
import { createSession } from '../../src/auth/index.js';
import { isInvalidOptionError } from '../../src/core/errors.js';
import { Secret } from '../../src/core/secret.js';
import type { Policy } from '../../src/core/types.js';
import { type OAuthServer, startOAuthServer } from '../../src/sandbox/oauth.js';
import { FakeClock } from '../../src/testing.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function idp(): Promise<OAuthServer> {
  const s = await startOAuthServer({ clients: { reports: 'reports-secret' } });
  cleanup.push(() => s.close());
  return s;
}

describe('sessions', () => {
  it('shares one token per client id across services and clients, with per-client overrides', async () => {
    const server = await idp();
    const seen: string[] = [];
    const tag: Policy = {
      name: 'tag',
      wrap: (next) => (req, ctx) => {
        seen.push(ctx.tags.service ?? '');
        return next(req, ctx);
      },
    };
    const session = createSession({
      tokenUrl: server.tokenUrl,
      clients: {
        demo: new Secret('demo-secret'),
        reports: { clientSecret: 'reports-secret', authMethod: 'client_secret_post' },
      },
      defaultClientId: 'demo',
      policies: [tag],
      services: {
        billing: { baseUrl: server.url },
        inventory: { baseUrl: server.url },
        analytics: { baseUrl: server.url, clientId: 'reports' },
      },
    });
    cleanup.push(() => session.close());
    const billing = session.client('billing');
    const inventory = session.client('inventory');
    const inventory2 = session.client('inventory', { name: 'inventory-batch' });
    const analytics = session.client('analytics');
    const asDemo = session.client('analytics', { clientId: 'demo', name: 'analytics-as-demo', policies: [] });
    const results = await Promise.all(
      [billing, inventory, inventory2, analytics, asDemo].flatMap((c) => [
        c.get('/api/me').json<{ client_id: string }>(),
        c.get('/api/me').json<{ client_id: string }>(),
      ]),
    );
    expect(results.map((r) => r.client_id)).toEqual([
      'demo',
      'demo',
      'demo',
      'demo',
      'demo',
      'demo',
      'reports',
      'reports',
      'demo',
      'demo',
    ]);
    expect(server.stats().tokensIssued).toEqual({ demo: 1, reports: 1 });
    expect(seen.sort()).toEqual([
      'analytics',
      'analytics',
      'billing',
      'billing',
      'inventory',
      'inventory',
      'inventory-batch',
      'inventory-batch',
    ]);
    const status = session.status();
    expect(Object.keys(status.tokens).sort()).toEqual(['demo', 'reports']);
    expect(status.clients).toHaveLength(5);
    expect(session.clientStatus('analytics')).toMatchObject({
      clientId: 'reports',
      token: { state: 'valid' },
    });
    expect(JSON.stringify(status)).not.toMatch(/sbx_|secret/);
  });

  it('ends every timer on close', async () => {
    const server = await idp();
    const clock = new FakeClock();
    const session = createSession({
      tokenUrl: server.tokenUrl,
      clients: { demo: 'demo-secret' },
      clock,
      services: {
        a: { baseUrl: server.url, timeout: false },
        b: { baseUrl: server.url, clientId: 'demo', scopes: ['x'] },
      },
    });
    await session.tokenManager().getToken();
    await session.tokenManager().getToken({ scopes: ['x'] });
    expect(clock.pending).toBe(2);
    await session.close();
    expect(clock.pending).toBe(0);
    expect(session.status().closed).toBe(true);
  });

  it('rejects invalid options at construction, naming the option', () => {
    const services = { a: { baseUrl: 'http://127.0.0.1:1' } };
    const cases: [object, string][] = [
      [{ services }, 'clients'],
      [{ clients: { demo: 's' }, services }, 'tokenUrl'],
      [{ tokenUrl: 'http://x/t', clients: { demo: '' }, services }, 'clients.demo'],
      [{ tokenUrl: 'http://x/t', clients: { a: 's', b: 't' }, services }, 'services.a.clientId'],
      [
        { tokenUrl: 'http://x/t', clients: { a: 's' }, services: { a: { baseUrl: 'nope' } } },
        'services.a.baseUrl',
      ],
      [{ tokenUrl: 'http://x/t', clients: { a: 's' }, services, defaultClientId: 'z' }, 'defaultClientId'],
      [{ tokenUrl: 'http://x/t', clients: { a: 's' }, services, policies: [{}] }, 'policies[0]'],
      [{ tokenUrl: 'http://x/t', clients: { a: 's' }, services, sevices: {} }, 'sevices'],
    ];
    for (const [options, option] of cases) {
      let err: unknown;
      try {
        createSession(options as never);
      } catch (e) {
        err = e;
      }
      expect(isInvalidOptionError(err) && err.option).toBe(option);
    }
  });
});
