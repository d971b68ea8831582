import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenPipeline } from '../../src/auth/index.js';
import { isInvalidOptionError } from '../../src/core/errors.js';
import { SqliteTokenStore } from '../../src/stores/sqlite.js';
import { compileSrc } from '../helpers/compile.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { describeWithService, serviceUp } from '../stores/services.js';

const here = dirname(fileURLToPath(import.meta.url));
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

interface Issued {
  device: string[];
  app: string[];
}

/** The device → app chain's endpoints; the device endpoint is slow, so concurrent processes overlap. */
async function chainServer(): Promise<{ server: TestServer; issued: Issued }> {
  const issued: Issued = { device: [], app: [] };
  const server = await startServer(async (req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/device') {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const token = `device-${randomBytes(12).toString('hex')}`;
      issued.device.push(token);
      res.end(JSON.stringify({ device_token: token, expires_in: 30 * 24 * 3600 }));
      return;
    }
    const device = String(req.headers['x-device-token']);
    if (!issued.device.includes(device)) {
      res.writeHead(401).end('{"error":"invalid_token"}');
      return;
    }
    const token = `app-${randomBytes(12).toString('hex')}`;
    issued.app.push(token);
    res.end(JSON.stringify({ app_token: token, expires_in: 3600 }));
  });
  cleanup.push(() => server.close());
  return { server, issued };
}

interface Report {
  type: string;
  output: string;
  device: string;
  deviceExpiresAt: number;
  fetches: { device: number; app: number };
  message?: string;
}

async function runWorker(args: string[]): Promise<Report> {
  const src = await compileSrc();
  return new Promise((resolve, reject) => {
    const child = fork(join(here, 'pipeline-worker.mjs'), [src, ...args], {
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    let report: Report | undefined;
    child.on('message', (m) => {
      report = m as Report;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (report?.type === 'done') resolve(report);
      else reject(new Error(`worker exited with ${code}: ${report?.message ?? stderr.slice(-2000)}`));
    });
  });
}

const KEY = randomBytes(32).toString('hex');

describe('token pipelines in a store', () => {
  it('a device token survives a process restart with a SQLite store (encrypted at rest)', async () => {
    const { server, issued } = await chainServer();
    const dir = await mkdtemp(join(tmpdir(), 'reqforge-pipeline-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'tokens.db');
    // The app token lives 1 ms, so the second process must fetch it again, with the stored device token.
    const first = await runWorker(['sqlite', file, server.url, KEY, '1']);
    const second = await runWorker(['sqlite', file, server.url, KEY, '1']);
    expect(issued.device).toHaveLength(1);
    expect(issued.app).toHaveLength(2);
    expect(first.fetches).toEqual({ device: 1, app: 1 });
    expect(second.fetches).toEqual({ device: 0, app: 1 });
    expect(second.device).toBe(first.device);
    // The step's TTL travels with the stored token: 30 days from the first fetch, seen by the second process.
    expect(second.deviceExpiresAt).toBe(first.deviceExpiresAt);
    const bytes = await readFile(file);
    expect(bytes.includes(Buffer.from(issued.device[0]!))).toBe(false);
  }, 60_000);

  it('refuses a store without a pipeline id, and manager options without a store', async () => {
    const store = await SqliteTokenStore.open({ path: ':memory:' });
    cleanup.push(() => store.close());
    const steps = { a: { fetch: async () => 'x' } };
    const refusal = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isInvalidOptionError(e) ? e.option : e;
      }
      return undefined;
    };
    expect(refusal(() => new TokenPipeline({ steps, store }))).toBe('id');
    expect(refusal(() => new TokenPipeline({ steps, tokens: { leaseTtl: 1000 } }))).toBe('tokens');
    expect(
      refusal(() => new TokenPipeline({ steps, id: 'p', store, tokens: { leaseTtl: -1 } as never })),
    ).toBe('leaseTtl');
  });
});

describeWithService('redis', await serviceUp('redis'), 'token pipelines on Redis', () => {
  it('two processes share one device token: fetched once', async () => {
    const { server, issued } = await chainServer();
    const prefix = `rf-pipeline-${randomBytes(6).toString('hex')}:`;
    const reports = await Promise.all([
      runWorker(['redis', prefix, server.url, KEY, String(3600_000)]),
      runWorker(['redis', prefix, server.url, KEY, String(3600_000)]),
    ]);
    expect(issued.device).toHaveLength(1);
    expect(issued.app).toHaveLength(1);
    // One process fetched the chain; the other adopted the app token it stored (never needing the device token).
    expect(reports[0]!.output).toBe(reports[1]!.output);
    expect(reports.map((r) => r.fetches.device).sort()).toEqual([0, 1]);
    expect(reports.map((r) => r.fetches.app).sort()).toEqual([0, 1]);
  }, 60_000);
});
