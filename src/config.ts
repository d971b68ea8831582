/**
 * Library clients from the gateway's configuration file (`reqforge.yaml`): {@link loadClients} builds one typed
 * `Client` per upstream from the same schema, `${ENV}` interpolation, `defaults:` block and error messages as
 * `reqforge gateway` and `reqforge check`.
 * @packageDocumentation
 */
export {
  ConfigError,
  type ConfigIssue,
  type GatewayConfig,
  isConfigError,
  loadGatewayConfig,
  type ParseConfigOptions,
  parseGatewayConfig,
  parseGatewayConfigText,
  type UpstreamConfig,
} from './gateway/config.js';
export {
  type ConfiguredClients,
  clientsFromConfig,
  type LoadClientsOptions,
  loadClients,
} from './gateway/library-clients.js';
