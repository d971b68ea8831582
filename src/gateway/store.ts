/**
 * The gateway's token store: built from `store:` (shared across replicas) unless one is injected; `memory`
 * needs none, as each upstream's TokenManager caches in process.
 */
import { isInvalidOptionError } from '../core/errors.js';
import type { EventHub } from '../core/events.js';
import { isSecret } from '../core/secret.js';
import type { Logger } from '../observability/logging.js';
import { TOKEN_KEY_ENV } from '../stores/encrypted.js';
import { ConfigError, type GatewayConfig } from './config.js';
import type { GatewayStore, StoreEvents, Wiring } from './wiring.js';

/** Builds the configured token store, warning when it keeps tokens unencrypted; undefined for `memory`. */
export async function openStore(
  config: GatewayConfig,
  wiring: Wiring,
  events: EventHub<StoreEvents>,
  logger: Logger | undefined,
): Promise<GatewayStore | undefined> {
  if (!wiring.stores || config.store.type === 'memory') return undefined;
  if (!('encryptionKeys' in config.store && config.store.encryptionKeys) && !process.env[TOKEN_KEY_ENV]) {
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
