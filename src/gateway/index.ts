/**
 * The reqforge gateway: a sidecar that forwards `/<upstream>/<path>` to configured upstream APIs with
 * auth, policies, metrics, health, readiness and a status page.
 * @packageDocumentation
 */
export {
  ConfigError,
  type ConfigIssue,
  type GatewayConfig,
  type GatewayConfigInput,
  gatewayConfigSchema,
  interpolateEnv,
  isConfigError,
  loadGatewayConfig,
  type ParseConfigOptions,
  parseDuration,
  parseGatewayConfig,
  parseGatewayConfigText,
  parseSize,
  suggest,
  type UpstreamConfig,
} from './config.js';
export {
  type ConfiguredClients,
  clientsFromConfig,
  type LoadClientsOptions,
  loadClients,
} from './library-clients.js';
export {
  createGatewayLogger,
  type GatewayLogger,
  type GatewayLoggerOptions,
  redactPaths,
} from './logger.js';
export {
  type GatewayProblem,
  makeProblem,
  PROBLEM_TYPE_BASE,
  type ProblemMapping,
  problemFor,
  SECURITY_HEADERS,
  sendProblem,
} from './problem.js';
export {
  type Gateway,
  type GatewayOptions,
  type GatewayUpstream,
  startGateway,
  unsafePathReason,
} from './server.js';
export { escapeHtml, renderStatusPage, type StatusPageOptions } from './status-html.js';
export {
  type GatewayStatus,
  sanitizeStatus,
  type UpstreamAction,
  type UpstreamStatus,
} from './status-model.js';
export type { LiveSummary, OutcomeCounts } from './status-recorder.js';
export { type UpstreamDeps, type UpstreamWiring, upstreamClientOptions } from './upstreams.js';
export {
  type AuthModule,
  type GatewayStore,
  loadWiring,
  MINIMAL_WIRING,
  type OAuth2Settings,
  type TokenRefreshResult,
  type UpstreamAuth,
  type Wiring,
} from './wiring.js';
