/**
 * Authentication: static credentials, the TokenManager, OAuth2 grants, token pipelines and sessions.
 * @packageDocumentation
 */
export * from './errors.js';
export { checkIdentityForStore, credentialKey, type GrantIdentity, grantIdentity } from './identity.js';
export * from './oauth2.js';
export * from './pipeline.js';
export * from './policy.js';
export * from './session.js';
export type { SessionUsage } from './session-usage.js';
export {
  type ApiKeyAuthOptions,
  type AuthPolicy,
  apiKeyAuth,
  type BearerAuthOptions,
  basicAuth,
  bearerAuth,
  type CredentialSource,
  compositeAuth,
  headerAuth,
} from './static.js';
export {
  clockOffset,
  createToken,
  DEFAULT_TOKEN_LIFETIME,
  type ExpirySource,
  jwtExpiry,
  Token,
  type TokenInit,
} from './token.js';
export { relayTokenEvents, type TokenClientEvent, type TokenHubEvents } from './token-events.js';
export {
  type GetTokenOptions,
  TOKEN_MANAGER_DEFAULTS,
  TokenManager,
  type TokenManagerOptions,
} from './token-manager.js';
export type * from './types.js';
