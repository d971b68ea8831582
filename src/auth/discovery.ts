/**
 * Issuer discovery: an OAuth2 / OpenID Connect issuer URL turned into its endpoints, read once per issuer and
 * cached, as openid-client does. `/.well-known/openid-configuration` is asked first (OpenID Connect Discovery 1.0,
 * appended to the issuer), then RFC 8414's `/.well-known/oauth-authorization-server` (inserted before the issuer's
 * path). The document's `issuer` must equal the configured issuer (RFC 8414 §3.3): a document naming another
 * issuer is refused, so a token endpoint cannot be swapped in by whoever answers the well-known URL.
 */
import { type Client, createClient } from '../client/client.js';
import { InvalidOptionError, isReqforgeError } from '../core/errors.js';
import { TokenEndpointError } from './errors.js';
import { urlOption } from './validate.js';

/** What reqforge reads from an issuer's metadata. */
export interface IssuerMetadata {
  /** The issuer, exactly as the document names it (equal to the configured one). */
  readonly issuer: string;
  /** `token_endpoint`. */
  readonly tokenEndpoint: string;
  /** `revocation_endpoint` (RFC 7009), when the issuer has one. */
  readonly revocationEndpoint: string | undefined;
  /**
   * `token_endpoint_auth_methods_supported`.
   * @default ['client_secret_basic'] (RFC 8414 §2: the default when the document leaves it out)
   */
  readonly tokenEndpointAuthMethods: readonly string[];
  /** `grant_types_supported`, when given. */
  readonly grantTypes: readonly string[] | undefined;
  /** `scopes_supported`, when given. */
  readonly scopes: readonly string[] | undefined;
  /** The URL the document was read from. */
  readonly source: string;
}

/** Options of {@link discoverIssuer}. */
export interface DiscoveryOptions {
  /** The reqforge client the documents are fetched with; by default one with a 10 s total timeout. */
  readonly client?: Client | undefined;
  /**
   * Use the process-wide cache: each issuer is read once (a failed read is forgotten, so the next call asks again).
   * @default true
   */
  readonly cache?: boolean | undefined;
}

const cache = new Map<string, Promise<IssuerMetadata>>();

/**
 * Reads an issuer's metadata (cached per issuer URL for the life of the process).
 *
 * @example
 * const meta = await discoverIssuer('https://idp.example.com');
 * meta.tokenEndpoint; // 'https://idp.example.com/oauth/token'
 */
export function discoverIssuer(issuer: string, options: DiscoveryOptions = {}): Promise<IssuerMetadata> {
  const url = urlOption('issuer', issuer);
  if (options.cache === false) return read(url, options.client);
  let found = cache.get(url);
  if (!found) {
    found = read(url, options.client);
    cache.set(url, found);
    found.catch(() => {
      if (cache.get(url) === found) cache.delete(url);
    });
  }
  return found;
}

/** Forgets cached metadata: of one issuer, or of every issuer. For tests and key rotation drills. */
export function clearDiscoveryCache(issuer?: string): void {
  if (issuer === undefined) cache.clear();
  else cache.delete(issuer);
}

/** The two well-known URLs of an issuer, in the order they are asked. */
export function wellKnownUrls(issuer: string): [openid: string, oauth: string] {
  const u = new URL(issuer);
  const path = u.pathname.replace(/\/+$/, '');
  return [
    `${u.origin}${path}/.well-known/openid-configuration`,
    `${u.origin}/.well-known/oauth-authorization-server${path}`,
  ];
}

async function read(issuer: string, given: Client | undefined): Promise<IssuerMetadata> {
  const client =
    given ??
    createClient({
      name: 'oauth2-discovery',
      timeout: { total: 10_000, attempt: 5_000 },
      throwHttpErrors: false,
    });
  try {
    const [openid, oauth] = wellKnownUrls(issuer);
    const first = await fetchDocument(client, openid);
    const found = first ?? (await fetchDocument(client, oauth));
    if (!found) {
      throw new TokenEndpointError(
        'Issuer discovery found no metadata: both /.well-known/openid-configuration and ' +
          '/.well-known/oauth-authorization-server answered 404; give tokenUrl instead of issuer',
      );
    }
    return toMetadata(issuer, found.body, found.url);
  } finally {
    if (!given) await client.close();
  }
}

/** The document at `url`, or undefined for a 404 / 410 (try the other well-known URL). */
async function fetchDocument(
  client: Client,
  url: string,
): Promise<{ url: string; body: Record<string, unknown> } | undefined> {
  let response: Awaited<ReturnType<Client['get']>>;
  try {
    response = await client.get(url, { headers: { accept: 'application/json' }, throwHttpErrors: false });
  } catch (error) {
    const detail = isReqforgeError(error) ? error.code : 'request failed';
    throw new TokenEndpointError(`Issuer discovery could not reach the issuer (${detail})`, {
      cause: error,
      request: isReqforgeError(error) ? error.request : undefined,
    });
  }
  if (response.status === 404 || response.status === 410) {
    await response.dump();
    return undefined;
  }
  if (!response.ok) {
    await response.dump();
    throw new TokenEndpointError(`Issuer discovery: the metadata URL answered status ${response.status}`, {
      status: response.status,
      request: response.request,
    });
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new TokenEndpointError('Issuer discovery: the metadata is not a JSON object', {
      status: response.status,
      request: response.request,
    });
  }
  return { url, body: body as Record<string, unknown> };
}

/** Text from the document as it may appear in a message: bounded, printable. */
function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : typeof value;
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text).replace(/[^\x20-\x7e]/g, '?');
}

function strings(value: unknown): readonly string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined;
}

function endpoint(body: Record<string, unknown>, field: string, required: boolean): string | undefined {
  const value = body[field];
  if (value === undefined && !required) return undefined;
  if (typeof value === 'string') {
    try {
      const u = new URL(value);
      if ((u.protocol === 'https:' || u.protocol === 'http:') && !u.username && !u.password) return value;
    } catch {
      // reported below
    }
  }
  throw new TokenEndpointError(
    `Issuer discovery: the metadata's ${field} is ${value === undefined ? 'missing' : 'not an absolute http(s) URL'}`,
  );
}

function toMetadata(issuer: string, body: Record<string, unknown>, source: string): IssuerMetadata {
  if (body.issuer !== issuer) {
    throw new InvalidOptionError(
      'issuer',
      `the issuer's metadata names the issuer ${shown(body.issuer)}, which is not the configured one; ` +
        'configure the issuer exactly as its metadata names it (RFC 8414 §3.3)',
    );
  }
  return {
    issuer,
    tokenEndpoint: endpoint(body, 'token_endpoint', true) as string,
    revocationEndpoint: endpoint(body, 'revocation_endpoint', false),
    tokenEndpointAuthMethods: strings(body.token_endpoint_auth_methods_supported) ?? ['client_secret_basic'],
    grantTypes: strings(body.grant_types_supported),
    scopes: strings(body.scopes_supported),
    source,
  };
}
