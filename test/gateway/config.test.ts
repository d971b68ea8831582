// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests are about ${ENV} interpolation syntax.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isSecret } from '../../src/core/secret.js';
import {
  type ConfigError,
  isConfigError,
  loadGatewayConfig,
  parseDuration,
  parseGatewayConfig,
  parseGatewayConfigText,
  parseSize,
} from '../../src/gateway/config.js';
import { startGateway } from '../../src/gateway/server.js';

function issues(fn: () => unknown): ConfigError['issues'] {
  try {
    fn();
  } catch (error) {
    if (isConfigError(error)) return error.issues;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const base = { upstreams: { pets: { baseUrl: 'http://127.0.0.1:9/api' } } };

describe('gateway config', () => {
  it('applies defaults: loopback 127.0.0.1:8787, limits, memory store', () => {
    const config = parseGatewayConfig(base, { env: {} });
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 8787 });
    expect(config.limits.bodySize).toBe(10 * 1024 * 1024);
    expect(config.store).toEqual({ type: 'memory' });
    expect(config.requestIdHeader).toBe('x-request-id');
  });

  it('refuses status-page login settings where there is no login, instead of ignoring them', () => {
    const keys = { apiKeys: [{ name: 'ops', sha256: 'a'.repeat(64) }] };
    // No API keys: no login, so no session and no admin actions to configure.
    expect(
      issues(() =>
        parseGatewayConfig({ ...base, status: { actions: false, session: { max: 5 } } }, { env: {} }),
      ).map((i) => i.path),
    ).toEqual(['status.actions', 'status.session']);
    // Keys, but operations left open: still no login.
    expect(
      issues(() =>
        parseGatewayConfig(
          { ...base, inbound: { ...keys, protectOperations: false }, status: { session: { max: 5 } } },
          { env: {} },
        ),
      )[0],
    ).toMatchObject({ path: 'status.session', message: expect.stringContaining('add inbound.apiKeys') });
    expect(
      issues(() =>
        parseGatewayConfig({ ...base, status: { enabled: false, actions: true } }, { env: {} }),
      )[0],
    ).toMatchObject({ path: 'status.actions', message: expect.stringContaining('status page is off') });
    // With keys (operations protected by default) both apply; left out, the defaults hold.
    const config = parseGatewayConfig(
      { ...base, inbound: keys, status: { actions: false, session: { max: 5 } } },
      { env: {} },
    );
    expect(config.status).toMatchObject({ actions: false, session: { max: 5, idle: 30 * 60_000 } });
    expect(parseGatewayConfig(base, { env: {} }).status).toEqual({ enabled: true, refresh: 5_000 });
  });

  it('parses durations and sizes', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration(250)).toBe(250);
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseSize('10mb')).toBe(10 * 1024 * 1024);
    expect(parseSize('512kb')).toBe(512 * 1024);
    const config = parseGatewayConfig(
      { ...base, limits: { headersTimeout: '2s', bodySize: '1kb' } },
      { env: {} },
    );
    expect(config.limits.headersTimeout).toBe(2000);
    expect(config.limits.bodySize).toBe(1024);
    expect(
      issues(() => parseGatewayConfig({ ...base, limits: { headersTimeout: 'soon' } }, { env: {} })),
    ).toEqual([
      {
        path: 'limits.headersTimeout',
        message: expect.stringContaining('expected a duration such as 500ms') as string,
      },
    ]);
  });

  it('rejects unknown keys with their path and a did-you-mean', () => {
    const found = issues(() =>
      parseGatewayConfig(
        {
          listen: { prot: 1 },
          upstreams: { pets: { baseURL: 'http://x', timeout: { totl: '1s' } } },
          metric: {},
        },
        { env: {} },
      ),
    );
    expect(found).toEqual(
      expect.arrayContaining([
        { path: 'listen.prot', message: 'unknown key; did you mean "port"?' },
        { path: 'upstreams.pets.baseURL', message: 'unknown key; did you mean "baseUrl"?' },
        { path: 'upstreams.pets.timeout.totl', message: 'unknown key; did you mean "total"?' },
        { path: 'metric', message: 'unknown key; did you mean "metrics"?' },
      ]),
    );
  });

  it('interpolates ${ENV} in values and names a missing variable with the key it was used in', () => {
    const config = parseGatewayConfig(
      {
        listen: { host: '${HOST:-127.0.0.1}' },
        upstreams: {
          pets: {
            baseUrl: '${PETS_URL}',
            auth: { type: 'bearer', token: '${PETS_TOKEN}' },
            headers: { x: '$${literal}' },
          },
        },
      },
      { env: { PETS_URL: 'http://pets.internal', PETS_TOKEN: 'tok-123' } },
    );
    expect(config.listen.host).toBe('127.0.0.1');
    expect(config.upstreams.pets?.baseUrl).toBe('http://pets.internal');
    expect(config.upstreams.pets?.headers).toEqual({ x: '${literal}' });
    const auth = config.upstreams.pets?.auth;
    expect(auth?.type === 'bearer' && isSecret(auth.token) && auth.token.reveal()).toBe('tok-123');
    expect(JSON.stringify(config)).not.toContain('tok-123');

    const found = issues(() =>
      parseGatewayConfig(
        { upstreams: { pets: { baseUrl: 'http://x', auth: { type: 'bearer', token: '${PETS_TOKEN}' } } } },
        { env: {} },
      ),
    );
    expect(found[0]).toEqual({
      path: 'upstreams.pets.auth.token',
      message: 'environment variable PETS_TOKEN is not set (referenced as ${PETS_TOKEN})',
    });
  });

  it('explains wrong values, reserved names and inconsistent timeouts', () => {
    expect(
      issues(() => parseGatewayConfig({ upstreams: { metrics: { baseUrl: 'http://x' } } }, { env: {} }))[0],
    ).toEqual({
      path: 'upstreams.metrics',
      message: '"metrics" is reserved for an operations endpoint',
    });
    expect(
      issues(() => parseGatewayConfig({ upstreams: { a: { baseUrl: 'ftp://x' } } }, { env: {} }))[0]?.path,
    ).toBe('upstreams.a.baseUrl');
    expect(
      issues(() => parseGatewayConfig({ upstreams: { a: { baseUrl: 'http://u:p@x' } } }, { env: {} }))[0]
        ?.message,
    ).toContain('without credentials');
    expect(issues(() => parseGatewayConfig({}, { env: {} }))[0]).toEqual({
      path: 'upstreams',
      message: 'required (record)',
    });
    expect(
      issues(() =>
        parseGatewayConfig(
          { upstreams: { a: { baseUrl: 'http://x', timeout: { total: '1s', attempt: '2s' } } } },
          { env: {} },
        ),
      )[0]?.path,
    ).toBe('upstreams.a.timeout.attempt');
    expect(
      issues(() =>
        parseGatewayConfig(
          { upstreams: { a: { baseUrl: 'http://x', auth: { type: 'magic' } } } },
          { env: {} },
        ),
      )[0]?.path,
    ).toBe('upstreams.a.auth.type');
    expect(
      issues(() =>
        parseGatewayConfig(
          { inbound: { apiKeys: [{ name: 'ci', sha256: 'plain-key' }] }, ...base },
          { env: {} },
        ),
      )[0]?.path,
    ).toBe('inbound.apiKeys.0.sha256');
  });

  it('reads YAML and JSON files and reports syntax errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reqforge-config-'));
    const yamlFile = join(dir, 'gateway.yaml');
    writeFileSync(
      yamlFile,
      'listen:\n  port: 9000\nupstreams:\n  pets:\n    baseUrl: http://127.0.0.1:1/api\n',
    );
    expect((await loadGatewayConfig(yamlFile, { env: {} })).listen.port).toBe(9000);
    const jsonFile = join(dir, 'gateway.json');
    writeFileSync(jsonFile, JSON.stringify(base));
    expect(Object.keys((await loadGatewayConfig(jsonFile, { env: {} })).upstreams)).toEqual(['pets']);
    await expect(loadGatewayConfig(join(dir, 'missing.yaml'))).rejects.toThrow(/file not found/);
    expect(issues(() => parseGatewayConfigText('upstreams: [unclosed', { env: {} }))[0]?.message).toMatch(
      /not valid YAML/,
    );
  });

  it('formats a readable message listing every issue', () => {
    let error: unknown;
    try {
      parseGatewayConfig({ upstreams: { a: { baseUrl: 'x', retyr: {} } } }, { env: {}, file: 'gw.yaml' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Error); // not thrown at all must fail too
    expect((error as Error).message).toContain('Invalid gateway configuration in gw.yaml');
    expect((error as Error).message).toContain('upstreams.a.retyr: unknown key; did you mean "retry"?');
    expect((error as ConfigError).code).toBe('ERR_CONFIG');
  });
});

