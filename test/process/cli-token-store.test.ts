// biome-ignore-all lint/suspicious/noTemplateCurlyInString: configs under test use ${ENV} interpolation.
// `reqforge token` and `reqforge call` honour the configured token store (issue 15): a gateway stores a token from
// the sandbox IdP in SQLite (encrypted, keys from the config) or Redis; the CLI, as its own process on the compiled
// build, reads that token's facts without fetching, `--refresh` replaces it through the store, and `call` reuses
// the stored token. The IdP counts every grant; no output ever carries a token, the client secret or the key.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/core/secret.js';
import { loadGatewayConfig } from '../../src/gateway/config.js';
import { startGateway } from '../../src/gateway/server.js';
import { type OAuthServer, startOAuthServer } from '../../src/sandbox/oauth.js';
import { describeWithService, runId, SERVICE_URLS, serviceUp } from '../stores/services.js';
import { type ProcessResult, runCli, writeTemp } from './run.js';

const SECRET = 'demo-secret';
const TOKEN_KEY = randomBytes(32).toString('hex');
const dir = mkdtempSync(join(tmpdir(), 'reqforge-cli-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function config(name: string, store: string): string {
  return writeTemp(
    `${name}.yaml`,
    `listen:\n  port: 0\nmetrics:\n  defaultMetrics: false\n${store}upstreams:\n  up:\n    baseUrl: \${IDP}/api\n    retry: false\n    auth:\n      type: oauth2\n      tokenUrl: \${IDP}/oauth/token\n      clientId: demo\n      clientSecret: \${SECRET}\n      scopes: [read]\n`,
  );
}

/** Exactly one line on stderr, starting with `start`. */
function oneLine(result: ProcessResult, start: string): void {
  const how = `exit ${result.code}, stdout ${JSON.stringify(result.stdout.slice(0, 300))}`;
  expect(result.stderr.split('\n').filter(Boolean), `${how}\n${result.stderr}`).toHaveLength(1);
  expect(result.stderr.startsWith(start), result.stderr).toBe(true);
}

/** Nothing secret in what a process printed: no token the IdP issued, no client secret, no encryption key. */
function noSecrets(idp: OAuthServer, ...results: ProcessResult[]): void {
  const issued = idp.issuedSecrets();
  expect(issued.length).toBeGreaterThan(0);
  for (const r of results) {
    const text = r.stdout + r.stderr;
    for (const token of issued) expect(text).not.toContain(token);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(TOKEN_KEY);
  }
}

const grants = (idp: OAuthServer) => idp.stats().grants.client_credentials ?? 0;

interface StoredReport {
  upstream: string;
  store: { type: string; location?: string; encrypted?: boolean; shared: boolean };
  key: string;
  present: boolean;
  refreshed?: boolean;
  replaced?: string | null;
  stored?: {
    state: string;
    tokenType: string;
    fingerprint: string;
    fetchedAt: string;
    expiresAt: string;
    expiresInSeconds: number;
    scope: string;
    hasRefreshToken: boolean;
  };
}

/**
 * The whole story against one shared store: empty → the gateway stores a token → `token` shows it (1 grant) →
 * `--refresh` replaces it (2 grants) → `token` shows the new one → `call` reuses it (still 2 grants).
 */
async function storyAgainst(
  storeYaml: string,
  expectedStore: { type: string; location: string; encrypted: boolean },
  env: Record<string, string> = {},
): Promise<{ file: string; vars: Record<string, string> }> {
  const idp = await startOAuthServer();
  const file = config(`store-${expectedStore.type}-${randomBytes(3).toString('hex')}`, storeYaml);
  const vars = { IDP: idp.url, SECRET, TOKEN_KEY, ...env };
  const cli = (...args: string[]) => runCli([...args, '-c', file], { env: vars });
  const gateway = await startGateway({ config: await loadGatewayConfig(file, { env: vars }) });
  try {
    // Nothing stored yet: said so, exit 6, and nothing fetched.
    const empty = await cli('token', 'up');
    oneLine(
      empty,
      `✗ The ${expectedStore.type} token store holds no token for "up"; reqforge token up --refresh`,
    );
    expect(empty.code).toBe(6);
    const none = JSON.parse(empty.stdout) as StoredReport;
    expect(none).toEqual({
      upstream: 'up',
      store: { ...expectedStore, shared: true },
      key: expect.stringMatching(/^client_credentials:demo@[0-9a-f]{12}\|read\|\|\|$/),
      present: false,
    });
    expect(grants(idp)).toBe(0);

    // The gateway fetches and stores a token.
    const answer = await fetch(`${gateway.url}/up/me`);
    expect(answer.status).toBe(200);
    await answer.body?.cancel();
    expect(grants(idp)).toBe(1);
    const [first] = idp.issuedSecrets() as [string];

    const shown = await cli('token', 'up');
    expect(shown.stderr).toBe('');
    expect(shown.code).toBe(0);
    const report = JSON.parse(shown.stdout) as StoredReport;
    expect(report).toMatchObject({ upstream: 'up', key: none.key, present: true });
    expect(report.store).toEqual({ ...expectedStore, shared: true });
    expect(report.stored).toMatchObject({
      state: 'valid',
      tokenType: 'Bearer',
      fingerprint: fingerprint(first),
      scope: 'read',
      hasRefreshToken: false,
    });
    expect(report.stored!.expiresInSeconds).toBeGreaterThan(3500);
    expect(report.stored!.expiresInSeconds).toBeLessThanOrEqual(3600);
    expect(Date.now() - Date.parse(report.stored!.fetchedAt)).toBeLessThan(60_000);
    expect(grants(idp)).toBe(1);

    // --refresh: a new token through the store.
    const refresh = await cli('token', 'up', '--refresh');
    expect(refresh.stderr).toBe('');
    expect(refresh.code).toBe(0);
    expect(grants(idp)).toBe(2);
    const second = idp.issuedSecrets().find((t) => t !== first) as string;
    const renewed = JSON.parse(refresh.stdout) as StoredReport;
    expect(renewed).toMatchObject({ present: true, refreshed: true, replaced: fingerprint(first) });
    expect(renewed.stored?.fingerprint).toBe(fingerprint(second));

    // The store now holds the new token, for every reader.
    const again = await cli('token', 'up');
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as StoredReport).stored?.fingerprint).toBe(fingerprint(second));
    expect(grants(idp)).toBe(2);

    // `call` reuses the stored token: the IdP sees no fetch, the API accepts it.
    const apiCalls = idp.stats().api.calls;
    const call = await cli('call', 'up', 'GET', '/me');
    expect(call.stderr).toBe('');
    expect(call.code).toBe(0);
    expect(JSON.parse(call.stdout)).toEqual({ sub: 'demo', client_id: 'demo', scope: 'read' });
    expect(grants(idp)).toBe(2);
    expect(idp.stats().api).toEqual({ calls: apiCalls + 1, unauthorized: 0 });

    noSecrets(idp, empty, shown, refresh, again, call);
    return { file, vars };
  } finally {
    await gateway.close();
    await idp.close();
  }
}

