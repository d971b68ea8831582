// Issue 12 item 5: `/ready` cannot see a dead token store. A real gateway over a private redis-server that is
// SIGKILLed and restarted: `/ready`'s body, `/status` and `/status.json`, the `reqforge_token_store_up` gauge and
// the log report the outage and the recovery within seconds, with `ready.requireStore` off (200, the fallback
// serves) and on (503 problem+json naming the store).
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { type Gateway, startGateway } from '../../src/gateway/server.js';
import type { Logger } from '../../src/observability/logging.js';
import { freePort, haveRedisServer, killed, startRedis } from '../helpers/redis-server.js';
import { IN_CI, runId } from '../stores/services.js';

interface Line {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

function captureLogger(lines: Line[]): Logger {
  const at =
    (level: string) =>
    (fields: unknown, msg?: string): void => {
      lines.push({ level, msg: msg ?? '', fields: (fields ?? {}) as Record<string, unknown> });
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as Logger;
}

async function get(gateway: Gateway, path: string) {
  const res = await fetch(`${gateway.url}${path}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

async function storeGauge(gateway: Gateway): Promise<string | undefined> {
  const text = (await get(gateway, '/metrics/reqforge_token_store_up')).text;
  return /^reqforge_token_store_up\{store="redis"\} (\d)$/m.exec(text)?.[1];
}

/** Polls `check` every 100 ms until it is true; returns the milliseconds it took, fails after `limit`. */
async function within(limit: number, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > limit) throw new Error(`not within ${limit} ms`);
    await sleep(100);
  }
  return Date.now() - start;
}

describe.skipIf(!haveRedisServer && !IN_CI)(
  `gateway token store health through a Redis outage${haveRedisServer ? '' : ' [skipped: redis-server is not installed; CI=true fails instead]'}`,
  () => {
    const children: ChildProcess[] = [];
    const gateways: Gateway[] = [];
    afterAll(async () => {
      for (const g of gateways) await g.close({ grace: 50 }).catch(() => undefined);
      await Promise.all(children.map(killed));
    });

    it('reports the outage and the recovery on /ready, /status, the metric and the log', async () => {
      const port = await freePort();
      let redis = await startRedis(port);
      children.push(redis);
      const logs: { lenient: Line[]; strict: Line[] } = { lenient: [], strict: [] };
      const start = async (requireStore: boolean, lines: Line[]) => {
        const config = parseGatewayConfig({
          metrics: { defaultMetrics: false },
          store: { type: 'redis', url: `redis://127.0.0.1:${port}`, keyPrefix: `${runId('health')}:` },
          ...(requireStore && { ready: { requireStore: true } }),
          upstreams: { pets: { baseUrl: 'http://127.0.0.1:9/api' } },
        });
        const gateway = await startGateway({ config, port: 0, logger: captureLogger(lines) });
        gateways.push(gateway);
        return gateway;
      };
      const lenient = await start(false, logs.lenient);
      const strict = await start(true, logs.strict);

      // Healthy: both ready, the store shown up everywhere.
      for (const gateway of [lenient, strict]) {
        const ready = await get(gateway, '/ready');
        expect(ready.status).toBe(200);
        expect(JSON.parse(ready.text)).toEqual({
          status: 'ready',
          draining: false,
          store: { name: 'redis', up: true },
        });
        expect(JSON.parse((await get(gateway, '/status.json')).text).store).toEqual({
          name: 'redis',
          up: true,
        });
        expect(await storeGauge(gateway)).toBe('1');
      }

      // Outage: no traffic at all, yet within a few seconds every surface says so.
      await killed(redis);
      await within(5_000, async () => (await storeGauge(lenient)) === '0');
      await within(5_000, async () => (await storeGauge(strict)) === '0');

      const lenientReady = await get(lenient, '/ready');
      expect(lenientReady.status).toBe(200);
      expect(JSON.parse(lenientReady.text)).toEqual({
        status: 'ready',
        draining: false,
        store: { name: 'redis', up: false },
      });

      const strictReady = await get(strict, '/ready');
      expect(strictReady.status).toBe(503);
      expect(strictReady.type).toBe('application/problem+json');
      const problem = JSON.parse(strictReady.text);
      expect(problem).toMatchObject({
        type: expect.stringMatching(/store-unavailable$/),
        status: 503,
        instance: '/ready',
        dependency: 'store',
        store: { name: 'redis', up: false },
      });
      expect(problem.detail).toContain('redis token store');

      const status = JSON.parse((await get(lenient, '/status.json')).text);
      expect(status.ready).toBe(true);
      expect(status.store).toEqual({ name: 'redis', up: false });
      expect(JSON.parse((await get(strict, '/status.json')).text).ready).toBe(false);
      expect((await get(lenient, '/status')).text).toContain('"store":{"name":"redis","up":false}');

      for (const lines of [logs.lenient, logs.strict]) {
        const down = lines.filter((l) => l.msg === 'token store down');
        expect(down).toHaveLength(1);
        expect(down[0]).toMatchObject({ level: 'warn', fields: { store: 'redis' } });
        expect(lines.filter((l) => l.msg === 'token store up')).toHaveLength(0);
      }

      // Recovery: the same port again; the client reconnects and the next probe sees it.
      redis = await startRedis(port);
      children.push(redis);
      await within(10_000, async () => (await get(strict, '/ready')).status === 200);
      await within(5_000, async () => (await storeGauge(lenient)) === '1');
      expect(await storeGauge(strict)).toBe('1');
      expect(JSON.parse((await get(strict, '/ready')).text).store).toEqual({ name: 'redis', up: true });
      expect(JSON.parse((await get(lenient, '/status.json')).text).store).toEqual({
        name: 'redis',
        up: true,
      });
      expect((await get(lenient, '/status')).text).toContain('"store":{"name":"redis","up":true}');
      for (const lines of [logs.lenient, logs.strict]) {
        const up = lines.filter((l) => l.msg === 'token store up');
        expect(up).toHaveLength(1);
        expect(up[0]).toMatchObject({ level: 'info', fields: { store: 'redis' } });
        expect(lines.filter((l) => l.msg === 'token store down')).toHaveLength(1);
      }
    }, 40_000);
  },
);
