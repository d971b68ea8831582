/**
 * Reading a gateway configuration: YAML or JSON text, `${ENV}` interpolation, text coerced where the schema wants
 * numbers or booleans, defaults, the schema (config-schema.ts) and the checks start would run, with every problem
 * reported by key path and never by value ({@link ConfigError}).
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { internalErrorBrand, ReqforgeError } from '../core/errors.js';
import { describeIssues, type Schema, schemasAt, suggest, unwrap } from '../core/options/index.js';
import { startChecks } from './config-checks.js';
import { applyUpstreamDefaults } from './config-defaults.js';
import { type GatewayConfig, gatewayConfigSchema, upstreamDefaultsSchema } from './config-schema.js';
import { ConfigSyntaxError, parseConfigText } from './config-text.js';

export {
  type GatewayConfig,
  type GatewayConfigInput,
  gatewayConfigSchema,
  SESSION_DEFAULTS,
  type UpstreamConfig,
} from './config-schema.js';

/** One problem found in a gateway configuration, with the dotted path of the offending key. */
export interface ConfigIssue {
  /** Dotted path such as `upstreams.petstore.timeout.total`; empty for the whole document. */
  readonly path: string;
  /** What is wrong and, where possible, how to fix it. */
  readonly message: string;
}

/** The gateway configuration is invalid; `issues` lists every problem with its path. Code `ERR_CONFIG`. */
export class ConfigError extends ReqforgeError {
  /** Every problem found, in document order. */
  readonly issues: readonly ConfigIssue[];
  /** The file the configuration came from, if any. */
  readonly file: string | undefined;

  constructor(issues: readonly ConfigIssue[], file?: string) {
    const where = file ? ` in ${file}` : '';
    const lines = issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n');
    super(`Invalid gateway configuration${where}:\n${lines}`, 'ERR_CONFIG');
    this.issues = issues;
    this.file = file;
  }
}
internalErrorBrand.brand(ConfigError, 'ConfigError');

/** True for a {@link ConfigError}, also one thrown by another copy of reqforge. */
export const isConfigError = (e: unknown): e is ConfigError => internalErrorBrand.hasKind(e, 'ConfigError');

/** Durations and sizes are parsed by the options layer's one parser; re-exported for the gateway's users. */
export { parseDuration, parseSize } from '../core/options/index.js';

/** Options of {@link parseGatewayConfig} and {@link loadGatewayConfig}. */
export interface ParseConfigOptions {
  /**
   * Variables for `${NAME}` interpolation.
   * @default process.env
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The file name, shown in errors. */
  readonly file?: string;
}

/**
 * Replaces `${NAME}` in every string value (never in keys) with the environment variable NAME.
 * `${NAME:-fallback}` uses the fallback when NAME is unset or empty; `$${` writes a literal `${`.
 * A missing variable is an issue naming it and the key it was used in.
 */
export function interpolateEnv(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  issues: ConfigIssue[],
  path: readonly (string | number)[] = [],
): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$(\$)?\{([^}]*)\}/g, (whole, escaped: string | undefined, inner: string) => {
      if (escaped) return whole.slice(1);
      const match = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(inner);
      if (!match) {
        issues.push({
          path: path.join('.'),
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the message shows the syntax.
          message: 'not a valid variable reference (expected ${NAME} or ${NAME:-fallback})',
        });
        return whole;
      }
      const name = match[1] as string;
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (match[2] !== undefined) return match[2];
      issues.push({
        path: path.join('.'),
        message: `environment variable ${name} is not set (referenced as \${${name}})`,
      });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, issues, [...path, i]));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) out[key] = interpolateEnv(v, env, issues, [...path, key]);
    return out;
  }
  return value;
}

/**
 * Validates a configuration object (already parsed from YAML or JSON): interpolates `${ENV}`,
 * applies defaults and checks every key. Throws a {@link ConfigError} listing every problem.
 */
