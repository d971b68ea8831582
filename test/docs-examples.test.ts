import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startPetstore } from './helpers/petstore.js';
import type { TestServer } from './helpers/server.js';

// Every ```ts example block in README.md and docs/*.md runs here, against a local petstore server.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'test', '.examples');
const files = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

function examples(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  return [...text.matchAll(/```ts example\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

function rewrite(code: string): string {
  return code
    .replace(
      /from 'reqforge\/([a-z/-]+)'/g,
      (_m, sub: string) => `from ${JSON.stringify(pathToFileURL(join(root, 'src', `${sub}.ts`)).href)}`,
    )
    .replace(/from 'reqforge'/g, `from ${JSON.stringify(pathToFileURL(join(root, 'src', 'index.ts')).href)}`);
}

let server: TestServer;
beforeAll(async () => {
  server = await startPetstore();
  process.env.API_URL = `${server.url}/petstore`;
  mkdirSync(out, { recursive: true });
});
afterAll(() => server.close());

describe('documentation examples run', () => {
  for (const file of files) {
    const blocks = examples(file);
    blocks.forEach((code, i) => {
      it(`${file} example ${i + 1}`, async () => {
        const path = join(out, `${file.replace(/[/.]/g, '_')}_${i + 1}.ts`);
        writeFileSync(path, rewrite(code));
        const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
        try {
          await import(pathToFileURL(path).href);
        } finally {
          log.mockRestore();
        }
      });
    });
  }

  it('found the README example', () => {
    expect(examples('README.md').length).toBeGreaterThan(0);
  });
});
