// The rows of `npm run bench`: each client gets the same origin and returns { run, close }, where
// run() performs one GET and parses the JSON body. Later features add rows here.
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import axios from 'axios';
import got from 'got';
import ky from 'ky';
import { Pool } from 'undici';
import * as lib from '../dist/index.js';
import * as obs from '../dist/observability/index.js';

/** @typedef {{ run: () => Promise<unknown>, close: () => Promise<void> }} BenchClient */

/**
 * The three reqforge rows of the network table, built from `lib` (a dist's index) and `obs` (its observability
 * entry): this checkout's, or another build's for `--baseline` (an A/B in the same rounds, named with `suffix`).
 * @returns {{ name: string, setup: (origin: string, concurrency: number) => BenchClient }[]}
 */
export function reqforgeRows({ createClient, standardPolicies, tokenAuth }, { createMetrics }, suffix) {
  return [
    {
      name: `reqforge-bare${suffix}`,
      setup(origin, concurrency) {
        const api = createClient({ baseUrl: origin, policies: [], http: { connections: concurrency } });
        return { run: () => api.get('/json').json(), close: () => api.close() };
      },
    },
    {
      name: `reqforge-standard${suffix}`,
      setup(origin, concurrency) {
        // The standard pipeline (timeouts, retry with budget, circuit breaker) plus a limiter that never binds.
        const api = createClient({
          baseUrl: origin,
          preset: 'standard',
          rateLimit: { limit: 1e9, window: 1000, burst: 1e6 },
          http: { connections: concurrency },
        });
        return { run: () => api.get('/json').json(), close: () => api.close() };
      },
    },
    {
      name: `reqforge-standard+auth+metrics${suffix}`,
      setup(origin, concurrency) {
        // DESIGN §7's client row: the standard pipeline, a cached OAuth2-style bearer token and Prometheus metrics.
        const api = createClient({
          baseUrl: origin,
          name: 'bench',
          policies: standardPolicies(
            {
              rateLimit: { limit: 1e9, window: 1000, burst: 1e6 },
              auth: tokenAuth({
                id: 'bench',
                fetchToken: async () => ({ accessToken: 'bench-token-0123456789abcdef', expiresIn: 3600 }),
              }),
            },
            'standard',
          ),
          http: { connections: concurrency },
        });
        createMetrics().instrument(api);
        return { run: () => api.get('/json').json(), close: () => api.close() };
      },
    },
  ];
}

/**
 * `pair` names the row a row is compared with besides undici (the decompression rows compare reqforge's decoding
 * with undici + zlib by hand on the same gzip body).
 * @type {{ name: string, pair?: string, setup: (origin: string, concurrency: number) => BenchClient }[]}
 */
export const clients = [
  {
    name: 'undici',
    setup(origin, concurrency) {
      const pool = new Pool(origin, { connections: concurrency });
      return {
        run: async () => {
          const { body } = await pool.request({ path: '/json', method: 'GET' });
          return body.json();
        },
        close: () => pool.close(),
      };
    },
  },
  ...reqforgeRows(lib, obs, ''),
  {
    name: 'undici+zlib (gzip JSON)',
    setup(origin, concurrency) {
      // By hand: ask for gzip, read the bytes, gunzip, parse.
      const pool = new Pool(origin, { connections: concurrency });
      const headers = { 'accept-encoding': 'gzip' };
      return {
        run: async () => {
          const { body } = await pool.request({ path: '/gzip', method: 'GET', headers });
          return JSON.parse(gunzipSync(Buffer.from(await body.arrayBuffer())).toString('utf8'));
        },
        close: () => pool.close(),
      };
    },
  },
  {
    name: 'reqforge-bare (gzip JSON)',
    pair: 'undici+zlib (gzip JSON)',
    setup(origin, concurrency) {
      const api = lib.createClient({ baseUrl: origin, policies: [], http: { connections: concurrency } });
      return { run: () => api.get('/gzip').json(), close: () => api.close() };
    },
  },
  {
    name: 'fetch',
    setup(origin) {
      const url = `${origin}/json`;
      return { run: () => fetch(url).then((r) => r.json()), close: async () => {} };
    },
  },
  {
    name: 'axios',
    setup(origin, concurrency) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
      const instance = axios.create({ baseURL: origin, httpAgent: agent });
      return { run: () => instance.get('/json').then((r) => r.data), close: async () => agent.destroy() };
    },
  },
  {
    name: 'got',
    setup(origin, concurrency) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
      const instance = got.extend({ prefixUrl: origin, agent: { http: agent }, retry: { limit: 0 } });
      return { run: () => instance.get('json').json(), close: async () => agent.destroy() };
    },
  },
  {
    name: 'ky',
    setup(origin) {
      const instance = ky.create({ prefixUrl: origin, retry: 0 });
      return { run: () => instance.get('json').json(), close: async () => {} };
    },
  },
];
