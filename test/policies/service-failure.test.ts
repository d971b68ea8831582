import { describe, expect, it } from 'vitest';
import type { ReqforgeError } from '../../src/core/errors.js';
import type { CallContext } from '../../src/core/types.js';
import { isServiceFailure } from '../../src/policies/predicates.js';

const ctx = {} as CallContext;
const error = (code: string) => ({ error: { code } as ReqforgeError });

describe('isServiceFailure: only what the service did counts against its breaker', () => {
  it.each([
    'ERR_RATE_LIMITED',
    'ERR_DROPPED',
    'ERR_BULKHEAD_REJECTED',
    'ERR_BODY_TOO_LARGE',
    'ERR_TOKEN_ENDPOINT',
    'ERR_TOKEN_UNAVAILABLE',
    'ERR_TOKEN_STEP',
    'ERR_INVALID_GRANT',
    'ERR_INVALID_CLIENT',
    'ERR_INVALID_SCOPE',
    'ERR_ABORTED',
    'ERR_CIRCUIT_OPEN',
    'ERR_HTTP_404',
  ])('%s is not the service’s failure', (code) => {
    expect(isServiceFailure(error(code), ctx)).toBe(false);
  });

  it.each([
    'ERR_CONNECTION_REFUSED',
    'ERR_CONNECTION_RESET',
    'ERR_TIMEOUT',
    'ERR_HEADERS_TIMEOUT',
    'ERR_SOCKET',
  ])('%s is the service’s failure', (code) => {
    expect(isServiceFailure(error(code), ctx)).toBe(true);
  });
});
