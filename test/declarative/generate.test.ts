// `reqforge generate` on the stored Petstore 3.0 document: the generated modules are committed under
// test/fixtures/generated (so `npm run typecheck` proves they type-check) and must equal a fresh run; they are then
// called against a loopback server. UPDATE_GENERATED=1 rewrites them.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { parse } from 'yaml';
import { generateClientSource } from '../../src/declarative/openapi.js';
import { isResponseValidationError } from '../../src/declarative.js';
import { type components, SwaggerPetstore } from '../fixtures/generated/petstore.js';
import { ValidatedPetstore } from '../fixtures/generated/petstore-validated.js';
import { sendJson, startServer, type TestServer } from '../helpers/server.js';
import { runCli } from '../process/run.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = join(root, 'test/fixtures/petstore-expanded.yaml');
const generated = join(root, 'test/fixtures/generated');
const doc = parse(readFileSync(fixture, 'utf8')) as Record<string, unknown>;
const importFrom = '../../../src/declarative.js';

describe('reqforge generate', () => {
  it('writes the committed modules (types only, and with --validate)', async () => {
    const plain = await generateClientSource(doc, { importFrom, source: 'petstore-expanded.yaml' });
    const validated = await generateClientSource(doc, {
      importFrom,
      source: 'petstore-expanded.yaml',
      validate: true,
      name: 'ValidatedPetstore',
    });
    if (process.env.UPDATE_GENERATED) {
      writeFileSync(join(generated, 'petstore.ts'), plain.code);
      writeFileSync(join(generated, 'petstore-validated.ts'), validated.code);
    }
    expect(plain.code).toBe(readFileSync(join(generated, 'petstore.ts'), 'utf8'));
    expect(validated.code).toBe(readFileSync(join(generated, 'petstore-validated.ts'), 'utf8'));
    expect(plain.endpoints).toEqual([
      { name: 'findPets', method: 'GET', path: '/pets' },
      { name: 'addPet', method: 'POST', path: '/pets' },
      { name: 'findPetById', method: 'GET', path: '/pets/{id}' },
      { name: 'deletePet', method: 'DELETE', path: '/pets/{id}' },
    ]);
    expect(plain.name).toBe('SwaggerPetstore');
    expect(plain.skipped).toEqual([]);
  });

  it('derives retry safety from the spec: a POST is repeated only with an Idempotency-Key header parameter', async () => {
    const spec = {
      openapi: '3.0.3',
      info: { title: 'orders api', version: '1' },
      paths: {
        '/orders': {
          post: {
            operationId: 'create-order',
            parameters: [
              { name: 'Idempotency-Key', in: 'header', required: true, schema: { type: 'string' } },
            ],
            responses: { '201': { description: 'created' } },
          },
          patch: { operationId: 'touch', responses: { '204': { description: 'ok' } } },
        },
        '/orders/{query}': { get: { responses: { '200': { description: 'ok' } } } },
      },
    };
    const out = await generateClientSource(spec);
    expect(out.name).toBe('OrdersApi');
    expect(out.code).toContain(`createOrder: post("/orders", {\n      idempotencyKey: true,\n    }),`);
    expect(out.code).toContain(`touch: patch("/orders"),`);
    expect(out.skipped).toEqual([
      `GET /orders/{query}: its path parameter "query" is a reserved key of the call's argument`,
    ]);
  });

  it('runs as a process: writes the file and says what it wrote; refuses what is not OpenAPI 3', async () => {
    const out = join(generated, `.tmp-${process.pid}.ts`);
    try {
      const ok = await runCli(['generate', fixture, '--out', out, '--import-from', importFrom]);
      expect([ok.code, ok.stderr]).toEqual([0, '']);
      expect(ok.stdout).toBe(
        `✓ wrote ${out}: SwaggerPetstore with 4 endpoint(s) (findPets, addPet, findPetById, deletePet)\n`,
      );
      expect(readFileSync(out, 'utf8')).toBe(readFileSync(join(generated, 'petstore.ts'), 'utf8'));
      const bad = await runCli(['generate', join(root, 'package.json')]);
      expect([bad.code, bad.stdout]).toEqual([2, '']);
      expect(bad.stderr).toBe(
        '✗ Invalid option "spec": expected an OpenAPI 3.x document (its "openapi" field names the version)\n',
      );
    } finally {
      (await import('node:fs')).rmSync(out, { force: true });
    }
  }, 90_000);
});

describe('the generated client against a loopback server', () => {
  let server: TestServer;
  let body: unknown = [];
  beforeAll(async () => {
    server = await startServer((req, res) => {
      if (req.method === 'DELETE') {
        res.writeHead(204);
        res.end();
        return;
      }
      sendJson(res, 200, body);
    });
  });
  afterAll(() => server.close());

  it('calls every operation with typed arguments and results', async () => {
    const pets = SwaggerPetstore.connect({ baseUrl: server.url });
    try {
      body = [{ id: 1, name: 'Rex' }];
      const list = await pets.findPets({ query: { tags: ['dog', 'cat'], limit: 2 } });
      expectTypeOf(list).toEqualTypeOf<components['schemas']['Pet'][]>();
      expect(list).toEqual([{ id: 1, name: 'Rex' }]);
      body = { id: 2, name: 'Tom' };
      expect(await pets.addPet({ body: { name: 'Tom' } })).toEqual({ id: 2, name: 'Tom' });
      expect(await pets.findPetById({ id: 2 })).toEqual({ id: 2, name: 'Tom' });
      expect(await pets.deletePet({ id: 2 })).toBeUndefined();
      expect(server.requests.map((r) => `${r.method} ${r.url} ${r.body.toString()}`)).toEqual([
        'GET /pets?tags=dog&tags=cat&limit=2 ',
        'POST /pets {"name":"Tom"}',
        'GET /pets/2 ',
        'DELETE /pets/2 ',
      ]);
    } finally {
      await pets.close();
    }
  });

  it('with --validate, checks responses at run time', async () => {
    const pets = ValidatedPetstore.connect({ baseUrl: server.url });
    try {
      body = { id: 'not-a-number', name: 'Tom' };
      const error = await pets.findPetById({ id: 2 }).catch((e: unknown) => e);
      expect(isResponseValidationError(error)).toBe(true);
      expect((error as { issues: unknown }).issues).toEqual([
        { path: ['id'], message: 'Invalid input: expected number, received string' },
      ]);
      body = { id: 3, name: 'Nemo' };
      expect(await pets.findPetById({ id: 3 })).toEqual({ id: 3, name: 'Nemo' });
    } finally {
      await pets.close();
    }
  });
});
