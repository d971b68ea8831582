import { BulkheadRejectedError, InvalidOptionError } from '../core/errors.js';
import { toReqforgeError } from '../core/normalize.js';
import { bulkheadOptionsSchema, type Duration, parseOptions } from '../core/options/index.js';
import { isSettlingOnAbort, settlesOnAbort } from '../core/pipeline.js';
import type { HttpRequest } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import type { CallContext, Handler, Policy } from '../core/types.js';
import { FairQueue, FifoQueue, type Waiter, type WaitQueue } from './bulkhead-queue.js';

/** Bulkhead settings. */
export interface BulkheadOptions {
  /** Calls in flight at most. */
  readonly maxConcurrent: number;
  /** Calls waiting at most; more are rejected at once. @default 0 (no queue: reject when full) */
  readonly queueSize?: number;
  /**
   * Longest wait in the queue, in ms or as a duration such as `'5s'`; 0 means wait as long as the call's own timeout
   * allows. @default 0
   */
  readonly queueTimeout?: Duration;
  /**
   * Fair queuing: waiting calls queue per key (such as the caller or tenant a call is made for), and a freed
   * slot goes to the keys in turn, so a key with many waiting calls delays another key's call by one turn per
   * waiting key at most, never by its whole queue. `queueSize` then bounds each key's queue. Called only when the
   * bulkhead is full. @default undefined (one FIFO queue for every call)
   */
  readonly keyBy?: (request: HttpRequest, ctx: CallContext) => string;
}

/** The bulkhead policy object. */
export interface BulkheadPolicy extends Policy {
  readonly name: 'bulkhead';
  /** Calls in flight and waiting now. */
  snapshot(): { inFlight: number; queued: number; maxConcurrent: number; queueSize: number };
}

/**
 * Limits calls in flight (a bulkhead), so one slow upstream cannot take every socket and every pending
 * promise of the process. Excess calls wait in a bounded FIFO queue with a timeout (or, with `keyBy`, in one
 * queue per key served in turn), or are rejected with {@link BulkheadRejectedError}.
 */
export function bulkhead(options: BulkheadOptions): BulkheadPolicy {
  const o = parseOptions(bulkheadOptionsSchema, options, 'bulkhead');
  const max = o.maxConcurrent;
  const queueSize = o.queueSize ?? 0;
  const queueTimeout = o.queueTimeout ?? 0;
  const keyBy = options.keyBy;
  let inFlight = 0;
  const queue: WaitQueue = keyBy ? new FairQueue(queueSize) : new FifoQueue(queueSize);
  const release = () => {
    const waiter = queue.shift();
    if (waiter) {
      if (waiter.timer !== undefined) waiter.clock.clearTimeout(waiter.timer);
      waiter.resolve(); // the slot passes straight to the next waiter
    } else {
      inFlight--;
    }
  };
  return {
    name: 'bulkhead',
    snapshot: () => ({ inFlight, queued: queue.size, maxConcurrent: max, queueSize }),
    wrap: (next: Handler): Handler => {
      // Runs the call in a slot it holds, and frees the slot when the call settles. No async frame: a call that
      // finds a free slot costs a counter and one `then`.
      const admitted: Handler = (request, ctx) => {
        let result: Promise<HttpResponse>;
        try {
          result = next(request, ctx);
        } catch (error) {
          release();
          return Promise.reject(error);
        }
        result.then(release, release);
        return result;
      };
      // Waits for a slot (the slot is handed over by `release`), then runs the call. A queued call leaves the
      // queue when the call aborts.
      const queued = async (request: HttpRequest, ctx: CallContext): Promise<HttpResponse> => {
        // The key is computed only here, when the bulkhead is full: the fast path stays a counter.
        const key = keyBy ? keyBy(request, ctx) : '';
        if (queue.full(key)) {
          if (ctx.events.has('bulkhead')) ctx.events.emit('bulkhead', { outcome: 'rejected', wait: 0 });
          throw new BulkheadRejectedError('queue-full', { request });
        }
        const since = ctx.clock.now();
        // The call's own abort state, not a signal: a queue of any length adds no listener to a signal that
        // other calls share (calls without a timeout all see the same never-aborting one).
        const abort = ctx.abort;
        if (abort.aborted) throw toReqforgeError(abort.reason, request, abort);
        let onAbort = () => undefined as void;
        try {
          await new Promise<void>((resolve, reject) => {
            const waiter: Waiter = { resolve, key, clock: ctx.clock, timer: undefined };
            const leave = (error: unknown) => {
              queue.remove(waiter);
              if (waiter.timer !== undefined) ctx.clock.clearTimeout(waiter.timer);
              reject(error);
            };
            if (queueTimeout > 0) {
              // A wait on behalf of the call: it keeps the process alive.
              waiter.timer = ctx.clock.setTimeout(
                () => leave(new BulkheadRejectedError('queue-timeout', { request })),
                queueTimeout,
                true,
              );
            }
            onAbort = () => leave(toReqforgeError(abort.reason, request, abort));
            if (!abort.inert) abort.on('abort', onAbort);
            queue.push(waiter);
          });
        } catch (error) {
          if (ctx.events.has('bulkhead'))
            ctx.events.emit('bulkhead', { outcome: 'rejected', wait: ctx.clock.now() - since });
          throw error;
        } finally {
          abort.removeListener('abort', onAbort);
        }
        if (ctx.events.has('bulkhead'))
          ctx.events.emit('bulkhead', { outcome: 'queued', wait: ctx.clock.now() - since });
        return admitted(request, ctx);
      };
      return settlesOnAbort((request, ctx) => {
        if (inFlight < max) {
          inFlight++;
          return admitted(request, ctx);
        }
        return queued(request, ctx);
      }, isSettlingOnAbort(next));
    },
  };
}

/**
 * Runs `fn` over `items` with at most `concurrency` running at once. Results come back in input order, and
 * every failure is kept (like `Promise.allSettled`), so one error never hides the others.
 *
 * @example
 * const results = await mapConcurrent(ids, 8, (id) => api.get('/users/{id}', { params: { id } }).json());
 * const failed = results.filter((r) => r.status === 'rejected');
 */
export async function mapConcurrent<T, R>(
  items: Iterable<T>,
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new InvalidOptionError('concurrency', 'expected an integer >= 1');
  const list = [...items];
  const results = new Array<PromiseSettledResult<R>>(list.length);
  let nextIndex = 0;
  const worker = async () => {
    while (nextIndex < list.length) {
      const i = nextIndex++;
      try {
        results[i] = { status: 'fulfilled', value: await fn(list[i] as T, i) };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, list.length) }, worker));
  return results;
}
