/**
 * The sandbox: a local OAuth2 server and a fault-injecting upstream, for demos, tests and benchmarks.
 * Sandbox-only credentials (`demo` / `demo-secret`) must never be used anywhere else.
 * @packageDocumentation
 */
export * from './sandbox/index.js';
