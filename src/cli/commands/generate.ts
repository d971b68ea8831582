/**
 * `reqforge generate <openapi.yaml|json> [--out file.ts] [--name Name] [--validate]`: writes a typed `defineClient`
 * definition for an OpenAPI 3 document (see `declarative/openapi.ts`). Needs the optional peer openapi-typescript.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { InvalidOptionError } from '../../core/errors.js';
import { generateClientSource } from '../../declarative/openapi.js';
import type { CliIo } from '../io.js';

interface GenerateFlags {
  readonly out?: string;
  readonly name?: string;
  readonly validate?: boolean;
  readonly importFrom?: string;
}

function readDocument(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new InvalidOptionError('spec', `cannot read ${file}`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (error) {
    throw new InvalidOptionError(
      'spec',
      `${file} is not YAML or JSON: ${(error as Error).message.split('\n')[0]}`,
    );
  }
  if (!doc || typeof doc !== 'object')
    throw new InvalidOptionError('spec', `${file} does not hold an object`);
  return doc as Record<string, unknown>;
}

/** Adds `generate` to the CLI; `setCode` receives the exit code (0 on success). */
export function registerGenerate(cmd: Command, io: CliIo, setCode: (code: number) => void): void {
  cmd
    .command('generate')
    .description(
      'write a typed defineClient definition from an OpenAPI 3 document (needs openapi-typescript)',
    )
    .argument('<spec>', 'OpenAPI 3 document, YAML or JSON')
    .option('-o, --out <file>', 'write the TypeScript module here (default: standard output)')
    .option('--name <Name>', 'name of the exported definition (default: the document title in PascalCase)')
    .option('--validate', 'also validate responses at run time (zod schemas from the document)')
    .option('--import-from <module>', 'module the generated file imports from', 'reqforge/declarative')
    .action(async (spec: string, flags: GenerateFlags) => {
      const file = resolve(io.cwd, spec);
      const generated = await generateClientSource(readDocument(file), {
        name: flags.name,
        validate: flags.validate,
        importFrom: flags.importFrom,
        source: basename(file),
      });
      for (const reason of generated.skipped) io.stderr.write(`! skipped ${reason}\n`);
      if (flags.out === undefined) {
        io.stdout.write(generated.code);
      } else {
        const out = resolve(io.cwd, flags.out);
        mkdirSync(dirname(out), { recursive: true });
        writeFileSync(out, generated.code);
        io.stdout.write(
          `✓ wrote ${flags.out}: ${generated.name} with ${generated.endpoints.length} endpoint(s) (${generated.endpoints.map((e) => e.name).join(', ')})\n`,
        );
      }
      setCode(0);
    });
}
