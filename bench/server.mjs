// Loopback upstream for the benchmarks: keep-alive HTTP/1.1, a small JSON body. Runs in its own process
// so the client under test has a core to itself. Prints its port on stdout.
import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';

const body = JSON.stringify({ id: 42, name: 'reqforge', tags: ['a', 'b', 'c'], ok: true });
const length = Buffer.byteLength(body);
// `/gzip`: a 4 KiB JSON list, gzipped once at start (about 0.6 KiB on the wire), for the decompression rows.
const list = JSON.stringify(
  Array.from({ length: 40 }, (_, i) => ({ id: i, name: `pet ${i}`, tags: ['a', 'b'], ok: i % 2 === 0 })),
);
const zipped = gzipSync(list);
const server = createServer((req, res) => {
  req.resume();
  if (req.url === '/gzip') {
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      'content-length': zipped.length,
    });
    res.end(zipped);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 61_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.on('disconnect', () => process.exit(0));
