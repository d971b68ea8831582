import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/gateway/config.js';

describe('gateway logging and tracing settings', () => {
  it('defaults the log level to info and tracing to on, and refuses an unknown level naming the path', () => {
    const config = parseGatewayConfig({ upstreams: { a: { baseUrl: 'http://127.0.0.1:9' } } });
    expect(config.logging.level).toBe('info');
    expect(config.tracing.enabled).toBe(true);
    const quiet = parseGatewayConfig({
      logging: { level: 'warn' },
      tracing: { enabled: false },
      upstreams: { a: { baseUrl: 'http://127.0.0.1:9' } },
    });
    expect(quiet.logging.level).toBe('warn');
    expect(quiet.tracing.enabled).toBe(false);
    expect(() =>
      parseGatewayConfig({ logging: { level: 'loud' }, upstreams: { a: { baseUrl: 'http://127.0.0.1:9' } } }),
    ).toThrow(/logging\.level/);
  });
});
