import { type ChildProcess, fork } from 'node:child_process';

/** A message from a worker: `type` names it; `error` messages fail every pending wait. */
export interface WorkerMessage {
  readonly type: string;
  readonly message?: string;
  readonly [field: string]: unknown;
}

/**
 * A forked worker process driven by IPC messages, for multi-process tests: wait for a message type with a
 * timeout, send orders, stop politely and kill if it lingers. A worker that dies fails every pending wait
 * with its exit code and the tail of its stderr.
 */
export class ChildWorker<M extends WorkerMessage = WorkerMessage> {
  readonly child: ChildProcess;
  readonly #waiting = new Map<string, { resolve: (m: M) => void; reject: (e: Error) => void }>();
  #gone: Error | undefined;
  stderr = '';

  constructor(
    script: string,
    args: readonly string[],
    options: { readonly stdout?: 'ignore' | 'inherit' } = {},
  ) {
    this.child = fork(script, [...args], {
      stdio: ['ignore', options.stdout ?? 'inherit', 'pipe', 'ipc'],
      execArgv: ['--enable-source-maps'],
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-4_000);
    });
    this.child.on('message', (raw) => {
      const m = raw as M;
      if (m.type === 'error') {
        this.#failAll(new Error(`worker ${this.child.pid}: ${m.message}`));
        return;
      }
      const waiter = this.#waiting.get(m.type);
      this.#waiting.delete(m.type);
      waiter?.resolve(m);
    });
    this.child.on('exit', (code, signal) => {
      this.#gone = new Error(
        `worker ${this.child.pid} exited (${signal ?? code})${this.stderr ? `:\n${this.stderr}` : ''}`,
      );
      this.#failAll(this.#gone);
    });
  }

  #failAll(error: Error): void {
    for (const w of this.#waiting.values()) w.reject(error);
    this.#waiting.clear();
  }

  /** Resolves with the next message of `type` (register before sending the order that triggers it). */
  next(type: string, timeoutMs = 20_000): Promise<M> {
    if (this.#gone) return Promise.reject(this.#gone);
    return new Promise<M>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(type);
        reject(new Error(`worker ${this.child.pid}: no "${type}" within ${timeoutMs} ms\n${this.stderr}`));
      }, timeoutMs);
      this.#waiting.set(type, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  send(message: object): void {
    this.child.send(message);
  }

  /** Asks the worker to exit (`{ type: 'exit' }`); kills it if it has not gone within `graceMs`. */
  async stop(graceMs = 3_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (this.child.connected) this.child.send({ type: 'exit' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
