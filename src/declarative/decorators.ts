/**
 * The class form, for users coming from PyFly (`@service_client`), Feign or NestJS: `@client({...})` on a class whose
 * method stubs carry `@get(...)`, `@post(...)` … (the same functions as the object form), connected with
 * `connect(TheClass, options)`. Standard TC39 decorators: no `experimentalDecorators`, and no decorator metadata
 * (Node 20 has no `Symbol.metadata`): each decorated method is replaced by a stub the class decorator recognises.
 */
import { InvalidOptionError } from '../core/errors.js';
import {
  type ClientDefinition,
  type ConnectedExtras,
  type ConnectOptions,
  defineClient,
  type Endpoints,
} from './define.js';
import { type AnyEndpoint, DECORATED } from './endpoint.js';

/** The definitions of decorated classes. */
const DEFINITIONS = new WeakMap<object, ClientDefinition<Endpoints>>();

/** A class `@client` can decorate (any constructor). */
// biome-ignore lint/suspicious/noExplicitAny: any constructor signature is accepted
export type ClientClass = abstract new (...args: any[]) => object;

/**
 * Class decorator: the class's `@get(...)`, `@post(...)` … methods (its own and inherited ones) become the endpoints of
 * a client definition with these options. Connect it with {@link connect}.
 *
 * @example
 * \@client({ baseUrl: 'http://pets:8080', resilience: true })
 * class Pets {
 *   \@get('/pets/{id}', { response: Pet })
 *   getPet(args: { id: number }): Promise<Pet> { return declared(); }
 * }
 * const pets = connect(Pets, { auth });
 */
export function client(options: ConnectOptions = {}) {
  return <C extends ClientClass>(target: C, context: ClassDecoratorContext<C>): void => {
    if (context.kind !== 'class') throw new TypeError('@client() decorates classes only');
    const endpoints: Record<string, AnyEndpoint> = {};
    for (
      let proto = target.prototype as object | null;
      proto && proto !== Object.prototype;
      proto = Object.getPrototypeOf(proto)
    ) {
      for (const key of Object.getOwnPropertyNames(proto)) {
        if (key in endpoints) continue;
        const value = Object.getOwnPropertyDescriptor(proto, key)?.value as unknown;
        const found = typeof value === 'function' ? DECORATED.get(value) : undefined;
        if (found) endpoints[key] = found.endpoint;
      }
    }
    if (Object.keys(endpoints).length === 0) {
      throw new InvalidOptionError(
        'endpoints',
        `@client() found no endpoint on ${String(context.name)}: decorate its methods with @get(), @post(), …`,
      );
    }
    DEFINITIONS.set(target, defineClient({ ...options, endpoints }));
  };
}

/** The body of a declared method stub: never runs (the decorator replaces the method). */
export function declared(): never {
  throw new TypeError(
    'declared() is the body of an endpoint stub; decorate the method with @get(), @post(), …',
  );
}

/** The definition `@client` made of `target`, for code that wants the object form's API. */
export function definitionOf(target: ClientClass): ClientDefinition<Endpoints> {
  const found = DEFINITIONS.get(target);
  if (!found) {
    throw new InvalidOptionError('client', `${target.name || 'the class'} is not decorated with @client(…)`);
  }
  return found;
}

/**
 * Connects a class decorated with `@client`: returns an instance of it whose endpoint methods call the service (its
 * other methods work as written), plus `close()` and `$client`.
 */
export function connect<C extends ClientClass>(
  target: C,
  options: ConnectOptions = {},
): InstanceType<C> & ConnectedExtras {
  const connected = definitionOf(target).connect(options) as unknown as Record<string | symbol, unknown>;
  const instance = Object.create(target.prototype as object) as Record<string | symbol, unknown>;
  for (const key of Reflect.ownKeys(connected)) {
    Object.defineProperty(instance, key, {
      value: connected[key],
      enumerable: typeof key === 'string' && !key.startsWith('$') && key !== 'close' && key !== 'toJSON',
    });
  }
  return instance as InstanceType<C> & ConnectedExtras;
}
