import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Context that follows async work without being passed: set it in your server's request handler,
 * and every reqforge call made while handling that request forwards it.
 */
export interface AmbientContext {
  /** Forwarded as `X-Request-ID` (configurable) on outgoing calls. */
  readonly requestId?: string;
  /** Forwarded as `X-Correlation-ID` (configurable) on outgoing calls. */
  readonly correlationId?: string;
  /** Anything else your hooks and policies want to read. */
  readonly [key: string]: unknown;
}

const storage = new AsyncLocalStorage<AmbientContext>();

/**
 * Runs `fn` with `context` as the ambient context (merged over any outer one).
 *
 * @example
 * server.on('request', (req, res) =>
 *   runWithContext({ requestId: req.headers['x-request-id'] as string }, () => handle(req, res)));
 */
export function runWithContext<T>(context: AmbientContext, fn: () => T): T {
  const outer = storage.getStore();
  return storage.run(outer ? { ...outer, ...context } : context, fn);
}

/** The ambient context of the current async execution, if any. */
export function getContext(): AmbientContext | undefined {
  return storage.getStore();
}
