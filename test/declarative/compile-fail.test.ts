// Files that must fail to compile: each snippet is written next to this test (in a git-ignored folder), type-checked
// with the project's compiler options, and must fail with the expected message; a control snippet must compile.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const dir = join(root, 'node_modules', '.cache', `reqforge-compile-fail-${process.pid}`);

const header = `
import { z } from 'zod';
import { defineClient, get, post } from ${JSON.stringify(join(root, 'src/declarative.js'))};
const Product = z.object({ id: z.string(), price: z.number() });
const Inv = defineClient({
  endpoints: {
    getProduct: get('/products/{productId}', { response: Product }),
    create: post('/products', { body: z.object({ name: z.string() }), response: Product }),
    search: get('/products', { query: z.object({ category: z.string() }) }),
  },
}).connect();
`;

const cases: Record<string, { code: string; error: RegExp }> = {
  'wrong path parameter type': {
    code: 'void Inv.getProduct({ productId: [1] });',
    error: /Type 'number\[\]' is not assignable to type 'PathParamValue'/,
  },
  'missing path parameter': {
    code: 'void Inv.getProduct({});',
    error: /Property 'productId' is missing/,
  },
  'extra key': {
    code: "void Inv.getProduct({ productId: 'a', colour: 'red' });",
    error: /Object literal may only specify known properties, and 'colour' does not exist/,
  },
  'misspelt path parameter': {
    code: "void Inv.getProduct({ prodId: 'a' });",
    error: /'prodId' does not exist/,
  },
  'wrong body': {
    code: 'void Inv.create({ body: { name: 42 } });',
    error: /Type 'number' is not assignable to type 'string'/,
  },
  'wrong query': {
    code: "void Inv.search({ query: { category: 'a', page: 2 } });",
    error: /'page' does not exist/,
  },
  'wrong result type': {
    code: "const p: Promise<{ id: number }> = Inv.getProduct({ productId: 'a' }); void p;",
    error: /Type 'string' is not assignable to type 'number'/,
  },
  'reserved path parameter': {
    code: "get('/x/{body}');",
    error: /path parameter \\?"body\\?" is a reserved key/,
  },
};

function compile(files: Record<string, string>): Map<string, string> {
  mkdirSync(dir, { recursive: true });
  const paths = Object.entries(files).map(([name, code]) => {
    const path = join(dir, `${name.replace(/\W+/g, '-')}.ts`);
    writeFileSync(path, header + code);
    return [name, path] as const;
  });
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: () => undefined,
    },
  );
  const program = ts.createProgram(
    paths.map(([, p]) => p),
    { ...config?.options, noEmit: true, rootDir: root },
  );
  const out = new Map<string, string>();
  for (const [name, path] of paths) {
    const diagnostics = ts.getPreEmitDiagnostics(program, program.getSourceFile(path));
    out.set(name, diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n'));
  }
  return out;
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('declared endpoints: files that must fail to compile', () => {
  it('fail with the expected message, and the control compiles', { timeout: 60_000 }, () => {
    const results = compile({
      control:
        "void Inv.getProduct({ productId: 'a' }); void Inv.create({ body: { name: 'n' } }); void Inv.search({ query: { category: 'c' } });",
      ...Object.fromEntries(Object.entries(cases).map(([name, c]) => [name, c.code])),
    });
    expect(results.get('control')).toBe('');
    for (const [name, c] of Object.entries(cases)) {
      expect(results.get(name), name).toMatch(c.error);
    }
  });
});
