import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { tcpReachable } from '../stores/services.js';

/** A free TCP port on 127.0.0.1 (for a private server; never the machine's shared 6379). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts a throwaway redis-server (no persistence: a restart comes back empty) and waits for its port. */
export async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  let failure: Error | undefined;
  child.once('error', (error) => {
    failure = error;
  });
  for (let i = 0; i < 100; i++) {
    if (failure) throw new Error(`cannot start redis-server: ${failure.message}`);
    if (await tcpReachable('127.0.0.1', port, 100)) return child;
    await sleep(20);
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not start on ${port}`);
}

/** Kills a process with SIGKILL and waits for it to exit. */
export function killed(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  return exited;
}

/** True when a `redis-server` binary is installed. */
export const haveRedisServer: boolean = await new Promise<boolean>((resolve) => {
  const probe = spawn('redis-server', ['--version'], { stdio: 'ignore' });
  probe.once('error', () => resolve(false));
  probe.once('exit', (code) => resolve(code === 0));
});
