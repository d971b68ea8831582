// biome-ignore-all lint/suspicious/noTemplateCurlyInString: configs under test use ${ENV} interpolation.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isSecret } from '../../src/core/secret.js';
import { type ConfigError, parseGatewayConfigText } from '../../src/gateway/config.js';
import { compileSrc } from '../helpers/compile.js';

// The value that must never reach stdout or stderr, whether it came from the environment or a literal.
const SECRET = 's3cr3t-Value-9f2c7e';
// A 32-byte key that does decrypt, for configs whose other parts are under test.
const GOOD_KEY = 'a'.repeat(64);

let dir: string;
let entry: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'reqforge-config-errors-'));
  entry = new URL('cli/index.js', await compileSrc()).href;
}, 120_000);

interface Outcome {
  readonly code: number | null;
  readonly output: string;
}

/** Runs `reqforge <args>` as its own Node process; a gateway that does start is stopped after `ms`. */
function reqforge(args: readonly string[], env: Record<string, string>, ms = 25_000): Promise<Outcome> {
  const script = `import { run } from ${JSON.stringify(entry)}; process.exitCode = await run(process.argv);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, 'reqforge', ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const head = 'listen:\n  port: 0\nmetrics:\n  defaultMetrics: false\n';

// Each bad config: the text, the environment, and what the error must say instead of the value.
const CASES: { name: string; text: string; env?: Record<string, string>; says: RegExp }[] = [
  {
    name: 'a secret from the environment in a wrong-typed key',
    text: `${head}upstreams:\n  a:\n    baseUrl: http://127.0.0.1:9\n    timeout:\n      total: \${PETS_TIMEOUT}\n`,
    env: { PETS_TIMEOUT: SECRET },
    says: /upstreams\.a\.timeout\.total: expected a duration such as 500ms/,
  },
  {
    name: 'a YAML syntax error below a secret literal',
    text: `${head}upstreams:\n  a:\n    baseUrl: http://127.0.0.1:9\n    auth: { type: bearer, token: "${SECRET}" }\n    headers: [x: "${SECRET}"\n`,
    says: /\(root\): not valid YAML at line 10, column \d+: /,
  },
  {
    name: 'a JSON syntax error next to a secret',
    text: `{"upstreams": {"a": {"baseUrl": "http://127.0.0.1:9", "auth": {"type": "bearer", "token": ${SECRET}}}}}`,
    says: /\(root\): not valid JSON/,
  },
  {
    name: 'a bad encryption key',
    text: `${head}store:\n  type: file\n  path: ${join(tmpdir(), 'reqforge-never-opened')}\n  encryptionKeys: ["\${TOKEN_KEY}"]\nupstreams:\n  a: { baseUrl: "http://127.0.0.1:9" }\n`,
    env: { TOKEN_KEY: SECRET },
    says: /store\.encryptionKeys\.0: expected a 32-byte key as 64 hex characters or 44 base64 characters/,
  },
  {
    name: 'a bad key in REQFORGE_TOKEN_KEY for a persistent store',
    text: `${head}store:\n  type: file\n  path: ${join(tmpdir(), 'reqforge-never-opened')}\nupstreams:\n  a: { baseUrl: "http://127.0.0.1:9" }\n`,
    env: { REQFORGE_TOKEN_KEY: `${GOOD_KEY},${SECRET}` },
    says: /store\.encryptionKeys: not set, and REQFORGE_TOKEN_KEY holds a key that is not 32 bytes/,
  },
  {
    name: 'a store URL that is not a URL',
    text: `${head}store:\n  type: redis\n  url: "\${REDIS_URL}"\n  encryptionKeys: ["${GOOD_KEY}"]\nupstreams:\n  a: { baseUrl: "http://127.0.0.1:9" }\n`,
    env: { REDIS_URL: `${SECRET}:6379` },
    says: /store\.url: expected a redis:\/\/ or rediss:\/\/ URL or a socket path/,
  },
  {
    name: 'a postgres URL with the wrong scheme',
    text: `${head}store:\n  type: postgres\n  url: "\${PG_URL}"\n  encryptionKeys: ["${GOOD_KEY}"]\nupstreams:\n  a: { baseUrl: "http://127.0.0.1:9" }\n`,
    env: { PG_URL: `mysql://app:${SECRET}@127.0.0.1/test` },
    says: /store\.url: expected a postgres:\/\/ or postgresql:\/\/ URL/,
  },
  {
    name: 'CR/LF in a configured header value',
    text: `${head}upstreams:\n  a:\n    baseUrl: http://127.0.0.1:9\n    headers:\n      x-tenant: "t1\\r\\nx-injected: \${TENANT_SECRET}"\n`,
    env: { TENANT_SECRET: SECRET },
    says: /upstreams\.a\.headers\.x-tenant: expected a header value without CR, LF or NUL/,
  },
  {
    name: 'CR/LF in a bearer token (it would fail every request, not the start)',
    text: `${head}upstreams:\n  a:\n    baseUrl: http://127.0.0.1:9\n    auth: { type: bearer, token: "\${TOKEN}\\r\\nx-injected: 1" }\n`,
    env: { TOKEN: SECRET },
    says: /upstreams\.a\.auth\.token: expected a header value without CR, LF or NUL/,
  },
  {
    name: 'CR/LF in a header auth value',
    text: `${head}upstreams:\n  a:\n    baseUrl: http://127.0.0.1:9\n    auth: { type: header, name: x-api-key, value: "\${KEY}\\n" }\n`,
    env: { KEY: SECRET },
    says: /upstreams\.a\.auth\.value: expected a header value without CR, LF or NUL/,
  },
  {
    name: 'a configured header name that is not a token',
    text: `${head}upstreams:\n  a:\n    baseUrl: http://127.0.0.1:9\n    headers:\n      "x tenant": "\${TENANT_SECRET}"\n`,
    env: { TENANT_SECRET: SECRET },
    says: /upstreams\.a\.headers\.x tenant: expected an HTTP header name/,
  },
  {
    name: 'policies the upstream client refuses (a breaker window shorter than twice the attempt timeout)',
    text: `${head}upstreams:\n  a:\n    baseUrl: http://127.0.0.1:9\n    auth: { type: bearer, token: "\${TOKEN}" }\n    timeout: { attempt: 10s }\n    circuitBreaker: { window: 5s }\n`,
    env: { TOKEN: SECRET },
    says: /upstreams\.a\.circuitBreaker\.window: /,
  },
];

