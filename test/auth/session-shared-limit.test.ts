// Issue 17 item 4 with issue 13: a session's `rateLimit: { store }` is shared through Redis, by the level that owns
// the bucket (the session, a service, or a client that overrides a limit field), never silently made per process.
import { afterEach, expect, it } from 'vitest';
import { createSession } from '../../src/auth/index.js';
import { startServer } from '../helpers/server.js';
import { describeWithService, runId, SERVICE_URLS, serviceUp } from '../stores/services.js';

const redisUp = await serviceUp('redis');

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

const provider = { id: 'static', fetchToken: async () => ({ accessToken: 'token', expiresIn: 3600 }) };

describeWithService('redis', redisUp, "a session's rate limit on Redis", () => {
  it('one bucket for the clients that inherit it (in two sessions alike), its own for a client that overrides it', async () => {
    const seen: string[] = [];
    const server = await startServer((req, res) => {
      seen.push(String(req.headers['x-client']));
      res.writeHead(200).end('{}');
    });
    cleanup.push(() => server.close());
    const store = { url: SERVICE_URLS.redis, keyPrefix: `${runId('session-rl')}:` };
    // Two sessions stand for two replicas: they share the session's bucket (named `orders`) through Redis; the
    // overriding client gets a bucket of its own, not the inherited name.
    const sessions = [1, 2].map(() =>
      createSession({
        providers: { p: provider },
        timeout: false,
        retry: false,
        rateLimit: { limit: 3, window: '1m', strategy: 'drop', store, name: 'orders' },
        services: { api: { baseUrl: server.url } },
      }),
    );
    for (const s of sessions) cleanup.push(() => s.close());
    const [a, b] = sessions.map((s, i) => s.client('api', { headers: { 'x-client': `shared-${i}` } }));
    const own = sessions[0]!.client('api', {
      name: 'own',
      headers: { 'x-client': 'own' },
      rateLimit: { limit: 2 },
    });
    const outcome = (p: Promise<{ status: number }>) =>
      p.then(
        (r) => r.status,
        (e: { code?: string }) => e.code,
      );
    const shared = [];
    for (const client of [a, b, a, b, a]) shared.push(await outcome(client!.get('/x')));
    const mine = [];
    for (let i = 0; i < 3; i++) mine.push(await outcome(own.get('/x')));
    // 3 per minute across both sessions; the overriding client has 2 of its own, not bound by the session's.
    expect(shared).toEqual([200, 200, 200, 'ERR_DROPPED', 'ERR_DROPPED']);
    expect(mine).toEqual([200, 200, 'ERR_DROPPED']);
    expect(seen).toEqual(['shared-0', 'shared-1', 'shared-0', 'own', 'own']);
  });
});
