/**
 * Token events without hand wiring: a TokenManager's lifecycle events forwarded to the events of every client that
 * authenticates with it (through `Policy.attach`) and of a session, as one `token` event (`kind` + the manager's
 * payload) and `storeError`. Metrics and logs subscribed to a client see them like any other client event.
 */
import type { EventHub } from '../core/events.js';
import type { ClientEvents } from '../core/types.js';
import type { TokenManager } from './token-manager.js';
import type { TokenEvents } from './types.js';

/** The manager events forwarded as `token` events (`cacheHit` comes from the auth policy, per call). */
type ForwardedKind = 'acquired' | 'refreshed' | 'failed' | 'invalidated' | 'expired';
const FORWARDED: readonly ForwardedKind[] = ['acquired', 'refreshed', 'failed', 'invalidated', 'expired'];

/** The `token` event of a client or session: the manager event's name as `kind`, and its payload. */
export type TokenClientEvent = {
  [K in ForwardedKind | 'cacheHit']: { readonly kind: K } & TokenEvents[K];
}[ForwardedKind | 'cacheHit'];

/** The events a client or a session receives from token managers. */
export type TokenHubEvents = Pick<ClientEvents, 'token' | 'storeError'>;

/** One manager's subscription, shared by every hub it forwards to (counted, so a hub attached twice gets one copy). */
class Relay {
  readonly #hubs = new Map<EventHub<TokenHubEvents>, number>();
  readonly #manager: TokenManager;
  #offs: (() => void)[] = [];

  constructor(manager: TokenManager) {
    this.#manager = manager;
  }

  attach(hub: EventHub<TokenHubEvents>): () => void {
    this.#hubs.set(hub, (this.#hubs.get(hub) ?? 0) + 1);
    if (this.#offs.length === 0) this.#subscribe();
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      const n = (this.#hubs.get(hub) ?? 1) - 1;
      if (n > 0) this.#hubs.set(hub, n);
      else this.#hubs.delete(hub);
      if (this.#hubs.size === 0) this.#unsubscribe();
    };
  }

  #subscribe(): void {
    const events = this.#manager.events;
    for (const kind of FORWARDED) {
      this.#offs.push(
        events.on(kind, (payload) => {
          const event = { kind, ...payload } as TokenClientEvent;
          for (const hub of this.#hubs.keys()) if (hub.has('token')) hub.emit('token', event);
        }),
      );
    }
    this.#offs.push(
      events.on('storeError', (payload) => {
        for (const hub of this.#hubs.keys()) if (hub.has('storeError')) hub.emit('storeError', payload);
      }),
    );
  }

  #unsubscribe(): void {
    for (const off of this.#offs.splice(0)) off();
  }
}

const relays = new WeakMap<TokenManager, Relay>();

/**
 * Forwards `manager`'s token events (acquired, refreshed, failed, invalidated, expired, store errors) to `hub`
 * until the returned function is called. Any number of hubs share one subscription per manager.
 */
export function relayTokenEvents(manager: TokenManager, hub: EventHub<TokenHubEvents>): () => void {
  let relay = relays.get(manager);
  if (!relay) {
    relay = new Relay(manager);
    relays.set(manager, relay);
  }
  return relay.attach(hub);
}
