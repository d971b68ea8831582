import { type } from 'arktype';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  client,
  connect,
  declared,
  defineClient,
  definitionOf,
  get,
  isResponseValidationError,
  post,
  type ResponseValidationError,
} from '../../src/declarative.js';
import { MemoryTransport } from '../../src/testing.js';
import { sendJson, startServer, type TestServer } from '../helpers/server.js';

const Pet = z.object({ id: z.number(), name: z.string() });
type Pet = z.infer<typeof Pet>;

let server: TestServer;
beforeAll(async () => {
  server = await startServer((req, res, body) => {
    if (req.url === '/pets/7') return sendJson(res, 200, { id: 7, name: 'Rex' });
    if (req.method === 'POST') return sendJson(res, 201, { id: 8, ...JSON.parse(body.toString()) });
    sendJson(res, 503, { title: 'down' });
  });
});
afterAll(() => server.close());

@client({ retry: { retries: 2, baseDelay: 0 } })
class PetClient {
  @get('/pets/{id}', { response: Pet })
  getPet(_args: { id: number }): Promise<Pet> {
    return declared();
  }

  @post('/pets', { body: z.object({ name: z.string() }), response: Pet, idempotencyKey: true })
  addPet(_args: { body: { name: string } }): Promise<Pet> {
    return declared();
  }

  @get('/down')
  down(): Promise<unknown> {
    return declared();
  }

  /** An ordinary method: works as written, calling the endpoints through `this`. */
  async nameOf(id: number): Promise<string> {
    return (await this.getPet({ id })).name;
  }
}

describe('the class form', () => {
  it('connects a decorated class to an instance whose endpoints call the service', async () => {
    const pets = connect(PetClient, { baseUrl: server.url });
    try {
      expect(pets).toBeInstanceOf(PetClient);
      expect(await pets.getPet({ id: 7 })).toEqual({ id: 7, name: 'Rex' });
      expect(await pets.nameOf(7)).toBe('Rex');
      expect(await pets.addPet({ body: { name: 'Tom' } })).toEqual({ id: 8, name: 'Tom' });
      server.requests.length = 0;
      await expect(pets.down()).rejects.toMatchObject({ status: 503 });
      expect(server.requests.length).toBe(3);
      expect(Object.keys(definitionOf(PetClient).endpoints)).toEqual(['getPet', 'addPet', 'down']);
    } finally {
      await pets.close();
    }
  });

  it('says what to do when a stub is called on an unconnected instance or a class is not decorated', async () => {
    await expect(new PetClient().getPet({ id: 1 })).rejects.toThrow(
      'getPet() is a declared endpoint: call it on the object connect(YourClass, …) returns',
    );
    class Plain {}
    expect(() => connect(Plain)).toThrow('Plain is not decorated with @client(…)');
    expect(() => {
      @client()
      class Empty {}
      void Empty;
    }).toThrow('found no endpoint on Empty');
  });
});

describe('validation issues carry no received value, whatever the schema library', () => {
  const secret = 'S3cr3t-Value-From-Upstream';
  const memory = new MemoryTransport().route('GET', '/thing', () => ({
    json: { name: 12345678, code: secret, nested: { list: [secret] } },
  }));
  const schemas = {
    zod: z.object({ name: z.string(), code: z.number(), nested: z.object({ list: z.array(z.number()) }) }),
    valibot: v.object({
      name: v.string(),
      code: v.number(),
      nested: v.object({ list: v.array(v.number()) }),
    }),
    arktype: type({ name: 'string', code: 'number', nested: { list: 'number[]' } }),
  };
  for (const [lib, schema] of Object.entries(schemas)) {
    it(`${lib}: paths and messages only`, async () => {
      const api = defineClient({
        baseUrl: 'http://t',
        endpoints: { thing: get('/thing', { response: schema }) },
      }).connect({
        transport: memory,
      });
      const error = (await api.thing().catch((e: unknown) => e)) as ResponseValidationError;
      expect(isResponseValidationError(error)).toBe(true);
      expect(error.issues.map((i) => i.path.join('.')).sort()).toEqual(['code', 'name', 'nested.list.0']);
      for (const issue of error.issues) expect(Object.keys(issue).sort()).toEqual(['message', 'path']);
      const printed = `${error.message}\n${JSON.stringify(error)}\n${JSON.stringify(error.issues)}`;
      expect(printed).not.toContain(secret);
      expect(printed).not.toContain('12345678');
    });
  }
});
