/**
 * From an OpenAPI 3 document to a `defineClient` definition: openapi-typescript (an optional peer, loaded only
 * here) writes the types of every operation; this file writes one endpoint per operation whose parameters, body and
 * result are typed from them, and derives retry safety from the spec (GET, HEAD, PUT, DELETE idempotent; POST and
 * PATCH only with an `Idempotency-Key` header parameter, for which a key is generated per call). With `validate`,
 * responses are also checked at run time by zod schemas built from the document's JSON Schemas.
 */
import { InvalidOptionError } from '../core/errors.js';
import { RESERVED_KEYS } from './endpoint.js';

/** Options of {@link generateClientSource}. */
export interface GenerateOptions {
  /** The name of the exported definition. @default the document's title in PascalCase, or `Api` */
  readonly name?: string | undefined;
  /** Also validate responses at run time (zod schemas from the document). @default false (types only) */
  readonly validate?: boolean | undefined;
  /** Where the generated file imports reqforge's declarative API from. @default 'reqforge/declarative' */
  readonly importFrom?: string | undefined;
  /** A note for the generated file's header, such as the source file's name. */
  readonly source?: string | undefined;
}

/** What {@link generateClientSource} produced. */
export interface GeneratedClient {
  /** The TypeScript module. */
  readonly code: string;
  /** The exported definition's name. */
  readonly name: string;
  /** The endpoints written, by name, with method and path. */
  readonly endpoints: readonly { readonly name: string; readonly method: string; readonly path: string }[];
  /** Operations left out, each with why. */
  readonly skipped: readonly string[];
}

type Json = Record<string, unknown>;
const METHODS = {
  get: 'get',
  head: 'head',
  post: 'post',
  put: 'put',
  patch: 'patch',
  delete: 'del',
} as const;
const IDEMPOTENCY_HEADER = 'idempotency-key';
const RESERVED_NAMES = new Set(['close', 'then', 'toJSON', 'constructor', '__proto__', 'prototype']);

const q = (s: string): string => JSON.stringify(s);

function words(text: string): string[] {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean);
}

const cap = (w: string): string => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase();

function camel(text: string): string {
  const [first = 'call', ...rest] = words(text);
  const name = first.toLowerCase() + rest.map(cap).join('');
  return /^[0-9]/.test(name) ? `op${name}` : name;
}

function pascal(text: string): string {
  const name = words(text).map(cap).join('');
  return name === '' || /^[0-9]/.test(name) ? 'Api' : name;
}

function resolve(doc: Json, value: unknown): Json | undefined {
  let at = value as Json | undefined;
  for (let hops = 0; at && typeof at.$ref === 'string' && hops < 20; hops++) {
    const ref = at.$ref as string;
    if (!ref.startsWith('#/')) return undefined;
    at = ref
      .slice(2)
      .split('/')
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce<unknown>((o, key) => (o as Json | undefined)?.[key], doc) as Json | undefined;
  }
  return at;
}

interface Parameter {
  readonly name: string;
  readonly in: string;
}

function parameters(doc: Json, item: Json, op: Json): Parameter[] {
  const all = [...((item.parameters as unknown[]) ?? []), ...((op.parameters as unknown[]) ?? [])];
  const byKey = new Map<string, Parameter>();
  for (const p of all) {
    const r = resolve(doc, p);
    if (r && typeof r.name === 'string' && typeof r.in === 'string')
      byKey.set(`${r.in}:${r.name}`, r as never);
  }
  return [...byKey.values()];
}

function jsonMedia(content: unknown): string | undefined {
  if (!content || typeof content !== 'object') return undefined;
  return Object.keys(content).find(
    (t) => t === 'application/json' || /^application\/[\w.+-]*\+json$/.test(t),
  );
}

