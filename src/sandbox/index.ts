/**
 * Local sandboxes for development and tests: an OAuth2 server (and, later, a fault-injecting upstream).
 * **Never expose them beyond loopback.**
 * @packageDocumentation
 */
export * from './oauth.js';
export * from './upstream.js';
