import type { Clock } from './clock.js';
import type { EventHub } from './events.js';
import type { CallContext, CallPolicyOptions, CallTags, ClientEvents } from './types.js';

/** A signal that never aborts: the default for calls without a signal. Transports may skip listening to it. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/** Creates the context for one call. */
export function createCallContext(init: {
  readonly signal?: AbortSignal | undefined;
  readonly tags: CallTags;
  readonly clock: Clock;
  readonly events: EventHub<ClientEvents>;
  readonly options: CallPolicyOptions;
  readonly maxBodySize: number;
}): CallContext {
  return {
    signal: init.signal ?? NEVER_ABORTED,
    deadline: Number.POSITIVE_INFINITY,
    attempt: 1,
    tags: init.tags,
    bag: new Map(),
    clock: init.clock,
    events: init.events,
    options: init.options,
    maxBodySize: init.maxBodySize,
    startedAt: init.clock.now(),
  };
}
