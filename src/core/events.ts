import { channel } from 'node:diagnostics_channel';

/** A listener for one event. */
export type Listener<T> = (payload: T) => void;

/**
 * A typed event hub that costs one property read when nobody listens. Every event is also
 * published on the `node:diagnostics_channel` named `reqforge:<event>` when that channel has
 * subscribers. A throwing listener never breaks a call: its error is reported on `process`
 * as an `uncaughtException`-free warning.
 */
export class EventHub<Events extends object> {
  #listeners: { [K in keyof Events]?: Listener<Events[K]>[] } = {};
  // Channels by event name, in a plain object: `has()` runs several times per call.
  readonly #channels: { [K in keyof Events]?: ReturnType<typeof channel> } = {};

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends keyof Events>(name: K, listener: Listener<Events[K]>): () => void {
    const list = this.#listeners[name];
    this.#listeners = { ...this.#listeners, [name]: list ? [...list, listener] : [listener] };
    return () => this.off(name, listener);
  }

  /** Unsubscribes a listener. */
  off<K extends keyof Events>(name: K, listener: Listener<Events[K]>): void {
    const list = this.#listeners[name]?.filter((l) => l !== listener);
    const next = { ...this.#listeners };
    if (list && list.length > 0) next[name] = list;
    else delete next[name];
    this.#listeners = next;
  }

  /** True when someone listens, in-process or on the diagnostics channel: check before building a payload. */
  has(name: keyof Events): boolean {
    return this.#listeners[name] !== undefined || this.#channel(name).hasSubscribers;
  }

  /** Delivers an event to every listener, synchronously. */
  emit<K extends keyof Events>(name: K, payload: Events[K]): void {
    const list = this.#listeners[name];
    if (list) {
      for (const listener of list) {
        try {
          listener(payload);
        } catch (error) {
          process.emitWarning(`reqforge: a "${String(name)}" listener threw: ${String(error)}`, {
            code: 'REQFORGE_LISTENER_ERROR',
          });
        }
      }
    }
    const ch = this.#channel(name);
    if (ch.hasSubscribers) ch.publish(payload);
  }

  #channel(name: keyof Events): ReturnType<typeof channel> {
    let ch = this.#channels[name];
    if (!ch) {
      ch = channel(`reqforge:${String(name)}`);
      this.#channels[name] = ch;
    }
    return ch;
  }
}
