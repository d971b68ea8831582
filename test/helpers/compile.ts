// Compiles src/ to plain ESM JavaScript for child processes (which cannot load TypeScript), once per
// test run: `ts.transpileModule` per file (no type-check: `tsc --noEmit` does that), `.js` import
// specifiers kept as written. The output lives under node_modules/.cache (git-ignored, and inside the
// repo so bare imports such as `undici`, `ioredis` and `pg` resolve from the repo's node_modules).
//
// The output directory is named after a hash of every source file and the TypeScript version, and is
// created with an atomic rename: concurrent test files (vitest runs them in separate processes) share one
// build, an unchanged tree is not compiled again, and a reader never sees a half-written build.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const srcDir = join(root, 'src');
/** Where builds go; `node_modules/` is in .gitignore. */
export const COMPILE_CACHE_DIR: string = join(root, 'node_modules', '.cache', 'reqforge-test');
/** Bump when the way files are compiled changes, so old builds are not reused. */
const FORMAT = 'v1';
/** Builds (and abandoned temp directories) untouched for this long are removed. */
const STALE_MS = 60 * 60_000;

const COMPILER_OPTIONS: ts.CompilerOptions = {
  module: ts.ModuleKind.ES2022,
  target: ts.ScriptTarget.ES2022,
  verbatimModuleSyntax: true,
  inlineSourceMap: true,
  inlineSources: true,
};

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(path)));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out.sort();
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function pruneStale(keep: string): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(COMPILE_CACHE_DIR).catch(() => [] as string[])) {
    if (name === keep) continue;
    const path = join(COMPILE_CACHE_DIR, name);
    const info = await stat(path).catch(() => undefined);
    if (info && now - info.mtimeMs > STALE_MS) await rm(path, { recursive: true, force: true });
  }
}

async function build(): Promise<string> {
  const files = await sourceFiles(srcDir);
  const sources = await Promise.all(files.map(async (f) => [f, await readFile(f, 'utf8')] as const));
  const hash = createHash('sha256').update(`${FORMAT}\0${ts.version}\0`);
  for (const [file, text] of sources)
    hash.update(relative(srcDir, file)).update('\0').update(text).update('\0');
  const id = hash.digest('hex').slice(0, 16);
  const target = join(COMPILE_CACHE_DIR, id);
  const index = join(target, 'index.js');
  await pruneStale(id).catch(() => undefined);
  if (await exists(index)) return pathToFileURL(index).href;

  const tmp = join(COMPILE_CACHE_DIR, `${id}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    for (const [file, text] of sources) {
      const rel = relative(srcDir, file);
      const { outputText, diagnostics } = ts.transpileModule(text, {
        compilerOptions: COMPILER_OPTIONS,
        fileName: file,
        reportDiagnostics: true,
      });
      if (diagnostics && diagnostics.length > 0) {
        const message = ts.flattenDiagnosticMessageText(diagnostics[0]!.messageText, '\n');
        throw new Error(`cannot compile src/${rel}: ${message}`);
      }
      const out = join(tmp, rel.replace(/\.ts$/, '.js'));
      await mkdir(dirname(out), { recursive: true });
      await writeFile(out, outputText);
    }
    await writeFile(join(tmp, 'package.json'), '{"type":"module"}\n');
    try {
      await rename(tmp, target);
    } catch (error) {
      // Another process finished the same build first: use theirs.
      const code = (error as { code?: string }).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !(await exists(index))) throw error;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return pathToFileURL(index).href;
}

let pending: Promise<string> | undefined;

/**
 * Compiles every file of `src/` to JavaScript (once per run; reused while the sources are unchanged) and
 * returns the `file:` URL of the compiled `index.js`. Other entry points sit beside it:
 * `new URL('./stores/connect.js', url)`, `new URL('./sandbox.js', url)`.
 */
export function compileSrc(): Promise<string> {
  pending ??= build().catch((error: unknown) => {
    pending = undefined;
    throw error;
  });
  return pending;
}
