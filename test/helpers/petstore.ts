import { sendJson, startServer, type TestServer } from './server.js';

/** The small API the README and docs examples call: `/petstore/pets` and `/petstore/pets/{id}`. */
export function startPetstore(): Promise<TestServer> {
  return startServer((req, res, body) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const match = /^\/petstore\/pets(?:\/([^/]+))?$/.exec(url.pathname);
    if (!match) {
      sendJson(res, 404, { title: 'Not Found', status: 404 }, { 'content-type': 'application/problem+json' });
      return;
    }
    if (!match[1] && req.method === 'GET') return sendJson(res, 200, [{ id: 1, name: 'Rex' }]);
    if (!match[1] && req.method === 'POST') {
      const pet = { id: 2, ...(JSON.parse(body.toString() || '{}') as object) };
      return sendJson(res, 201, pet, { location: '/petstore/pets/2' });
    }
    if (match[1] === '1') return sendJson(res, 200, { id: 1, name: 'Rex' });
    sendJson(
      res,
      404,
      { type: 'about:blank', title: 'Pet not found', status: 404, detail: `No pet ${match[1]}` },
      { 'content-type': 'application/problem+json' },
    );
  });
}
