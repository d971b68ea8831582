// Packs the package, unpacks the tarball into .pack-smoke/node_modules/reqforge and imports every
// entry point from it, with ESM import and with CommonJS require (require(esm), Node >= 20.19).
// Dependencies resolve from this repository's node_modules, one directory up.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dir = join(root, '.pack-smoke');
rmSync(dir, { recursive: true, force: true });
mkdirSync(join(dir, 'node_modules', 'reqforge'), { recursive: true });
const packed = JSON.parse(
  execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], {
    cwd: root,
    encoding: 'utf8',
  }),
);
const tarball = join(dir, packed[0].filename);
execFileSync('tar', ['-xzf', tarball, '-C', join(dir, 'node_modules', 'reqforge'), '--strip-components=1']);

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const entries = Object.keys(pkg.exports)
  .filter((k) => !k.endsWith('.json'))
  .map((k) => (k === '.' ? 'reqforge' : `reqforge/${k.slice(2)}`));
const esm = entries
  .map(
    (e) =>
      `const m${entries.indexOf(e)} = await import(${JSON.stringify(e)}); if (Object.keys(m${entries.indexOf(e)}).length === 0) throw new Error('empty ${e}');`,
  )
  .join('\n');
execFileSync(
  process.execPath,
  [
    '--input-type=module',
    '-e',
    `${esm}\nconst { createClient } = await import('reqforge'); createClient({ baseUrl: 'http://127.0.0.1:1' }).close();`,
  ],
  { cwd: dir, stdio: 'inherit' },
);
const [major, minor] = process.versions.node.split('.').map(Number);
if (major > 20 || (major === 20 && minor >= 19)) {
  const cjs = entries
    .map((e) => `if (typeof require(${JSON.stringify(e)}) !== 'object') throw new Error('bad ${e}');`)
    .join('\n');
  execFileSync(process.execPath, ['--no-warnings', '-e', cjs], { cwd: dir, stdio: 'inherit' });
}
const files = packed[0].files.map((f) => f.path);
if (files.some((f) => f.startsWith('src/') || f.startsWith('test/')))
  throw new Error('sources or tests were packed');
rmSync(dir, { recursive: true, force: true });
console.log(
  `pack smoke: ${packed[0].filename} (${files.length} files, ${(packed[0].size / 1024).toFixed(1)} KiB) imports ${entries.join(', ')} via ESM and CommonJS`,
);
