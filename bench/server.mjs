// Loopback upstream for the benchmarks: keep-alive HTTP/1.1, a small JSON body. Runs in its own process
// so the client under test has a core to itself. Prints its port on stdout.
import { createServer } from 'node:http';

const body = JSON.stringify({ id: 42, name: 'reqforge', tags: ['a', 'b', 'c'], ok: true });
const length = Buffer.byteLength(body);
const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 61_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.on('disconnect', () => process.exit(0));
