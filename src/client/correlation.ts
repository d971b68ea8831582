import { randomUUID } from 'node:crypto';
import { InvalidRequestError } from '../core/errors.js';
import type { PropagationOptions } from './options.js';

/**
 * The correlation-id generator a client's `propagate.generateCorrelationId` asks for, or undefined: `true` gives
 * random UUIDs, a function is called once per call (never per attempt).
 */
export function correlationIdSource(
  propagate: PropagationOptions | false | undefined,
): (() => string) | undefined {
  const given = propagate === false ? undefined : propagate?.generateCorrelationId;
  if (given === undefined || given === false) return undefined;
  if (given === true) return randomUUID;
  return () => {
    const id = given();
    if (typeof id !== 'string' || id.length === 0) {
      throw new InvalidRequestError('propagate.generateCorrelationId must return a non-empty string');
    }
    return id;
  };
}
