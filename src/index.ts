/**
 * reqforge: resilient, authenticated, observable HTTP for services.
 * @packageDocumentation
 */

export * from './auth/index.js';
export {
  Client,
  type ClientJson,
  createClient,
  type ResponsePromise,
  type SendOptions,
} from './client/client.js';
export type { BodyInit, CallArgs, CallOptions, ClientOptions, PropagationOptions } from './client/options.js';
export type {
  BreakerReport,
  BreakerStateName,
  BulkheadState,
  CircuitBreakerState,
  ClientState,
  LimiterTarget,
  RateLimitState,
  RetryBudgetState,
  UsageState,
} from './client/state.js';
export { type AmbientContext, getContext, runWithContext } from './core/ambient.js';
export { type Clock, sleepWith, systemClock, type TimerHandle, type WaitSignal } from './core/clock.js';
export { type AbortState, CallAbort, type CallContextJson, NEVER_ABORTED } from './core/context.js';
export * from './core/errors.js';
export { EventHub, type Listener } from './core/events.js';
export {
  type Duration,
  type OptionIssue,
  parseDuration,
  parseSize,
  type Size,
} from './core/options/index.js';
export { compose, definePolicy } from './core/pipeline.js';
export {
  parseRateLimitHeaders,
  parseRateLimitPolicies,
  type RateLimitInfo,
  type RateLimitPolicyInfo,
} from './core/rate-limit-headers.js';
export {
  DEFAULT_SECRET_HEADERS,
  DEFAULT_SECRET_PARAMS,
  defaultRedactor,
  type RedactionOptions,
  Redactor,
} from './core/redact.js';
export {
  type BodyFactory,
  type BodyStream,
  type HeaderRecord,
  type HeadersInit,
  type HeaderValue,
  HttpRequest,
  type HttpRequestInit,
  IDEMPOTENT_METHODS,
  mergeHeaders,
  type RequestBody,
} from './core/request.js';
export {
  BodySource,
  createHttpError,
  DEFAULT_ERROR_BODY_LIMIT,
  DEFAULT_MAX_BODY_SIZE,
  HttpResponse,
  type HttpResponseInit,
  type ResponseHeaders,
} from './core/response.js';
export { parseRateLimitWait, parseRetryAfter } from './core/retry-after.js';
export { fingerprint, isSecret, REDACTED, reveal, Secret } from './core/secret.js';
export type {
  BreakerState,
  CallContext,
  CallPolicyOptions,
  CallTags,
  ClientEvents,
  Handler,
  Policy,
  TimeoutOptions,
  TokenActivity,
  Transport,
} from './core/types.js';
export {
  type ArrayFormat,
  expandPath,
  type PathParams,
  type PathParamValue,
  type QueryInit,
  type QueryValue,
  serializeQuery,
} from './core/url.js';
export {
  type ClientDefinition,
  type ConnectedClient,
  type ConnectOptions,
  type DefineClientOptions,
  defineClient,
} from './declarative/define.js';
export { isResponseValidationError, ResponseValidationError } from './declarative/errors.js';
export * from './limits/index.js';
export * from './policies/index.js';
export * from './resilience/index.js';
export {
  createTokenStore,
  TOKEN_STORE_TYPES,
  type TokenStoreConfig,
  type TokenStoreType,
} from './stores/connect.js';
export {
  EncryptedTokenStore,
  type EncryptedTokenStoreOptions,
  type EncryptionKey,
  TOKEN_KEY_ENV,
} from './stores/encrypted.js';
export { MemoryTokenStore, type MemoryTokenStoreOptions } from './stores/memory.js';
export {
  isDegradedLease,
  type ResilientLease,
  ResilientTokenStore,
  type ResilientTokenStoreOptions,
  type StoreEvents,
  type StoreOperation,
} from './stores/resilient.js';
export type { Lease, TokenStore } from './stores/types.js';
export {
  createDispatcher,
  HttpTransport,
  type HttpTransportOptions,
  type TlsOptions,
} from './transport/undici.js';
export { VERSION } from './version.js';
