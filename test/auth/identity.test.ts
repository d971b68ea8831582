import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { clientCredentials, TokenManager, TokenPipeline } from '../../src/auth/index.js';
import { isInvalidOptionError } from '../../src/core/errors.js';
import { Secret } from '../../src/core/secret.js';
import { FileTokenStore } from '../../src/stores/file.js';
import { MemoryTokenStore } from '../../src/stores/memory.js';
import { sendJson, startServer } from '../helpers/server.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function idp() {
  let n = 0;
  const server = await startServer((_req, res) =>
    sendJson(res, 200, { access_token: `tok-${++n}`, expires_in: 3600 }),
  );
  cleanup.push(() => server.close());
  return server;
}

function manager(options: ConstructorParameters<typeof TokenManager>[0]): TokenManager {
  const m = new TokenManager(options);
  cleanup.push(() => m.close());
  return m;
}

describe('resource indicators (issue 11, defect 9)', () => {
  it('sends each resource as its own form field, beside audience, and a request may ask for others', async () => {
    const server = await idp();
    const m = manager({
      provider: clientCredentials({
        tokenUrl: `${server.url}/token`,
        clientId: 'demo',
        clientSecret: new Secret('demo-secret'),
        audience: 'https://auth0.example/api',
        resource: ['https://api.example/orders', 'https://api.example/users'],
      }),
    });
    await m.getToken();
    const form = new URLSearchParams(server.requests[0]!.body.toString());
    expect(form.getAll('resource')).toEqual(['https://api.example/orders', 'https://api.example/users']);
    expect(form.get('audience')).toBe('https://auth0.example/api');
    await m.getToken({ resource: 'https://api.example/billing' });
    const second = new URLSearchParams(server.requests[1]!.body.toString());
    expect(second.getAll('resource')).toEqual(['https://api.example/billing']);
    // Two resources, two tokens: a request for the first again is served from the cache.
    await m.getToken();
    expect(server.requests).toHaveLength(2);
  });

  it('refuses a resource that is not a string, naming the option and never printing it', () => {
    const make = (resource: unknown) => () =>
      clientCredentials({
        tokenUrl: 'https://idp.example/token',
        clientId: 'demo',
        resource: resource as string,
      });
    expect(make(['https://ok.example', 42])).toThrow(/Invalid option "resource\[1\]"/);
    expect(make([])).toThrow(/Invalid option "resource"/);
    expect(make('')).toThrow(/Invalid option "resource"/);
    const secretParam = () =>
      clientCredentials({
        tokenUrl: 'https://idp.example/token',
        clientId: 'demo',
        extraParams: { assertion: 12345678 as unknown as string },
      });
    expect(secretParam).toThrow(/Invalid option "extraParams.assertion"/);
    expect(secretParam).not.toThrow(/12345678/);
  });
});

describe('credential identity (issue 11, defect 3)', () => {
  it('keys name the grant, the client id and hashes of the endpoint, subject and custom parameters', async () => {
    const server = await idp();
    const m = manager({
      provider: clientCredentials({
        tokenUrl: `${server.url}/token`,
        clientId: 'demo',
        clientSecret: new Secret('demo-secret'),
        scopes: ['write', 'read'],
        audience: 'api://one',
        resource: 'https://api.example/r',
        extraParams: { tenant: 'secret-tenant' },
      }),
    });
    await m.getToken();
    const key = m.getTokenInfo()!.key;
    expect(key).toMatch(
      /^client_credentials:demo@[0-9a-f]{12}\+[0-9a-f]{12}\|read write\|api:\/\/one\|https:\/\/api\.example\/r\|$/,
    );
    expect(key).not.toContain('secret');
    expect(key).not.toContain(server.url.slice(7));
  });

  it('refuses a pipeline that keeps its default id with a shared store, and accepts a declared id', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'reqforge-identity-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const store = await FileTokenStore.open({ path: dir });
    cleanup.push(() => store.close());
    const steps = { app: { fetch: async () => 'app-token' } };
    let error: unknown;
    try {
      new TokenManager({ provider: new TokenPipeline({ steps }), store });
    } catch (e) {
      error = e;
    }
    expect(isInvalidOptionError(error) && error.option).toBe('provider.id');
    expect((error as Error).message).toMatch(/give it a unique id/);
    const named = manager({ provider: new TokenPipeline({ steps, id: 'billing-chain' }), store });
    await expect(named.getToken()).resolves.toBeDefined();
    expect(named.getTokenInfo()!.key).toBe('billing-chain||||');
    // An in-process memory store is not shared with other configurations: the default id is fine there.
    manager({ provider: new TokenPipeline({ steps }), store: new MemoryTokenStore() });
  });
});