describe('bundled example', () => {
  it('examples/gateway.yaml is valid and keeps secrets wrapped', async () => {
    const file = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'gateway.yaml');
    const config = await loadGatewayConfig(file, { env: { SANDBOX_URL: 'http://127.0.0.1:9999' } });
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 8787 });
    expect(Object.keys(config.upstreams)).toEqual(['pets', 'chaos']);
    expect(config.upstreams.pets?.baseUrl).toBe('http://127.0.0.1:9999/api');
    expect(JSON.stringify(config)).not.toContain('demo-secret');
  });
});

describe('store encryption warning', () => {
  it('warns at start when a persistent store runs without an encryption key, and not with one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rf-warn-'));
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }) => warnings.push(String(w.code));
    process.on('warning', onWarning);
    const saved = process.env.REQFORGE_TOKEN_KEY;
    delete process.env.REQFORGE_TOKEN_KEY;
    try {
      const plain = await startGateway({
        config: parseGatewayConfig({ store: { type: 'file', path: join(dir, 'a') }, upstreams: {} }),
        port: 0,
      });
      await plain.close();
      const keyed = await startGateway({
        config: parseGatewayConfig({
          store: {
            type: 'file',
            path: join(dir, 'b'),
            encryptionKeys: [Buffer.alloc(32, 7).toString('base64')],
          },
          upstreams: {},
        }),
        port: 0,
      });
      await keyed.close();
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w === 'REQFORGE_STORE_UNENCRYPTED')).toHaveLength(1);
    } finally {
      process.off('warning', onWarning);
      if (saved !== undefined) process.env.REQFORGE_TOKEN_KEY = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
