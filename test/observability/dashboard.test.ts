import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { createTelemetry } from '../../src/gateway/telemetry.js';

// Every metric family reqforge exports: the gateway's registry holds the library's client series, the gateway's
// own, the host/cgroup gauges and prom-client's process metrics.
function exportedFamilies(): Set<string> {
  const config = parseGatewayConfig({ upstreams: { billing: { baseUrl: 'http://127.0.0.1:9' } } });
  const telemetry = createTelemetry(config, () => 0);
  const names = new Set<string>();
  for (const metric of telemetry.metrics?.registry.getMetricsAsArray() ?? []) {
    const { name, type } = metric as unknown as { name: string; type: string };
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
  }
  return names;
}

/** Metric names in a PromQL expression: every identifier followed by a label selector. */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{/g)].map((m) => m[1] as string);
}

describe('the shipped Grafana dashboard and Prometheus alert rules', () => {
  const exported = exportedFamilies();

  it('names only metrics reqforge exports, in every dashboard query', () => {
    const dashboard = JSON.parse(readFileSync('deploy/grafana/reqforge-dashboard.json', 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
      templating: { list: { definition?: string }[] };
    };
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(12);
    const queries = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr })));
    expect(queries.length).toBeGreaterThan(20);
    for (const { panel, expr } of queries) {
      const used = metricsIn(expr);
      expect(used.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const name of used) expect(exported.has(name), `${panel}: ${name} is not exported`).toBe(true);
    }
    for (const variable of dashboard.templating.list) {
      const m = variable.definition && /label_values\((\w+),/.exec(variable.definition);
      if (m) expect(exported.has(m[1] as string)).toBe(true);
    }
  });

  it('names only exported metrics in the alert rules, which cover breaker, errors, tokens, store and limiter', () => {
    const rules = parse(readFileSync('deploy/prometheus/reqforge-alerts.yml', 'utf8')) as {
      groups: { rules: { alert: string; expr: string; for: string }[] }[];
    };
    const all = rules.groups.flatMap((g) => g.rules);
    expect(all.map((r) => r.alert).sort()).toEqual([
      'ReqforgeCircuitBreakerOpen',
      'ReqforgeErrorRatioHigh',
      'ReqforgeRateLimiterSaturated',
      'ReqforgeRetryBudgetExhausted',
      'ReqforgeTokenRefreshFailing',
      'ReqforgeTokenStoreDown',
    ]);
    for (const rule of all) {
      const used = metricsIn(rule.expr);
      expect(used.length, rule.alert).toBeGreaterThan(0);
      for (const name of used)
        expect(exported.has(name), `${rule.alert}: ${name} is not exported`).toBe(true);
    }
  });
});
