// One process using a TokenPipeline whose steps live in a shared store (SQLite or Redis): it gets the output token,
// reports the steps' fingerprints and what it fetched itself, and exits (a restart is the next process).
const [srcUrl, kind, where, idpUrl, keyHex, appTtl] = process.argv.slice(2);
const auth = await import(new URL('auth/index.js', srcUrl).href);
const { EncryptedTokenStore } = await import(new URL('stores/encrypted.js', srcUrl).href);
let inner;
if (kind === 'sqlite') {
  const { SqliteTokenStore } = await import(new URL('stores/sqlite.js', srcUrl).href);
  inner = await SqliteTokenStore.open({ path: where });
} else {
  const { RedisTokenStore } = await import(new URL('stores/redis.js', srcUrl).href);
  inner = await RedisTokenStore.connect({ url: 'redis://127.0.0.1:6379', keyPrefix: where });
}
const store = new EncryptedTokenStore(inner, { keys: [keyHex] });
const pipeline = new auth.TokenPipeline({
  id: 'fortinet-chain',
  store,
  steps: {
    device: {
      ttl: 30 * 24 * 3600_000,
      fetch: auth.fromJsonBody({ url: `${idpUrl}/device`, tokenPath: 'device_token' }),
    },
    app: {
      deps: ['device'],
      ttl: Number(appTtl),
      fetch: auth.fromJsonBody({
        url: `${idpUrl}/app`,
        headers: (deps) => ({ 'x-device-token': deps.device.value }),
        tokenPath: 'app_token',
      }),
    },
  },
});
try {
  const token = await pipeline.getToken();
  const stats = pipeline.stats();
  process.send({
    type: 'done',
    output: token.fingerprint(),
    device: stats.device.fingerprint,
    deviceExpiresAt: stats.device.expiresAt,
    fetches: { device: stats.device.fetches, app: stats.app.fetches },
  });
} catch (error) {
  process.send({ type: 'error', message: String(error?.message ?? error) });
} finally {
  await pipeline.close();
  await inner.close?.();
}
