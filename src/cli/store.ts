/**
 * The token store as `reqforge call` and `reqforge token` open it: the gateway's own `openStore` on the same
 * `store:` settings (backend, key prefix, table, encryption keys), so the CLI reads and writes the very keys the
 * gateway's replicas use, and a description of it that is safe to print (no password, no query string).
 */
import { EventHub } from '../core/events.js';
import { type GatewayConfig, isConfigError } from '../gateway/config.js';
import { openStore, storeEncrypted } from '../gateway/store.js';
import type { GatewayStore, StoreEvents, Wiring } from '../gateway/wiring.js';
import { EXIT, OutcomeError } from './io.js';

/** The configured store as `reqforge token` prints it. */
export interface StoreDescription {
  /** The backend (`memory`, `sqlite`, `redis`, …). */
  readonly type: string;
  /** Where it lives, without credentials: a path, a socket, or `scheme://host:port/path`; absent for `memory`. */
  readonly location?: string;
  /** Whether tokens are encrypted at rest (`store.encryptionKeys` or `REQFORGE_TOKEN_KEY`); absent for `memory`. */
  readonly encrypted?: boolean;
  /** False for `memory`: each process keeps its own tokens. */
  readonly shared: boolean;
}

/** An opened store (undefined for `memory`) and its description. */
export interface CliStore {
  readonly store: GatewayStore | undefined;
  readonly description: StoreDescription;
  /** True once a value read from the store did not decrypt with the configured keys (it reads as a miss). */
  readonly undecryptable: boolean;
  close(): Promise<void>;
}

/**
 * Opens the configured token store without the gateway's "unencrypted" process warning (the output says it). A
 * store that cannot be reached is an {@link OutcomeError} (exit {@link EXIT.failed}) naming it by its safe location.
 */
export async function openCliStore(config: GatewayConfig, wiring: Wiring): Promise<CliStore> {
  const description = describeStore(config);
  let store: GatewayStore | undefined;
  let undecryptable = false;
  const events = new EventHub<StoreEvents>();
  events.on('store:error', (e) => {
    if (e.operation === 'decrypt') undecryptable = true;
  });
  try {
    store = await openStore(config, wiring, events, undefined, { warn: false });
  } catch (error) {
    if (isConfigError(error)) throw error;
    // The driver's message is not printed: it may quote the URL it was given.
    throw unreachable(description, error);
  }
  return {
    store,
    description,
    get undecryptable() {
      return undecryptable;
    },
    close: async () => {
      await store?.close();
    },
  };
}

/** The outcome of a store that does not answer: one line naming it (never its credentials), exit 3. */
export function unreachable(store: StoreDescription, error?: unknown): OutcomeError {
  const code = (error as { code?: unknown } | undefined)?.code;
  const why = typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code) ? ` (${code})` : '';
  return new OutcomeError(
    `The ${store.type} token store at ${store.location} does not answer${why}`,
    EXIT.failed,
  );
}

/** The configured store's type, location (credentials removed) and whether it encrypts; never a secret. */
export function describeStore(config: GatewayConfig): StoreDescription {
  const s = config.store;
  if (s.type === 'memory') return { type: 'memory', shared: false };
  let location: string;
  if (s.type === 'file' || s.type === 'sqlite') location = s.path;
  else if (s.type === 'memcached') location = memcachedServers(s.url?.reveal() ?? '127.0.0.1:11211');
  else location = safeUrl(s.url?.reveal() ?? 'redis://127.0.0.1:6379');
  return { type: s.type, location, encrypted: storeEncrypted(config), shared: true };
}

/** `scheme://host:port/path` of a connection URL: user, password, query and fragment dropped; a socket path kept. */
function safeUrl(value: string): string {
  if (value.startsWith('/')) return value;
  try {
    const url = new URL(value);
    return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** `host:port,…` of a memcached server list, without any `user:password@`. */
function memcachedServers(value: string): string {
  return value
    .replace(/^memcached:\/\//, '')
    .split(',')
    .map((server) => server.slice(server.lastIndexOf('@') + 1))
    .join(',');
}
