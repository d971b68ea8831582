// biome-ignore-all lint/suspicious/noTemplateCurlyInString: configs under test use ${ENV} interpolation.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliIo, EXIT, run } from '../../src/cli/index.js';
import { startOAuthServer } from '../../src/sandbox/oauth.js';
import { type SandboxUpstream, startSandboxUpstream } from '../../src/sandbox/upstream.js';
import { VERSION } from '../../src/version.js';

function io(cwd: string, env: Record<string, string> = {}, tty = false) {
  let out = '';
  let err = '';
  let stop: (signal: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => {
    stop = resolve;
  });
  const value: CliIo = {
    stdout: {
      write: (t: string) => {
        out += t;
        return true;
      },
      isTTY: tty,
    },
    stderr: {
      write: (t: string) => {
        err += t;
        return true;
      },
    },
    env,
    cwd,
    stopSignal: () => stopped,
  };
  return {
    io: value,
    out: () => out,
    err: () => err,
    stop: (signal = 'SIGTERM') => stop(signal),
  };
}

const argv = (...args: string[]) => ['node', 'reqforge', ...args];

let dir: string;
let sandbox: SandboxUpstream;
beforeAll(async () => {
  sandbox = await startSandboxUpstream();
  dir = mkdtempSync(join(tmpdir(), 'reqforge-cli-'));
  writeFileSync(
    join(dir, 'reqforge.yaml'),
    `listen:\n  port: 0\nmetrics:\n  defaultMetrics: false\nupstreams:\n  pets:\n    baseUrl: \${PETS_URL}\n    retry: false\n`,
  );
  writeFileSync(
    join(dir, 'bad.yaml'),
    'listen:\n  prot: 80\nupstreams:\n  pets:\n    baseURL: http://x\n    auth:\n      type: bearer\n      token: ${MISSING_TOKEN}\n',
  );
});
afterAll(() => sandbox.close());

