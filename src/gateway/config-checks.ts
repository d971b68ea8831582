import { z } from 'zod';
import { Secret } from '../core/secret.js';
import { parseEncryptionKey, TOKEN_KEY_ENV } from '../stores/encrypted.js';
import type { ConfigIssue, GatewayConfig } from './config.js';

/**
 * Checks the gateway runs on values it only uses at start (store URLs, encryption keys, configured headers),
 * done while the configuration is loaded so `reqforge check` and `reqforge gateway` refuse the same files.
 * Messages name what was expected, never the value.
 */

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const CONTROL = /[\r\n\0]/;

/** A header value as configured: no CR, LF or NUL (they would split the request, so every call would fail). */
export const headerValueSchema = z
  .string()
  .refine((v) => !CONTROL.test(v), 'expected a header value without CR, LF or NUL');

/** Configured request headers: token names, values without CR, LF or NUL (they would split the request). */
export const headersSchema = z.record(
  z.string().regex(HEADER_NAME, 'expected an HTTP header name'),
  headerValueSchema,
);

/** An AES-256-GCM key as the encrypted store accepts it, wrapped in a {@link Secret}. */
export const encryptionKeySchema = z
  .string()
  .refine(isEncryptionKey, 'expected a 32-byte key as 64 hex characters or 44 base64 characters')
  .transform((value) => new Secret(value));

/** True when `value` decodes to a 32-byte key, exactly as the encrypted store decodes it at start. */
export function isEncryptionKey(value: string): boolean {
  try {
    parseEncryptionKey(value);
    return true;
  } catch {
    return false;
  }
}

/** A store URL with one of `protocols` (or a socket path when `socket`), wrapped in a {@link Secret}. */
export function storeUrlSchema(protocols: readonly string[], socket: boolean) {
  const names = protocols.map((p) => `${p}//`).join(' or ');
  return z
    .string()
    .refine(
      (value) => {
        if (socket && value.startsWith('/')) return true;
        try {
          const url = new URL(value);
          return protocols.includes(url.protocol) && url.hostname !== '';
        } catch {
          return false;
        }
      },
      `expected a ${names} URL${socket ? ' or a socket path' : ''}`,
    )
    .transform((value) => new Secret(value));
}

// host[:port], optionally user:pass@, comma-separated, optionally after memcached://
const MEMCACHED_SERVER = '(?:[^@,\\s/]+@)?[A-Za-z0-9.\\-_]+(?::\\d{1,5})?';
const MEMCACHED = new RegExp(`^(?:memcached://)?${MEMCACHED_SERVER}(?:,${MEMCACHED_SERVER})*$`);

/** Memcached servers: `host:port[,host:port…]`, as the memcached store reads them. */
export const memcachedServersSchema = z
  .string()
  .regex(MEMCACHED, 'expected host:port[,host:port…] (optionally after memcached://)')
  .transform((value) => new Secret(value));

/**
 * What start needs beyond the schema, checked here so `reqforge check` and the gateway share one path: the
 * encryption keys the store will use when none are configured (`REQFORGE_TOKEN_KEY`).
 */
export function startChecks(
  config: Pick<GatewayConfig, 'store'>,
  env: Readonly<Record<string, string | undefined>>,
): ConfigIssue[] {
  const store = config.store;
  if (store.type === 'memory' || store.encryptionKeys !== undefined) return [];
  const keys = (env[TOKEN_KEY_ENV] ?? '').split(',').filter((k) => k.trim() !== '');
  return keys.some((k) => !isEncryptionKey(k))
    ? [
        {
          path: 'store.encryptionKeys',
          message: `not set, and ${TOKEN_KEY_ENV} holds a key that is not 32 bytes as 64 hex characters or 44 base64 characters`,
        },
      ]
    : [];
}
