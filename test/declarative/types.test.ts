import * as v from 'valibot';
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  client,
  connect,
  declared,
  defineClient,
  del,
  get,
  patch,
  post,
  put,
  typed,
} from '../../src/declarative.js';
import { MemoryTransport } from '../../src/testing.js';

// Checked by `npm run typecheck` (tsc covers test/): the calls are never made. Each `@ts-expect-error` line must
// fail to compile, or the type check fails. compile-fail.test.ts compiles whole files that must fail, with the
// compiler's message.
const typesOnly = (_check: () => void) => undefined;

const Product = z.object({ id: z.string(), name: z.string(), price: z.number() });
type Product = z.infer<typeof Product>;
const NewProduct = z.object({ name: z.string(), price: z.number() });
const SearchQuery = z.object({ category: z.string(), page: z.number().optional() });

const Inventory = defineClient({
  baseUrl: 'http://inventory:8080',
  endpoints: {
    getProduct: get('/products/{productId}', { response: Product }),
    search: get('/products', { query: SearchQuery, response: z.array(Product) }),
    create: post('/products', { body: NewProduct, response: Product, idempotencyKey: true }),
    update: put('/products/{productId}', { body: NewProduct }),
    remove: del('/products/{productId}'),
    patch: patch('/products/{productId}', { body: NewProduct.partial() }),
    item: get('/orders/{orderId}/items/{itemId}', { response: v.object({ sku: v.string() }) }),
    list: get('/products/all'),
    pet: get('/pets/{id}', { response: typed<{ id: number; name: string }>() }),
  },
});
const inv = Inventory.connect({ transport: new MemoryTransport() });

describe('declared endpoint types', () => {
  it('types results from the response schema (zod, valibot, typed<T>), unknown without one', () =>
    typesOnly(() => {
      expectTypeOf(inv.getProduct({ productId: 'abc' })).toEqualTypeOf<Promise<Product>>();
      expectTypeOf(inv.search({ query: { category: 'tools' } })).toEqualTypeOf<Promise<Product[]>>();
      expectTypeOf(inv.item({ orderId: 1, itemId: 'x' })).toEqualTypeOf<Promise<{ sku: string }>>();
      expectTypeOf(inv.pet({ id: 1 })).toEqualTypeOf<Promise<{ id: number; name: string }>>();
      expectTypeOf(inv.remove({ productId: 'a' })).toEqualTypeOf<Promise<unknown>>();
      expectTypeOf(inv.list()).toEqualTypeOf<Promise<unknown>>();
    }));

  it('takes path parameters at the top level and the reserved keys beside them', () =>
    typesOnly(() => {
      void inv.update({ productId: 'abc', body: { name: 'x', price: 1 }, headers: { 'if-match': 'e' } });
      void inv.getProduct({ productId: 42, signal: AbortSignal.timeout(1000), timeout: '5s', retry: false });
      void inv.patch({ productId: 'a', body: { price: 2 } });
      void inv.list({ query: { anything: 'goes' } });
    }));

  it('refuses wrong, missing, extra and misspelt path parameters', () =>
    typesOnly(() => {
      // @ts-expect-error missing path parameter
      void inv.getProduct({});
      // @ts-expect-error missing argument altogether
      void inv.getProduct();
      // @ts-expect-error misspelt path parameter
      void inv.getProduct({ prodctId: 'abc' });
      // @ts-expect-error extra key that is neither a path parameter nor reserved
      void inv.getProduct({ productId: 'abc', category: 'x' });
      // @ts-expect-error wrong type of path parameter
      void inv.getProduct({ productId: { id: 1 } });
      // @ts-expect-error one of two path parameters missing
      void inv.item({ orderId: 1 });
    }));

  it('refuses a wrong body and a wrong query', () =>
    typesOnly(() => {
      // @ts-expect-error body field of the wrong type
      void inv.create({ body: { name: 'x', price: '1' } });
      // @ts-expect-error body missing a required field
      void inv.create({ body: { name: 'x' } });
      // @ts-expect-error body required by its schema
      void inv.create({});
      // @ts-expect-error query of the wrong type
      void inv.search({ query: { category: 1 } });
      // @ts-expect-error query required by its schema
      void inv.search({});
      // @ts-expect-error a GET without a body schema takes no body
      void inv.list({ body: {} });
    }));

  it('refuses a path parameter named like a reserved key when the endpoint is declared', () =>
    typesOnly(() => {
      // @ts-expect-error "query" is a reserved key
      get('/search/{query}');
    }));
});

describe('class form types', () => {
  it('checks method stubs against their endpoint and connects to an instance of the class', () =>
    typesOnly(() => {
      @client({ baseUrl: 'http://inventory:8080' })
      class InventoryClient {
        @get('/products/{productId}', { response: Product })
        getProduct(_args: { productId: string }): Promise<Product> {
          return declared();
        }

        @post('/products', { body: NewProduct, response: Product })
        create(_args: { body: { name: string; price: number } }): Promise<Product> {
          return declared();
        }

        @get('/products')
        list(): Promise<unknown> {
          return declared();
        }
      }
      const c = connect(InventoryClient, { transport: new MemoryTransport() });
      expectTypeOf(c.getProduct({ productId: 'a' })).toEqualTypeOf<Promise<Product>>();
      expectTypeOf(c.close).toEqualTypeOf<() => Promise<void>>();
      expectTypeOf(c).toMatchTypeOf<InventoryClient>();
    }));

  it('refuses a stub whose parameters do not match the template or whose result is not the schema’s', () =>
    typesOnly(() => {
      class Wrong {
        // @ts-expect-error the stub names "id" but the template has {productId}
        @get('/products/{productId}')
        byId(_args: { id: string }): Promise<unknown> {
          return declared();
        }

        // @ts-expect-error the stub declares a result the response schema does not produce
        @get('/products/{productId}', { response: Product })
        wrongResult(_args: { productId: string }): Promise<number> {
          return declared();
        }

        // @ts-expect-error the stub takes no argument but the template has a parameter
        @get('/products/{productId}')
        noArgs(): Promise<unknown> {
          return declared();
        }
      }
      void Wrong;
    }));
});
