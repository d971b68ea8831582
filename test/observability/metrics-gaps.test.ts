// Issue 15, metrics an operator needs: the retry budget refusing retries, and token store operations (successes and
// errors, with durations), each read back with exact values after a known sequence, on real servers and a real store.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/client.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { retry } from '../../src/policies/retry.js';
import { FileTokenStore } from '../../src/stores/file.js';
import { ResilientTokenStore } from '../../src/stores/resilient.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer((_req, res) => {
    res.statusCode = 503;
    res.end('down');
  });
});
afterAll(() => server.close());

/** The lines of one metric family, without comments. */
async function series(metrics: ReturnType<typeof createMetrics>, name: string): Promise<string[]> {
  return (await metrics.registry.getSingleMetricAsString(name))
    .split('\n')
    .filter((line) => line.length > 0 && !line.startsWith('#'));
}

describe('retry budget exhaustion', () => {
  it('counts each retry the budget refused, by server and upstream, and nothing when it had room', async () => {
    const metrics = createMetrics();
    const port = new URL(server.url).port;
    const starved = createClient({
      baseUrl: server.url,
      name: 'pay',
      throwHttpErrors: false,
      policies: [retry({ retries: 2, baseDelay: 1, maxDelay: 1, budget: { ratio: 0, minRetries: 0 } })],
    });
    const roomy = createClient({
      baseUrl: server.url,
      name: 'ship',
      throwHttpErrors: false,
      policies: [retry({ retries: 2, baseDelay: 1, maxDelay: 1, budget: { ratio: 0, minRetries: 5 } })],
    });
    metrics.instrument(starved);
    metrics.instrument(roomy);
    for (let i = 0; i < 3; i++) expect((await starved.get('/x')).status).toBe(503);
    expect((await roomy.get('/x')).status).toBe(503);
    expect(await series(metrics, 'reqforge_retry_budget_exhausted_total')).toEqual([
      `reqforge_retry_budget_exhausted_total{server_address="127.0.0.1",server_port="${port}",upstream="pay"} 3`,
    ]);
    // The roomy client retried twice; the starved one never did.
    expect(await series(metrics, 'http_client_retries_total')).toEqual([
      `http_client_retries_total{server_address="127.0.0.1",server_port="${port}",upstream="ship",reason="status 503"} 2`,
    ]);
    await starved.close();
    await roomy.close();
  });
});

describe('token store operations', () => {
  it('counts successes and errors by store and operation, with durations', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reqforge-store-ops-'));
    const store = new ResilientTokenStore(await FileTokenStore.open({ path: join(dir, 'tokens') }), {
      retryAfterMs: 60_000,
    });
    const metrics = createMetrics();
    const stop = metrics.trackStoreOperations(store.events);
    await store.set('a', 'value-a', 60_000);
    expect(await store.get('a')).toBe('value-a');
    expect(await store.get('b')).toBeUndefined();
    // The directory disappears: the next write fails, and the store is down (later calls skip it, uncounted).
    rmSync(dir, { recursive: true, force: true });
    await store.set('c', 'value-c', 60_000);
    expect(store.down).toBe(true);
    await store.get('a');
    expect(await series(metrics, 'reqforge_store_operations_total')).toEqual([
      'reqforge_store_operations_total{store="file",operation="set",outcome="ok"} 1',
      'reqforge_store_operations_total{store="file",operation="get",outcome="ok"} 2',
      'reqforge_store_operations_total{store="file",operation="set",outcome="error"} 1',
    ]);
    const counts = (await series(metrics, 'reqforge_store_operation_duration_seconds')).filter((l) =>
      l.includes('_count'),
    );
    expect(counts).toEqual([
      'reqforge_store_operation_duration_seconds_count{store="file",operation="set"} 2',
      'reqforge_store_operation_duration_seconds_count{store="file",operation="get"} 2',
    ]);
    stop();
    await store.probe();
    expect(await series(metrics, 'reqforge_store_operations_total')).toHaveLength(3);
    await store.close();
  });
});
