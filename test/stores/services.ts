import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { describe, it } from 'vitest';

/** The external services the store tests use. */
export type ServiceName = 'redis' | 'postgres' | 'mysql' | 'memcached';

/** Connection settings, overridable with REQFORGE_TEST_<NAME>_URL. */
export const SERVICE_URLS: Record<ServiceName, string> = {
  redis: process.env.REQFORGE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
  postgres: process.env.REQFORGE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  mysql: process.env.REQFORGE_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test',
  memcached: process.env.REQFORGE_TEST_MEMCACHED_URL ?? '127.0.0.1:11211',
};

function hostPort(name: ServiceName): { host: string; port: number } {
  const raw = SERVICE_URLS[name];
  const url = new URL(raw.includes('://') ? raw : `tcp://${raw.split(',')[0]}`);
  const defaults: Record<ServiceName, number> = {
    redis: 6379,
    postgres: 5432,
    mysql: 3306,
    memcached: 11211,
  };
  return { host: url.hostname || '127.0.0.1', port: Number(url.port) || defaults[name] };
}

/** Resolves true when a TCP connection to `host:port` opens within `timeoutMs`. */
export function tcpReachable(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

const probes = new Map<ServiceName, Promise<boolean>>();

/** Whether a service answers on its port (probed once per test file). */
export function serviceUp(name: ServiceName): Promise<boolean> {
  let probe = probes.get(name);
  if (!probe) {
    const { host, port } = hostPort(name);
    probe = tcpReachable(host, port);
    probes.set(name, probe);
  }
  return probe;
}

/** True in CI, where a missing service is a failure instead of a skip. */
export const IN_CI = process.env.CI === 'true';

/**
 * `describe` for tests that need a service. Locally, an unreachable service skips the block with the
 * reason in its title; with CI=true it fails with one test that says which service is missing.
 */
export function describeWithService(name: ServiceName, up: boolean, title: string, body: () => void): void {
  if (up) {
    describe(title, body);
    return;
  }
  const { host, port } = hostPort(name);
  const reason = `${name} is not reachable at ${host}:${port}`;
  if (IN_CI) {
    describe(title, () => {
      it(`needs ${name}`, () => {
        throw new Error(`${reason} (CI=true: services must be up; run .ci/services.sh)`);
      });
    });
    return;
  }
  describe.skipIf(true)(`${title} [skipped: ${reason}; start it or set CI=true to fail instead]`, body);
}

/** A name unique to this test run, safe as a SQL identifier and a key prefix. */
export function runId(label: string): string {
  return `rf_${label}_${process.pid}_${randomBytes(4).toString('hex')}`;
}
