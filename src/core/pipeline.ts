import type { Handler, Policy } from './types.js';

/**
 * Builds a {@link Policy} from a name and a wrap function.
 *
 * @example
 * const stamp = definePolicy('stamp', (next) => (req, ctx) => next(req.withHeaders({ 'x-stamp': '1' }), ctx));
 */
export function definePolicy(name: string, wrap: (next: Handler) => Handler): Policy {
  return { name, wrap };
}

/**
 * Folds policies around an innermost handler: the first policy is the outermost.
 * Runs once at client construction, so calls pay nothing for composition.
 */
export function compose(policies: readonly Policy[], innermost: Handler): Handler {
  let handler = innermost;
  for (let i = policies.length - 1; i >= 0; i--) handler = policies[i]!.wrap(handler);
  return handler;
}
