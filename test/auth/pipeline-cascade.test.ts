import { afterEach, describe, expect, it } from 'vitest';
import { TokenManager, TokenPipeline, tokenAuth } from '../../src/auth/index.js';
import { createClient } from '../../src/client/client.js';
import { MemoryTokenStore } from '../../src/stores/memory.js';
import { sendJson, startServer } from '../helpers/server.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function setup(store?: MemoryTokenStore) {
  const fetched = { app: 0, user: 0 };
  const pipeline = new TokenPipeline({
    id: 'chain',
    steps: {
      app: { fetch: async () => `app-${++fetched.app}` },
      user: {
        deps: ['app'],
        fetch: async ({ deps }) => `user-${++fetched.user}-of-${deps.app!.value.reveal()}`,
      },
    },
  });
  const manager = new TokenManager({ provider: pipeline, ...(store ? { store } : {}) });
  cleanup.push(() => manager.close());
  const server = await startServer((req, res) => sendJson(res, 200, { auth: req.headers.authorization }));
  cleanup.push(() => server.close());
  const api = createClient({ baseUrl: server.url, policies: [tokenAuth(manager)] });
  cleanup.push(() => api.close());
  const sent = async () => ((await api.get('/me').json()) as { auth: string }).auth;
  return { pipeline, manager, fetched, sent };
}

describe('a pipeline cascade reaches the manager (issue 11, defect 5)', () => {
  it('invalidating a step drops the manager token derived from it: the next call fetches the chain again', async () => {
    const { pipeline, manager, fetched, sent } = await setup();
    expect(await sent()).toBe('Bearer user-1-of-app-1');
    expect(await sent()).toBe('Bearer user-1-of-app-1');
    expect(pipeline.invalidate('app')).toEqual(['app', 'user']);
    expect(manager.getTokenInfo()?.state ?? 'expired').toBe('expired');
    expect(await sent()).toBe('Bearer user-2-of-app-2');
    expect(fetched).toEqual({ app: 2, user: 2 });
    // Again at once, and on the output step itself: a cascade is never held back as a too-early forced refresh.
    expect(pipeline.invalidate('user')).toEqual(['user']);
    expect(await sent()).toBe('Bearer user-3-of-app-2');
    expect(fetched).toEqual({ app: 2, user: 3 });
  });

  it('also through a store: the dropped token is not adopted back from it', async () => {
    const { pipeline, fetched, sent } = await setup(new MemoryTokenStore());
    expect(await sent()).toBe('Bearer user-1-of-app-1');
    pipeline.invalidate('user');
    expect(await sent()).toBe('Bearer user-2-of-app-1');
    expect(fetched).toEqual({ app: 1, user: 2 });
  });

  it('without cascade, invalidating a dependency leaves the manager token alone', async () => {
    const { pipeline, fetched, sent } = await setup();
    expect(await sent()).toBe('Bearer user-1-of-app-1');
    expect(pipeline.invalidate('app', { cascade: false })).toEqual(['app']);
    expect(await sent()).toBe('Bearer user-1-of-app-1');
    expect(fetched).toEqual({ app: 1, user: 1 });
  });
});