/** The first 2xx response with a JSON body: its status key, media type and schema. */
function successResponse(
  doc: Json,
  op: Json,
): { status: string; media: string; schema: unknown } | undefined {
  const responses = (op.responses ?? {}) as Json;
  for (const status of Object.keys(responses).sort()) {
    if (!/^2(\d\d|XX)$/i.test(status)) continue;
    const r = resolve(doc, responses[status]);
    const content = r?.content as Json | undefined;
    const media = jsonMedia(content);
    if (media) return { status, media, schema: (content?.[media] as Json | undefined)?.schema };
  }
  return undefined;
}

/** A JSON Schema for `z.fromJSONSchema`: component references point into `$defs`, `nullable` becomes a type. */
function toJsonSchema(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toJsonSchema);
  if (!value || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [key, v] of Object.entries(value as Json)) {
    if (key === '$ref' && typeof v === 'string') out.$ref = v.replace('#/components/schemas/', '#/$defs/');
    else if (key === 'nullable' || key === 'example' || key === 'xml' || key === 'discriminator') continue;
    else out[key] = toJsonSchema(v);
  }
  if ((value as Json).nullable === true) {
    return typeof out.type === 'string'
      ? { ...out, type: [out.type, 'null'] }
      : { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

/** `{ …schema, $defs }` as source text. */
function withDefs(schema: unknown): string {
  const text = JSON.stringify(toJsonSchema(schema));
  return text === '{}' || !text.startsWith('{') ? '{ $defs }' : `{ ${text.slice(1, -1)}, $defs }`;
}

interface Loaded {
  readonly astToString: (ast: unknown) => string;
  readonly openapiTS: (doc: Json) => Promise<unknown>;
}

async function loadOpenapiTypescript(): Promise<Loaded> {
  try {
    const m = (await import('openapi-typescript')) as unknown as {
      default: Loaded['openapiTS'];
      astToString: Loaded['astToString'];
    };
    return { openapiTS: m.default, astToString: m.astToString };
  } catch (error) {
    throw new InvalidOptionError(
      'openapi-typescript',
      `reqforge generate needs the optional peer openapi-typescript: npm install --save-dev openapi-typescript@7 (${(error as Error).message.split('\n')[0]})`,
    );
  }
}

/** Writes the source of a module exporting the document's types and a `defineClient` definition. */
export async function generateClientSource(
  doc: Json,
  options: GenerateOptions = {},
): Promise<GeneratedClient> {
  if (typeof doc.openapi !== 'string' || !doc.openapi.startsWith('3.')) {
    throw new InvalidOptionError(
      'spec',
      'expected an OpenAPI 3.x document (its "openapi" field names the version)',
    );
  }
  const { openapiTS, astToString } = await loadOpenapiTypescript();
  const types = astToString(await openapiTS(doc));
  const info = (doc.info ?? {}) as Json;
  const name = options.name ?? pascal(typeof info.title === 'string' ? info.title : 'Api');
  const used = new Set<string>();
  const imports = new Set<string>(['defineClient', 'typed']);
  const endpoints: { name: string; method: string; path: string }[] = [];
  const skipped: string[] = [];
  const lines: string[] = [];

  for (const [path, rawItem] of Object.entries((doc.paths ?? {}) as Json)) {
    const item = resolve(doc, rawItem) ?? {};
    for (const [method, builder] of Object.entries(METHODS)) {
      const op = item[method] as Json | undefined;
      if (!op) continue;
      const where = `${method.toUpperCase()} ${path}`;
      const reserved = [...path.matchAll(/\{([^{}]*)\}/g)]
        .map((m) => m[1])
        .find((p) => (RESERVED_KEYS as readonly string[]).includes(p ?? ''));
      if (reserved) {
        skipped.push(`${where}: its path parameter "${reserved}" is a reserved key of the call's argument`);
        continue;
      }
      let ep = camel(
        typeof op.operationId === 'string' ? op.operationId : `${method} ${path.replace(/[{}]/g, ' by ')}`,
      );
      if (RESERVED_NAMES.has(ep)) ep = `${ep}Endpoint`;
      for (let i = 2; used.has(ep); i++) ep = `${ep.replace(/\d+$/, '')}${i}`;
      used.add(ep);
      imports.add(builder);

      const ref = `paths[${q(path)}][${q(method)}]`;
      const params = parameters(doc, item, op);
      const parts: string[] = [];
      if (params.some((p) => p.in === 'query'))
        parts.push(`query: typed<NonNullable<${ref}['parameters']['query']>>()`);
      const key = params.find((p) => p.in === 'header' && p.name.toLowerCase() === IDEMPOTENCY_HEADER);
      if (params.some((p) => p.in === 'header' && p !== key)) {
        const h = `NonNullable<${ref}['parameters']['header']>`;
        parts.push(
          `headers: typed<${key ? `Omit<${h}, ${q(key.name)}> & Partial<Pick<${h}, ${q(key.name)}>>` : h}>()`,
        );
      }
      const body = resolve(doc, op.requestBody);
      const bodyMedia = jsonMedia(body?.content);
      if (bodyMedia)
        parts.push(`body: typed<NonNullable<${ref}['requestBody']>['content'][${q(bodyMedia)}]>()`);
      const ok = successResponse(doc, op);
      if (ok) {
        const type = `${ref}['responses'][${/^\d+$/.test(ok.status) ? ok.status : q(ok.status)}]['content'][${q(ok.media)}]`;
        const runtime = options.validate && ok.schema ? `z.fromJSONSchema(${withDefs(ok.schema)})` : '';
        parts.push(`response: typed<${type}>(${runtime})`);
      }
      // Retry safety from the spec: POST and PATCH are repeated only with an Idempotency-Key.
      if ((method === 'post' || method === 'patch') && key) parts.push('idempotencyKey: true');
      const doc1 =
        typeof op.summary === 'string'
          ? op.summary
          : typeof op.description === 'string'
            ? op.description
            : '';
      const comment = doc1
        ? `    /** ${doc1.split('\n')[0]?.replace(/\*\//g, '* /').slice(0, 200)} */\n`
        : '';
      lines.push(
        `${comment}    ${ep}: ${builder}(${q(path)}${parts.length ? `, {\n      ${parts.join(',\n      ')},\n    }` : ''}),`,
      );
      endpoints.push({ name: ep, method: method.toUpperCase(), path });
    }
  }
  if (endpoints.length === 0)
    throw new InvalidOptionError('spec', 'the document has no operation to generate');

  const servers = (doc.servers ?? []) as Json[];
  const server = typeof servers[0]?.url === 'string' ? (servers[0].url as string) : undefined;
  const baseUrl = server && /^https?:\/\//.test(server) ? `  baseUrl: ${q(server)},\n` : '';
  const from = options.importFrom ?? 'reqforge/declarative';
  const validation = options.validate ? `import { z } from 'zod';\n` : '';
  const defs = options.validate
    ? `\n/** The document's component schemas, for the runtime response checks. */\nconst $defs: Record<string, z.core.JSONSchema.JSONSchema> = ${JSON.stringify(toJsonSchema(((doc.components ?? {}) as Json).schemas ?? {}), null, 2)};\n`
    : '';
  const code = [
    `// Generated by \`reqforge generate\`${options.source ? ` from ${options.source}` : ''}. Do not edit: run the command again.`,
    '// Types: openapi-typescript. Retry safety: GET, HEAD, PUT and DELETE are idempotent; POST and PATCH are repeated',
    '// only when the operation takes an Idempotency-Key header (one is generated per call).',
    '/* eslint-disable */',
    `import { ${[...imports].sort().join(', ')} } from ${q(from)};`,
    validation,
    types,
    defs,
    `/** ${typeof info.title === 'string' ? info.title.replace(/\*\//g, '') : name}: connect with \`${name}.connect({ baseUrl?, auth?, transport? })\`. */`,
    `export const ${name} = defineClient({\n${baseUrl}  endpoints: {\n${lines.join('\n')}\n  },\n});\n`,
  ].join('\n');
  return { code, name, endpoints, skipped };
}