describe('reqforge CLI', () => {
  it('prints its version and help', async () => {
    const v = io(dir);
    expect(await run(argv('--version'), v.io)).toBe(EXIT.ok);
    expect(v.out().trim()).toBe(VERSION);
    const h = io(dir);
    expect(await run(argv('--help'), h.io)).toBe(EXIT.ok);
    for (const command of ['gateway', 'sandbox', 'call', 'token', 'check'])
      expect(h.out()).toContain(command);
  });

  it('checks a valid configuration', async () => {
    const t = io(dir, { PETS_URL: `${sandbox.url}/api` });
    expect(await run(argv('check'), t.io)).toBe(EXIT.ok);
    expect(t.out()).toContain('is valid: 1 upstream(s) (pets)');
  });

  it('explains every configuration problem with its path, without a stack trace', async () => {
    const t = io(dir);
    expect(await run(argv('check', '--config', 'bad.yaml'), t.io)).toBe(EXIT.usage);
    expect(t.err()).toContain('listen.prot: unknown key; did you mean "port"?');
    expect(t.err()).toContain('upstreams.pets.baseURL: unknown key; did you mean "baseUrl"?');
    expect(t.err()).toContain('upstreams.pets.auth.token: environment variable MISSING_TOKEN is not set');
    expect(t.err()).not.toMatch(/\n\s+at /);
    const missing = io(dir);
    expect(await run(argv('check', '-c', 'nope.yaml'), missing.io)).toBe(EXIT.usage);
    expect(missing.err()).toContain('file not found');
  });

  it('calls an upstream, pretty-printing JSON on a terminal, with exit codes from the outcome', async () => {
    const env = { PETS_URL: `${sandbox.url}/api` };
    const ok = io(dir, env, true);
    expect(await run(argv('call', 'pets', 'GET', '/pets/1'), ok.io)).toBe(EXIT.ok);
    expect(ok.out()).toContain('{\n  "id": 1,');
    const created = io(dir, env);
    expect(await run(argv('call', 'pets', 'POST', '/pets', '-d', '{"name":"Zed"}'), created.io)).toBe(
      EXIT.ok,
    );
    expect(JSON.parse(created.out())).toMatchObject({ name: 'Zed' });
    const notFound = io(dir, env);
    expect(await run(argv('call', 'pets', 'GET', '/pets/999'), notFound.io)).toBe(EXIT.clientError);
    const failing = io(dir, env);
    expect(await run(argv('call', 'pets', 'GET', '/pets?fault=500'), failing.io)).toBe(EXIT.serverError);
    const unknown = io(dir, env);
    expect(await run(argv('call', 'cats', 'GET', '/'), unknown.io)).toBe(EXIT.usage);
    expect(unknown.err()).toContain('Unknown upstream "cats"; configured: pets');
    const badHeader = io(dir, env);
    expect(await run(argv('call', 'pets', 'GET', '/pets', '-H', 'nocolon'), badHeader.io)).toBe(EXIT.usage);
  });

  it('runs the gateway until stopped', async () => {
    const t = io(dir, { PETS_URL: `${sandbox.url}/api` });
    const done = run(argv('gateway', '--port', '0'), t.io);
    for (let i = 0; i < 100 && !t.err().includes('listening on'); i++)
      await new Promise((r) => setTimeout(r, 20));
    const url = /listening on (\S+)/.exec(t.err())?.[1] ?? '';
    const res = await request(`${url}/pets/pets/1`);
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    t.stop();
    expect(await done).toBe(EXIT.ok);
    expect(t.out()).toContain('"msg":"gateway listening"');
  });

  it('runs the combined sandbox until stopped', async () => {
    const t = io(dir);
    const done = run(argv('sandbox', '--port', '0'), t.io);
    for (let i = 0; i < 100 && !t.out().includes('API:'); i++) await new Promise((r) => setTimeout(r, 20));
    const url = /sandbox on (\S+)/.exec(t.out())?.[1] ?? '';
    const pets = await request(`${url}/api/pets`);
    expect(pets.statusCode).toBe(200);
    await pets.body.dump();
    const token = await request(`${url}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from('demo:demo-secret').toString('base64')}`,
      },
      body: 'grant_type=client_credentials',
    });
    expect(token.statusCode).toBe(200);
    await token.body.dump();
    t.stop();
    expect(await done).toBe(EXIT.ok);
  });

  it('shows token facts for an OAuth2 upstream, never the token', async () => {
    const idp = await startOAuthServer();
    try {
      writeFileSync(
        join(dir, 'oauth.yaml'),
        `upstreams:\n  secure:\n    baseUrl: \${PETS_URL}\n    auth:\n      type: oauth2\n      tokenUrl: ${idp.tokenUrl}\n      clientId: demo\n      clientSecret: \${SECRET}\n  plain:\n    baseUrl: http://127.0.0.1:1\n`,
      );
      const env = { PETS_URL: `${sandbox.url}/api`, SECRET: 'demo-secret' };
      const t = io(dir, env);
      expect(await run(argv('token', 'secure', '--refresh', '-c', 'oauth.yaml'), t.io)).toBe(EXIT.ok);
      const shown = JSON.parse(t.out());
      expect(shown.store).toEqual({ type: 'memory', shared: false });
      expect(shown.fetched[0]).toMatchObject({ state: 'valid', scope: expect.any(String) });
      for (const token of idp.issuedSecrets()) expect(t.out()).not.toContain(token);
      expect(t.out()).not.toContain('demo-secret');
      // Without --refresh, a memory store has nothing a CLI could read: said so, nothing fetched.
      const memory = io(dir, env);
      expect(await run(argv('token', 'secure', '-c', 'oauth.yaml'), memory.io)).toBe(EXIT.processLocal);
      expect(memory.out()).toBe('');
      expect(memory.err()).toMatch(/^✗ The token store is "memory": .* nothing for the CLI to read .*\n$/);
      expect(idp.stats().grants).toEqual({ client_credentials: 1 });
      const plain = io(dir, env);
      expect(await run(argv('token', 'plain', '-c', 'oauth.yaml'), plain.io)).toBe(EXIT.usage);
      expect(plain.err()).toContain('does not use OAuth2');
    } finally {
      await idp.close();
    }
  });
});
