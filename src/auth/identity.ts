/**
 * A token's credential identity: everything that makes it a different credential, turned into the cache and store
 * key. Two managers whose providers or requests differ in any of these parts never share a token; parts that carry
 * secrets or personal data are hashed, because keys appear in events, `getTokenInfo()`, the status page and
 * plaintext store keys.
 */
import { InvalidOptionError } from '../core/errors.js';
import { fingerprint } from '../core/secret.js';
import type { TokenStore } from '../stores/types.js';
import type { TokenProvider, TokenRequest } from './types.js';

/** What makes an OAuth2 grant's tokens a distinct credential, before the request (scopes, audience, resource). */
export interface GrantIdentity {
  /** The token endpoint (or issuer) URL; hashed in the key (a URL may carry a secret in its query). */
  readonly tokenUrl: string;
  /** The grant type, such as `client_credentials`. */
  readonly grant: string;
  /** The OAuth2 client id; readable in the key (it is not a secret). */
  readonly clientId: string;
  /** Whom the token is for beyond the client: a user name, a refresh token; only its hash enters the key. */
  readonly subject?: string | undefined;
  /** Custom form fields sent with every token request; only their hash enters the key. */
  readonly params?: Readonly<Record<string, string>> | undefined;
}

/**
 * The provider part of a key for an OAuth2 grant: `<grant>:<client id>@<hash of endpoint>`, then `#<hash>` of the
 * subject and `+<hash>` of the custom parameters when there are any. Example: `client_credentials:demo@3f2a9c0d1e4b`.
 */
export function grantIdentity(parts: GrantIdentity): string {
  let id = `${parts.grant}:${escapePart(parts.clientId)}@${fingerprint(parts.tokenUrl)}`;
  if (parts.subject !== undefined) id += `#${fingerprint(parts.subject)}`;
  const params = parts.params ? Object.entries(parts.params) : [];
  if (params.length > 0) {
    params.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    id += `+${fingerprint(JSON.stringify(params))}`;
  }
  return id;
}

/** The resources of a request as a list (a single string, an array, or none). */
export function resourceList(resource: TokenRequest['resource']): readonly string[] {
  if (resource === undefined) return [];
  return typeof resource === 'string' ? [resource] : resource;
}

/**
 * The cache and store key of a token: the provider's identity (its `identity`, else its `id`), sorted scopes,
 * audience, sorted resources and the subject-token fingerprint, separated by `|` (a `|` or `%` inside a part is
 * percent-encoded, so parts never run into each other).
 */
export function credentialKey(provider: TokenProvider, request: TokenRequest): string {
  const scopes = request.scopes ? [...new Set(request.scopes)].sort().join(' ') : '';
  const resources = [...new Set(resourceList(request.resource))].sort().join(' ');
  const subject = request.subjectToken ? fingerprint(request.subjectToken.reveal()) : '';
  return [
    provider.identity ?? escapePart(provider.id),
    escapePart(scopes),
    escapePart(request.audience ?? ''),
    escapePart(resources),
    subject,
  ].join('|');
}

/**
 * Refuses a provider that cannot tell its tokens apart from another's in a shared store: one whose `id` is a
 * default nobody chose (a `TokenPipeline` without `id`) and that has no `identity`. Only in-process memory stores
 * (named `memory`) are exempt; every other store may be shared by managers of other configurations.
 */
export function checkIdentityForStore(provider: TokenProvider, store: TokenStore | undefined): void {
  if (store === undefined || store.name === 'memory') return;
  if (provider.identity === undefined && provider.defaultId === true) {
    throw new InvalidOptionError(
      'provider.id',
      `a provider without a token endpoint keeps its default id "${provider.id}", so its tokens would share ` +
        `keys with any other such provider in the ${store.name} store; give it a unique id (TokenPipeline option "id")`,
    );
  }
}

function escapePart(text: string): string {
  return text.includes('|') || text.includes('%') ? text.replaceAll('%', '%25').replaceAll('|', '%7C') : text;
}
