// The shipped alert rules and dashboard queries, checked by Prometheus's own tool: promtool parses every expression
// (a typo in PromQL fails here, not in an operator's Prometheus) and runs the alerts against synthetic series, so
// each alert fires when its documentation says it does, with the labels its summary names, and stays quiet otherwise.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { withSystemTool } from '../helpers/system-tool.js';

const PROMTOOL = '/usr/bin/promtool';
const RULES = resolve('deploy/prometheus/reqforge-alerts.yml');
const DASHBOARD = resolve('deploy/grafana/reqforge-dashboard.json');

const dir = mkdtempSync(join(tmpdir(), 'reqforge-promtool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function promtool(...args: string[]): { status: number | null; output: string } {
  const run = spawnSync(PROMTOOL, args, { encoding: 'utf8', cwd: dir });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** A dashboard query as Prometheus sees it once Grafana has filled in its variables. */
function asPrometheusSees(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, '5m').replace(/\$\{?[A-Za-z_]\w*\}?/g, '.+');
}

/** The annotations a firing alert of the shipped rules carries, for promtool's exact comparison. */
function annotationsOf(alert: string, labels: Record<string, string>): Record<string, string> {
  const rules = readFileSync(RULES, 'utf8');
  const block = rules.slice(rules.indexOf(`- alert: ${alert}`));
  const field = (name: string) => {
    const m = new RegExp(`${name}: '([^']*)'`).exec(block);
    if (!m) throw new Error(`${alert} has no ${name}`);
    return (m[1] as string).replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, l: string) => labels[l] ?? '');
  };
  return { summary: field('summary'), description: field('description') };
}

function expectAlert(alert: string, labels: Record<string, string>) {
  return {
    exp_labels: { ...labels, severity: severityOf(alert) },
    exp_annotations: annotationsOf(alert, labels),
  };
}

function severityOf(alert: string): string {
  const rules = readFileSync(RULES, 'utf8');
  const block = rules.slice(rules.indexOf(`- alert: ${alert}`));
  return /severity: (\w+)/.exec(block)?.[1] ?? '';
}

function body() {
  it('parses the alert rules: promtool check rules finds all six', () => {
    const { status, output } = promtool('check', 'rules', RULES);
    expect(output).toContain('SUCCESS: 6 rules found');
    expect(status).toBe(0);
  });

  it('parses every dashboard query (each checked as a recording rule)', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const queries = dashboard.panels.flatMap((p) => p.targets.map((t) => asPrometheusSees(t.expr)));
    expect(queries.length).toBeGreaterThan(20);
    const file = join(dir, 'dashboard-queries.yml');
    writeFileSync(
      file,
      stringify({
        groups: [
          { name: 'dashboard', rules: queries.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) },
        ],
      }),
    );
    const { status, output } = promtool('check', 'rules', file);
    expect(output).toContain(`SUCCESS: ${queries.length} rules found`);
    expect(status).toBe(0);
  });

  it('fires each alert on the series that should raise it, after its `for:`, and not on healthy ones', () => {
    const upstream = 'billing';
    const tests = {
      rule_files: [RULES],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            // billing's breaker open from minute 2 on; payments' stays closed.
            {
              series: `reqforge_circuit_breaker_state{upstream="${upstream}",key="api.billing:443"}`,
              values: '0 0 2x10',
            },
            {
              series: 'reqforge_circuit_breaker_state{upstream="payments",key="api.payments:443"}',
              values: '0x12',
            },
            // billing: 10 % of calls fail; payments: 1 %.
            {
              series: `http_client_request_duration_seconds_count{upstream="${upstream}",error_type=""}`,
              values: '0+90x20',
            },
            {
              series: `http_client_request_duration_seconds_count{upstream="${upstream}",error_type="500"}`,
              values: '0+10x20',
            },
            {
              series: 'http_client_request_duration_seconds_count{upstream="payments",error_type=""}',
              values: '0+99x20',
            },
            {
              series: 'http_client_request_duration_seconds_count{upstream="payments",error_type="503"}',
              values: '0+1x20',
            },
            // The Redis store stops answering at minute 3; the SQLite one is fine.
            { series: 'reqforge_token_store_up{store="redis"}', values: '1 1 1 0x10' },
            { series: 'reqforge_token_store_up{store="sqlite"}', values: '1x13' },
            // billing's token refresh fails once a minute.
            { series: `reqforge_token_refresh_failures_total{upstream="${upstream}"}`, values: '0+1x25' },
            // billing's retry budget refuses a retry every minute.
            { series: `reqforge_retry_budget_exhausted_total{upstream="${upstream}"}`, values: '0+1x25' },
            // billing's limiter drops calls.
            {
              series: `reqforge_rate_limiter_decisions_total{upstream="${upstream}",outcome="dropped"}`,
              values: '0+5x25',
            },
            {
              series: 'reqforge_rate_limiter_decisions_total{upstream="payments",outcome="allowed"}',
              values: '0+50x25',
            },
          ],
          alert_rule_test: [
            // Open at minute 2, `for: 1m`: pending at 2m, firing from 3m; the closed breaker never.
            { eval_time: '2m', alertname: 'ReqforgeCircuitBreakerOpen', exp_alerts: [] },
            {
              eval_time: '4m',
              alertname: 'ReqforgeCircuitBreakerOpen',
              exp_alerts: [expectAlert('ReqforgeCircuitBreakerOpen', { upstream, key: 'api.billing:443' })],
            },
            // 10 % > 5 % for 5m (the first rate needs two samples): firing by minute 7, billing only.
            { eval_time: '3m', alertname: 'ReqforgeErrorRatioHigh', exp_alerts: [] },
            {
              eval_time: '8m',
              alertname: 'ReqforgeErrorRatioHigh',
              exp_alerts: [expectAlert('ReqforgeErrorRatioHigh', { upstream })],
            },
            // Down from minute 3, `for: 2m`: not yet at 4m, firing at 6m; sqlite never.
            { eval_time: '4m', alertname: 'ReqforgeTokenStoreDown', exp_alerts: [] },
            {
              eval_time: '6m',
              alertname: 'ReqforgeTokenStoreDown',
              exp_alerts: [expectAlert('ReqforgeTokenStoreDown', { store: 'redis' })],
            },
            { eval_time: '5m', alertname: 'ReqforgeTokenRefreshFailing', exp_alerts: [] },
            {
              eval_time: '15m',
              alertname: 'ReqforgeTokenRefreshFailing',
              exp_alerts: [expectAlert('ReqforgeTokenRefreshFailing', { upstream })],
            },
            {
              eval_time: '15m',
              alertname: 'ReqforgeRetryBudgetExhausted',
              exp_alerts: [expectAlert('ReqforgeRetryBudgetExhausted', { upstream })],
            },
            {
              eval_time: '15m',
              alertname: 'ReqforgeRateLimiterSaturated',
              exp_alerts: [expectAlert('ReqforgeRateLimiterSaturated', { upstream })],
            },
          ],
        },
      ],
    };
    const file = join(dir, 'alerts.test.yml');
    writeFileSync(file, stringify(tests));
    const { status, output } = promtool('test', 'rules', file);
    expect(output).toContain('SUCCESS');
    expect(status).toBe(0);
  });
}

describe('alert rules and dashboard queries under promtool', () => {
  withSystemTool(PROMTOOL, 'prometheus', body);
});
