/**
 * `reqforge call`: one call through an upstream's configured client (auth, policies, timeouts), its OAuth2 token
 * taken from (and written to) the configured token store, as the gateway's replicas do.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { createClient } from '../../client/client.js';
import { upstreamClientOptions } from '../../gateway/upstreams.js';
import { loadWiring } from '../../gateway/wiring.js';
import { type CliIo, collect, EXIT, loadConfig, UsageError, upstreamNamed } from '../io.js';
import { openCliStore } from '../store.js';

interface CallFlags {
  readonly config?: string;
  readonly data?: string;
  readonly header: string[];
  readonly include?: boolean;
  readonly pretty?: boolean;
}

/** Adds `call` to the CLI; `setCode` receives the exit code. */
export function registerCall(cmd: Command, io: CliIo, setCode: (code: number) => void): void {
  cmd
    .command('call')
    .description('call an upstream through its configured client (auth, policies, timeouts)')
    .argument('<upstream>', 'upstream name from the configuration')
    .argument('<method>', 'HTTP method, such as GET')
    .argument('<path>', 'path below the upstream base URL, such as /pets?limit=2')
    .option('-c, --config <file>', 'configuration file')
    .option('-d, --data <body>', 'request body; @file reads a file, - reads stdin')
    .option('-H, --header <header>', 'extra header "Name: value" (repeatable)', collect, [])
    .option('-i, --include', 'print the status line and response headers')
    .addOption(new Option('--pretty', 'pretty-print JSON (default on a terminal)'))
    .action(async (upstream: string, method: string, path: string, opts: CallFlags) => {
      const config = await loadConfig(opts.config, io);
      const upstreamConfig = upstreamNamed(config, upstream);
      if (!/^[A-Za-z]+$/.test(method)) throw new UsageError(`"${method}" is not an HTTP method`);
      const headers = parseHeaders(opts.header);
      const body = await readBody(opts.data, io);
      if (body !== undefined && headers['content-type'] === undefined) {
        headers['content-type'] = looksLikeJson(body) ? 'application/json' : 'text/plain;charset=utf-8';
      }
      const wiring = await loadWiring();
      // The gateway's token store: a token a replica already holds is reused, one fetched here is shared.
      const opened = await openCliStore(config, wiring);
      let built: ReturnType<typeof upstreamClientOptions>;
      try {
        built = upstreamClientOptions(upstream, upstreamConfig, wiring, { store: opened.store });
      } catch (error) {
        await opened.close();
        throw error;
      }
      const client = createClient(built.options);
      try {
        const response = await client.request(method, path.startsWith('/') ? path : `/${path}`, {
          headers,
          ...(body !== undefined && { body }),
        });
        const text = await response.text();
        if (opts.include) {
          io.stdout.write(`HTTP ${response.status}\n`);
          for (const [k, v] of Object.entries(response.headers)) io.stdout.write(`${k}: ${String(v)}\n`);
          io.stdout.write('\n');
        }
        const pretty = opts.pretty ?? io.stdout.isTTY === true;
        const type = response.header('content-type') ?? '';
        if (pretty && /json/i.test(type) && text.length > 0) {
          try {
            io.stdout.write(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
          } catch {
            io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
          }
        } else if (text.length > 0) {
          io.stdout.write(text.endsWith('\n') || !pretty ? text : `${text}\n`);
        }
        if (!response.ok) io.stderr.write(`✗ HTTP ${response.status} from ${upstream}\n`);
        setCode(response.ok ? EXIT.ok : response.status >= 500 ? EXIT.serverError : EXIT.clientError);
      } finally {
        await built.auth?.close?.();
        await client.close();
        await opened.close();
      }
    });
}

function parseHeaders(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const colon = item.indexOf(':');
    if (colon <= 0) throw new UsageError(`Header "${item.slice(0, 40)}" must look like "Name: value"`);
    out[item.slice(0, colon).trim().toLowerCase()] = item.slice(colon + 1).trim();
  }
  return out;
}

async function readBody(data: string | undefined, io: CliIo): Promise<string | undefined> {
  if (data === undefined) return undefined;
  if (data === '-') {
    if (!io.stdin) throw new UsageError('Reading the body from stdin is not available here');
    return io.stdin();
  }
  if (data.startsWith('@')) {
    const path = resolve(io.cwd, data.slice(1));
    try {
      return readFileSync(path, 'utf8');
    } catch {
      throw new UsageError(`Cannot read the body file ${path}`);
    }
  }
  return data;
}

function looksLikeJson(text: string): boolean {
  const t = text.trim();
  if (!(t.startsWith('{') || t.startsWith('['))) return false;
  try {
    JSON.parse(t);
    return true;
  } catch {
    return false;
  }
}
