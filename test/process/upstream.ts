// The loopback upstream of the process tests, closed when the test that started it finishes. The tests run
// concurrently, so the hook is the test's own (from its context): vitest's global `onTestFinished` may attach to
// another running test and close this server in the middle of a call.
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * A server whose paths misbehave once per distinct URL: `/flaky…` answers 503 the first time, `/limited…`
 * 429 with `Retry-After: 1` the first time; `/down…` always 503, `/missing…` 404, `/hang…` never answers; every
 * other request gets `{ "ok": true, "path": … }`.
 */
export async function upstream(onTestFinished: (fn: () => Promise<void>) => void): Promise<TestServer> {
  const seen = new Set<string>();
  const server = await startServer((req, res) => {
    const url = req.url ?? '/';
    const first = !seen.has(url);
    seen.add(url);
    if (first && url.startsWith('/flaky')) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('busy');
    } else if (first && url.startsWith('/limited')) {
      res.writeHead(429, { 'retry-after': '1', 'content-type': 'text/plain' }).end('slow down');
    } else if (url.startsWith('/down')) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('down');
    } else if (url.startsWith('/hang')) {
      // Never answers; the server's close() destroys the socket.
    } else if (url.startsWith('/missing')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"nope"}');
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, path: url }));
    }
  });
  onTestFinished(() => server.close());
  return server;
}