describe('configuration errors print no value, and check refuses what start refuses', () => {
  for (const [i, c] of CASES.entries()) {
    it(`${c.name}: check and gateway both exit 2, name the key, never print the value`, async () => {
      const path = file(`case-${i}.${c.text.startsWith('{') ? 'json' : 'yaml'}`, c.text);
      const [check, gateway] = await Promise.all([
        reqforge(['check', '-c', path], c.env ?? {}),
        reqforge(['gateway', '-c', path], c.env ?? {}),
      ]);
      for (const [what, run] of [
        ['check', check],
        ['gateway', gateway],
      ] as const) {
        // Not even a part of it (a JSON parser quotes the first ten characters around its mistake).
        expect(run.output, `${what} printed the secret`).not.toContain(SECRET.slice(0, 8));
        expect({ what, code: run.code, says: c.says.test(run.output) }, run.output).toEqual({
          what,
          code: 2,
          says: true,
        });
      }
    }, 60_000);
  }

  it('accepts ${VAR} inside YAML flow maps, through check and in the parsed values', async () => {
    const text = `${head}upstreams:\n  a: { baseUrl: \${BASE}, auth: { type: bearer, token: \${TOKEN} }, headers: { x-v: "v-\${V:-1}" } }\n  b: { baseUrl: "\${BASE}/b", paths: [ \${P1}, /two/** ] }\n`;
    const env = { BASE: 'http://127.0.0.1:9', TOKEN: SECRET, P1: '/one/**' };
    const config = parseGatewayConfigText(text, { env });
    expect(config.upstreams.a?.baseUrl).toBe('http://127.0.0.1:9');
    const auth = config.upstreams.a?.auth;
    expect(auth?.type === 'bearer' && isSecret(auth.token) && auth.token.reveal()).toBe(SECRET);
    expect(config.upstreams.a?.headers).toEqual({ 'x-v': 'v-1' });
    expect(config.upstreams.b?.baseUrl).toBe('http://127.0.0.1:9/b');
    expect(config.upstreams.b?.paths).toEqual(['/one/**', '/two/**']);
    const check = await reqforge(['check', '-c', file('flow.yaml', text)], env);
    expect(check.code).toBe(0);
    expect(check.output).toContain('is valid: 2 upstream(s) (a, b)');
    expect(check.output).not.toContain(SECRET);
  }, 60_000);

  it('refuses a YAML warning (an unresolved tag) without quoting it', () => {
    let error: ConfigError | undefined;
    try {
      parseGatewayConfigText(`upstreams:\n  a: { baseUrl: !${SECRET} http://x }\n`, { env: {} });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error?.issues).toEqual([
      { path: '', message: 'not valid YAML at line 2, column 17: Unresolved tag' },
    ]);
  });

  it('reports a YAML syntax error at its place in the text as written, variables included', () => {
    const text = 'upstreams:\n  a: { baseUrl: ${A_VERY_LONG_VARIABLE_NAME}, x: [1 }\n';
    let error: ConfigError | undefined;
    try {
      parseGatewayConfigText(text, { env: {} });
    } catch (e) {
      error = e as ConfigError;
    }
    const message = error?.issues[0]?.message ?? '';
    expect(message).toMatch(/^not valid YAML at line 2, column (\d+): /);
    const column = Number(/column (\d+)/.exec(message)?.[1]);
    // The parser stops at the `}` that closes nothing; columns count the text as written, not the placeholders.
    expect(column).toBeGreaterThan(text.split('\n')[1]?.indexOf('x:') ?? 0);
    expect(column).toBeLessThanOrEqual((text.split('\n')[1]?.length ?? 0) + 1);
    expect(message).not.toContain('rqfvar');
  });
});
