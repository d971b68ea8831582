/**
 * Declarative typed clients (`reqforge/declarative`): define a service's endpoints once (`defineClient` or the
 * `@client` class form), call them with compile-time checked arguments, get validated results, and give each
 * endpoint its own resilience. `reqforge generate` writes such a definition from an OpenAPI document.
 * @packageDocumentation
 */

export { type ClientClass, client, connect, declared, definitionOf } from './decorators.js';
export {
  type ClientDefinition,
  type ConnectedClient,
  type ConnectedExtras,
  type ConnectedJson,
  type ConnectOptions,
  type DefineClientOptions,
  defineClient,
  type Endpoints,
  type Resilience,
} from './define.js';
export {
  type AnyEndpoint,
  type CheckedPath,
  type DeclaredEndpoint,
  del,
  type Endpoint,
  type EndpointArgs,
  type EndpointCall,
  type EndpointCallOptions,
  type EndpointDecorator,
  type EndpointMethod,
  type EndpointOptions,
  type EndpointResult,
  get,
  head,
  type PathParamNames,
  patch,
  post,
  put,
  RESERVED_KEYS,
  type ReservedKey,
} from './endpoint.js';
export { isResponseValidationError, ResponseValidationError } from './errors.js';
export { type StandardSchemaV1, typed, type ValidationIssue } from './standard-schema.js';
