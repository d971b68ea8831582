/**
 * The gateway's token store: built from `store:` (shared across replicas) unless one is injected; `memory`
 * needs none, as each upstream's TokenManager caches in process. {@link StoreHealth} watches it.
 */
import { isInvalidOptionError } from '../core/errors.js';
import type { EventHub } from '../core/events.js';
import { isSecret } from '../core/secret.js';
import type { Logger } from '../observability/logging.js';
import type { Metrics } from '../observability/metrics.js';
import { TOKEN_KEY_ENV } from '../stores/encrypted.js';
import { ConfigError, type GatewayConfig } from './config.js';
import type { GatewayStore, StoreEvents, Wiring } from './wiring.js';

/**
 * Builds the configured token store, warning when it keeps tokens unencrypted (unless `warn: false`, as the CLI,
 * which reports it in its output, passes); undefined for `memory`.
 */
export async function openStore(
  config: GatewayConfig,
  wiring: Wiring,
  events: EventHub<StoreEvents>,
  logger: Logger | undefined,
  options: { readonly warn?: boolean } = {},
): Promise<GatewayStore | undefined> {
  if (!wiring.stores || config.store.type === 'memory') return undefined;
  if (options.warn !== false && !storeEncrypted(config)) {
    const message =
      `reqforge gateway: the ${config.store.type} token store keeps tokens unencrypted at rest; ` +
      `set store.encryptionKeys or ${TOKEN_KEY_ENV} (a 32-byte key, base64 or hex) to encrypt them.`;
    process.emitWarning(message, { code: 'REQFORGE_STORE_UNENCRYPTED' });
    logger?.warn({ store: config.store.type }, message);
  }
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config.store)) {
    raw[k] = Array.isArray(v) ? v.map((x) => (isSecret(x) ? x.reveal() : x)) : isSecret(v) ? v.reveal() : v;
  }
  try {
    return await wiring.stores.createTokenStore(raw, events);
  } catch (error) {
    if (isInvalidOptionError(error)) {
      throw new ConfigError([{ path: `store.${error.option}`, message: error.message }]);
    }
    throw error;
  }
}

/** Whether the configured store encrypts tokens at rest: `store.encryptionKeys`, or keys in `REQFORGE_TOKEN_KEY`. */
export function storeEncrypted(config: GatewayConfig): boolean {
  return (
    ('encryptionKeys' in config.store && config.store.encryptionKeys !== undefined) ||
    !!process.env[TOKEN_KEY_ENV]
  );
}

// Read by stores without a `probe()` (an injected plain store); no token is ever stored under it.
const PROBE_KEY = 'reqforge:ready-probe';

/**
 * How often the gateway asks its token store whether it answers, in milliseconds.
 * @default 2000: an outage and a recovery show on `/ready`, `/status`, the metric and the log within about
 * two seconds even without traffic, for one cheap `GET` per interval.
 */
export const STORE_PROBE_INTERVAL = 2_000;

/** The token store's health as the gateway reports it (on `/ready`, `/status` and `/status.json`). */
export interface StoreHealthReport {
  /** The backend name, such as `redis`. */
  readonly name: string;
  /** Whether the store answered its last probe (or operation). */
  readonly up: boolean;
}

/**
 * Watches the token store: probes it every {@link STORE_PROBE_INTERVAL} past the resilient wrapper's
 * outage-as-miss conversion, follows its `store:down` / `store:up` events, logs each change once and feeds the
 * `reqforge_token_store_up` gauge.
 */
export class StoreHealth {
  readonly #store: GatewayStore;
  readonly #logger: Logger | undefined;
  #up = true;
  #since = Date.now();
  #timer: NodeJS.Timeout | undefined;

  constructor(store: GatewayStore, logger: Logger | undefined, metrics: Metrics | undefined) {
    this.#store = store;
    this.#logger = logger;
    store.events?.on('store:down', () => this.#set(false));
    store.events?.on('store:up', () => this.#set(true));
    metrics?.trackStore(store.name, () => this.#up);
  }

  /** The last known health (no I/O). */
  get report(): StoreHealthReport {
    return { name: this.#store.name, up: this.#up };
  }

  /** Probes the store now and returns the fresh health. Never throws. */
  async check(): Promise<StoreHealthReport> {
    const store = this.#store;
    let up = true;
    try {
      if (store.probe) up = await store.probe();
      else await store.get(PROBE_KEY);
    } catch {
      up = false;
    }
    this.#set(up);
    return this.report;
  }

  /** Starts the periodic probe (its timer never keeps the process alive). */
  start(): void {
    this.#timer ??= setInterval(() => void this.check(), STORE_PROBE_INTERVAL).unref();
    void this.check();
  }

  /** Stops the periodic probe. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #set(up: boolean): void {
    if (up === this.#up) return;
    const now = Date.now();
    const store = this.#store.name;
    if (up) this.#logger?.info({ store, downMs: now - this.#since }, 'token store up');
    else this.#logger?.warn({ store }, 'token store down');
    this.#up = up;
    this.#since = now;
  }
}
