/** The innermost handler of a client: the transport, announcing each attempt (the `attempt` event) first. */
import { type DeadlineAwareHandler, deadlineEntry } from '../core/deadlines.js';
import type { EventHub } from '../core/events.js';
import { isSettlingOnAbort, settlesOnAbort } from '../core/pipeline.js';
import type { HttpRequest } from '../core/request.js';
import type { CallContext, ClientEvents, Handler } from '../core/types.js';

/**
 * Wraps the transport so every attempt emits `attempt` (only when someone listens), keeping what the transport
 * offers the policies around it: settling on abort, and its deadline entry point for an attempt timeout.
 */
export function announcingAttempts(transport: Handler, events: EventHub<ClientEvents>): Handler {
  const announce = (request: HttpRequest, ctx: CallContext) => {
    if (events.has('attempt')) events.emit('attempt', { request, ctx, attempt: ctx.attempt });
  };
  const handler: Handler = (request, ctx) => {
    announce(request, ctx);
    return transport(request, ctx);
  };
  settlesOnAbort(handler, isSettlingOnAbort(transport));
  const withDeadline = deadlineEntry(transport);
  if (!withDeadline) return handler;
  // Keep the transport's deadline entry point visible to an attempt timeout placed around this handler.
  const aware: DeadlineAwareHandler['withDeadline'] = (request, ctx, deadline) => {
    announce(request, ctx);
    return withDeadline(request, ctx, deadline);
  };
  return Object.assign(handler, { withDeadline: aware });
}
