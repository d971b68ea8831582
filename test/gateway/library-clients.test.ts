// biome-ignore-all lint/suspicious/noTemplateCurlyInString: configs under test use ${ENV} interpolation.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliIo, EXIT, run } from '../../src/cli/index.js';
import { isConfigError, loadClients, parseGatewayConfigText } from '../../src/config.js';
import { isReqforgeError } from '../../src/core/errors.js';
import { startOAuthServer } from '../../src/sandbox/oauth.js';
import { startServer, type TestServer } from '../helpers/server.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

const dir = mkdtempSync(join(tmpdir(), 'reqforge-clients-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function api(): Promise<TestServer> {
  const server = await startServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ url: req.url, auth: req.headers.authorization, app: req.headers['x-app'] }));
  });
  cleanup.push(() => server.close());
  return server;
}

/** What `reqforge check` prints for a file (stderr), to compare messages with. */
async function check(path: string, env: Record<string, string>): Promise<string> {
  let err = '';
  const io: CliIo = {
    stdout: { write: () => true, isTTY: false },
    stderr: {
      write: (t: string) => {
        err += t;
        return true;
      },
    },
    env,
    cwd: dir,
    stopSignal: () => new Promise(() => undefined),
  };
  expect(await run(['node', 'reqforge', 'check', '-c', path], io)).toBe(EXIT.usage);
  return err;
}

describe('loadClients', () => {
  it('builds a client per upstream from the gateway file: defaults field by field, ${ENV}, one token per client id', async () => {
    const idp = await startOAuthServer();
    cleanup.push(() => idp.close());
    const care = await api();
    const ztp = await api();
    const path = file(
      'reqforge.yaml',
      `defaults:
  headers: { x-app: inventory }
  timeout: { total: 20s, attempt: 5s }
  retry: { retries: 1, baseDelay: 10ms }
  rateLimit: { limit: 2, window: 1m, strategy: raise }
  auth:
    type: oauth2
    tokenUrl: \${IDP}/oauth/token
    clientId: demo
    clientSecret: \${DEMO_SECRET}
upstreams:
  care:
    baseUrl: \${CARE_URL}
    rateLimit: { limit: 3 }
  ztp:
    baseUrl: \${ZTP_URL}
    paths: [/devices/*]
  static:
    baseUrl: \${ZTP_URL}
    auth: { type: bearer, token: \${STATIC_TOKEN} }
`,
    );
    const env = {
      IDP: idp.url,
      DEMO_SECRET: 'demo-secret',
      CARE_URL: care.url,
      ZTP_URL: ztp.url,
      STATIC_TOKEN: 'static-token',
    };
    const configured = await loadClients(path, { env, upstreams: ['care', 'ztp', 'static'] });
    cleanup.push(() => configured.close());
    const { clients } = configured;
    const first = await clients.care.get('/products').json<{ auth: string; app: string }>();
    expect(first.app).toBe('inventory');
    expect(first.auth).toMatch(/^Bearer sbx_access_/);
    const viaZtp = await clients.ztp.get('/devices/1').json<{ auth: string }>();
    expect(viaZtp.auth).toBe(first.auth);
    expect(idp.stats().tokensIssued).toEqual({ demo: 1 });
    expect(configured.tokenManager('care')).toBe(configured.tokenManager('ztp'));
    expect(configured.tokenManager('care')?.getTokenInfo()?.state).toBe('valid');
    expect((await clients.static.get('/').json<{ auth: string }>()).auth).toBe('Bearer static-token');
    // care: limit 3 (its own), window 1m and strategy raise (the defaults'): the 4th call in the minute is refused.
    await clients.care.get('/2');
    await clients.care.get('/3');
    const refused = await clients.care.get('/4').catch((e: unknown) => e);
    expect(isReqforgeError(refused) && refused.code).toBe('ERR_RATE_LIMITED');
    expect(care.requests).toHaveLength(3);
    // ztp: the defaults' limit of 2.
    await clients.ztp.get('/devices/2');
    await expect(clients.ztp.get('/devices/3')).rejects.toMatchObject({ code: 'ERR_RATE_LIMITED' });
    expect(clients.care.options.timeout).toEqual({ total: 20_000, attempt: 5_000 });
    expect(() => configured.client('cares' as never)).toThrow(
      /no client named "cares"; did you mean "care"\?/,
    );
    expect(JSON.stringify(configured.config)).not.toContain('demo-secret');
  });

  it('fails with the messages of `reqforge check`, naming the file and every key', async () => {
    const path = file(
      'bad.yaml',
      `defaults:
  retry: { retires: 2 }
upstreams:
  care:
    baseUrl: http://127.0.0.1:9
    rateLimit: { window: 1s }
    auth: { type: bearer, token: \${MISSING_TOKEN} }
`,
    );
    const error = await loadClients(path, { env: {} }).catch((e: unknown) => e);
    expect(isConfigError(error)).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain(`Invalid gateway configuration in ${path}`);
    expect(message).toMatch(/defaults\.retry\.retires: unknown (option|key); did you mean "retries"\?/);
    expect(message).toMatch(/upstreams\.care\.auth\.token: environment variable MISSING_TOKEN is not set/);
    expect(message).toMatch(/upstreams\.care\.rateLimit\.limit/);
    // The defaults' mistake is reported once, at its place, not again under every upstream.
    expect(message.match(/retires/g)).toHaveLength(1);
    // The CLI frames them its own way; every issue line is the same.
    const printed = await check(path, {});
    for (const issue of (error as { issues: { path: string; message: string }[] }).issues) {
      expect(printed).toContain(`${issue.path}: ${issue.message}`);
    }
    expect((error as { issues: unknown[] }).issues).toHaveLength(3);
  });

  it('names a missing upstream with a did-you-mean', async () => {
    const path = file('one.yaml', 'upstreams:\n  petstore:\n    baseUrl: http://127.0.0.1:9\n');
    const error = await loadClients(path, { upstreams: ['petstor'] }).catch((e: unknown) => e);
    expect(isConfigError(error) && error.issues).toEqual([
      { path: 'upstreams.petstor', message: 'not configured; did you mean "petstore"?' },
    ]);
  });

  it('the gateway accepts defaults: every upstream inherits them field by field', () => {
    const config = parseGatewayConfigText(
      `defaults:
  retry: { retries: 5, baseDelay: 50ms }
  circuitBreaker: false
  auth: { type: bearer, token: t }
upstreams:
  a: { baseUrl: 'http://127.0.0.1:1', retry: { retries: 1 } }
  b: { baseUrl: 'http://127.0.0.1:2', auth: { type: header, name: x-key, value: k } }
`,
      { env: {} },
    );
    expect(config.upstreams.a!.retry).toEqual({ retries: 1, baseDelay: 50 });
    expect(config.upstreams.b!.retry).toEqual({ retries: 5, baseDelay: 50 });
    expect(config.upstreams.a!.circuitBreaker).toBe(false);
    expect(config.upstreams.a!.auth?.type).toBe('bearer');
    // An auth of another type replaces the default one whole: no bearer `token` leaks into a header auth.
    expect(config.upstreams.b!.auth).toMatchObject({ type: 'header', name: 'x-key' });
    expect(config.upstreams.b!.auth).not.toHaveProperty('token');
  });
});