export function parseGatewayConfig(input: unknown, options: ParseConfigOptions = {}): GatewayConfig {
  const issues: ConfigIssue[] = [];
  const interpolated = applyUpstreamDefaults(
    coerceText(
      interpolateEnv(input ?? {}, options.env ?? process.env, issues),
      unwrap(gatewayConfigSchema as unknown as Schema),
    ),
    (defaults) => upstreamDefaultsSchema.safeParse(defaults).success,
  );
  // reportInput: each issue carries the offending value, so describeIssues can make sure no message shows it.
  const result = gatewayConfigSchema.safeParse(interpolated, { reportInput: true });
  if (!result.success) {
    issues.push(...describeIssues(result.error.issues, gatewayConfigSchema as unknown as Schema, [], 'key'));
  }
  if (issues.length > 0 || !result.success) {
    issues.sort((a, b) => a.path.localeCompare(b.path));
    throw new ConfigError(issues, options.file);
  }
  const config = result.data;
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    const t = upstream.timeout;
    if (t?.total !== undefined && t.attempt !== undefined && t.total > 0 && t.attempt > t.total) {
      issues.push({
        path: `upstreams.${name}.timeout.attempt`,
        message: 'the attempt timeout exceeds the total timeout (timeout.total)',
      });
    }
  }
  issues.push(...startChecks(config, options.env ?? process.env));
  if (issues.length > 0) throw new ConfigError(issues, options.file);
  return config;
}

/**
 * Parses configuration text: JSON when it looks like JSON or `format` says so, YAML otherwise. `${VAR}` may stand
 * in YAML flow maps too. Syntax errors give the line and column, never the text.
 */
export function parseGatewayConfigText(
  text: string,
  options: ParseConfigOptions & { readonly format?: 'yaml' | 'json' } = {},
): GatewayConfig {
  let data: unknown;
  const format = options.format ?? (text.trimStart().startsWith('{') ? 'json' : 'yaml');
  try {
    data = parseConfigText(text, format);
  } catch (error) {
    if (!(error instanceof ConfigSyntaxError)) throw error;
    // Position and kind only: a parser's code frame would print the line (and the one above), secrets included.
    throw new ConfigError(
      error.problems.map((p) => ({ path: '', message: p.message })),
      options.file,
    );
  }
  return parseGatewayConfig(data, options);
}

/** Reads and validates a configuration file (`.yaml`, `.yml` or `.json`). */
export async function loadGatewayConfig(
  file: string,
  options: Omit<ParseConfigOptions, 'file'> = {},
): Promise<GatewayConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(
      [
        {
          path: '',
          message: code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? 'error'})`,
        },
      ],
      file,
    );
  }
  return parseGatewayConfigText(text, {
    ...options,
    file,
    format: extname(file).toLowerCase() === '.json' ? 'json' : 'yaml',
  });
}

const NUMBER_TEXT = /^\s*-?\d+(\.\d+)?\s*$/;

/**
 * Values interpolated from `${ENV}` (and quoted YAML scalars) are text: turn the text into a number or boolean
 * where the schema expects one there and no text, so the shared option schemas never accept strings for numbers.
 */
export function coerceText(value: unknown, candidates: readonly Schema[]): unknown {
  if (typeof value === 'string') {
    const types = new Set(candidates.map((c) => c._zod.def.type));
    const literals = candidates.flatMap((c) => (c._zod.def as { values?: unknown[] }).values ?? []);
    if (
      (types.has('boolean') || literals.includes(false) || literals.includes(true)) &&
      /^(true|false)$/.test(value)
    ) {
      const b = value === 'true';
      if (types.has('boolean') || literals.includes(b)) return b;
    }
    if (types.has('number') && !types.has('string') && !types.has('custom') && NUMBER_TEXT.test(value)) {
      return Number(value);
    }
    return value;
  }
  if (Array.isArray(value)) {
    const inner = candidates.flatMap((c) => schemasAt(c, [0]));
    return value.map((v) => coerceText(v, inner));
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      out[key] = coerceText(
        v,
        candidates.flatMap((c) => schemasAt(c, [key])),
      );
    }
    return out;
  }
  return value;
}

/** The closest known key within a small edit distance (or a case-insensitive match), if any. */
export { suggest };