describe.concurrent('reqforge token and call with the configured store', { timeout: 120_000 }, () => {
  it('SQLite (encrypted with keys from the config): shows the stored token, --refresh replaces it, call reuses it', async () => {
    const path = join(dir, 'tokens.db');
    const { file, vars } = await storyAgainst(
      'store:\n  type: sqlite\n  path: ${STORE_PATH}\n  encryptionKeys: ["${TOKEN_KEY}"]\n',
      { type: 'sqlite', location: path, encrypted: true },
      { STORE_PATH: path },
    );
    // Another key does not decrypt the stored token: no token it can use, said so, exit 6.
    const wrongKey = await runCli(['token', 'up', '-c', file], {
      env: { ...vars, TOKEN_KEY: randomBytes(32).toString('hex') },
    });
    oneLine(
      wrongKey,
      '✗ The sqlite token store holds no token for "up" it can use (the stored value does not decrypt with the configured keys)',
    );
    expect(wrongKey.code).toBe(6);
    expect(wrongKey.stdout).not.toContain(TOKEN_KEY);
  });

  it('memory store: says there is nothing to read from a CLI, exit 7, without fetching; --refresh fetches here', async ({
    onTestFinished,
  }) => {
    const idp = await startOAuthServer();
    onTestFinished(() => idp.close());
    const file = config('store-memory', '');
    const env = { IDP: idp.url, SECRET };
    const result = await runCli(['token', 'up', '-c', file], { env });
    expect(result.stdout).toBe('');
    oneLine(result, '✗ The token store is "memory": each gateway process keeps its own tokens');
    expect(result.code).toBe(7);
    expect(grants(idp)).toBe(0);

    const refresh = await runCli(['token', 'up', '--refresh', '-c', file], { env });
    expect(refresh.stderr).toBe('');
    expect(refresh.code).toBe(0);
    const shown = JSON.parse(refresh.stdout) as { store: unknown; fetched: { fingerprint: string }[] };
    expect(shown.store).toEqual({ type: 'memory', shared: false });
    expect(shown.fetched.map((t) => t.fingerprint)).toEqual(idp.issuedSecrets().map(fingerprint));
    expect(grants(idp)).toBe(1);
    noSecrets(idp, result, refresh);
  });

  it('a store that does not answer: one line naming it without its password, exit 3, nothing fetched', async ({
    onTestFinished,
  }) => {
    const idp = await startOAuthServer();
    onTestFinished(() => idp.close());
    const file = config('store-down', 'store:\n  type: redis\n  url: redis://:hunter2@127.0.0.1:1/0\n');
    const env = { IDP: idp.url, SECRET };
    const token = await runCli(['token', 'up', '-c', file], { env });
    const call = await runCli(['call', 'up', 'GET', '/me', '-c', file], { env });
    for (const result of [token, call]) {
      expect(result.stdout).toBe('');
      oneLine(result, '✗ The redis token store at redis://127.0.0.1:1/0 does not answer');
      expect(result.stderr).not.toContain('hunter2');
      expect(result.code).toBe(3);
    }
    expect(grants(idp)).toBe(0);
    expect(idp.stats().api.calls).toBe(0);
  });
});

const redisUp = await serviceUp('redis');
describeWithService('redis', redisUp, 'reqforge token and call with a Redis store', () => {
  it('shows the stored token, --refresh replaces it, call reuses it', { timeout: 120_000 }, async () => {
    const prefix = `${runId('cli')}:`;
    const url = SERVICE_URLS.redis;
    const { Redis } = await import('ioredis');
    const redis = new Redis(url);
    try {
      await storyAgainst(
        'store:\n  type: redis\n  url: ${REDIS_URL}\n  keyPrefix: ${PREFIX}\n',
        { type: 'redis', location: `${new URL(url).protocol}//${new URL(url).host}`, encrypted: false },
        { REDIS_URL: url, PREFIX: prefix },
      );
      // The token lives in Redis under the configured prefix (stored in plain text: no key configured).
      expect((await redis.keys(`${prefix}*`)).length).toBeGreaterThan(0);
    } finally {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
  });
});
