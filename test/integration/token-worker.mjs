// A child process of multiprocess.test.ts: one "replica" with its own TokenManager, sharing a token store
// with its siblings. It loads the compiled reqforge (test/helpers/compile.ts) and takes orders over IPC:
//   { type: 'setup', run }  → connects the store, builds the manager and client, answers { type: 'ready' }
//   { type: 'go' }          → fires `run.calls` concurrent calls on the cold cache, answers { type: 'result' }
//                             and tears the replica down (the next 'setup' starts a fresh one), unless
//                             `run.keep`: then the replica stays for the next 'go' (counters start again)
//   { type: 'teardown' }    → closes a kept replica, answers { type: 'closed' }
//   { type: 'exit' }        → leaves
// Anything unexpected is answered with { type: 'error', message }.

const indexUrl = process.argv[2];
if (!indexUrl || !process.send) {
  console.error('usage: fork token-worker.mjs <file: URL of compiled index.js> (with an IPC channel)');
  process.exit(2);
}
const { clientCredentials, createClient, createTokenStore, EventHub, TokenManager, tokenAuth } = await import(
  indexUrl
);

/** The replica of the current run. */
let replica;

const send = (message) => process.send(message);

function describeError(error) {
  const code = error?.code ?? error?.name ?? 'Error';
  return `${code}: ${error?.message ?? String(error)}`;
}

async function setup(run) {
  const storeEvents = new EventHub();
  const seen = {
    storeError: [],
    storeDown: 0,
    storeUp: 0,
    tokenStoreErrors: [],
    acquired: [],
    refreshed: [],
    tokenFailures: [],
    tokenMs: -1,
  };
  storeEvents.on('store:error', (e) => seen.storeError.push(`${e.operation}:${e.error}`));
  storeEvents.on('store:down', () => seen.storeDown++);
  storeEvents.on('store:up', () => seen.storeUp++);
  const store = await createTokenStore({ ...run.store, events: storeEvents });
  const tokens = new TokenManager({
    store,
    provider: clientCredentials({
      tokenUrl: run.tokenUrl,
      clientId: run.clientId,
      clientSecret: run.clientSecret,
    }),
  });
  tokens.events.on('acquired', (e) => {
    seen.acquired.push(e.source);
    seen.tokenMs = Math.round(performance.now() - (replica?.started ?? 0));
  });
  tokens.events.on('refreshed', (e) => seen.refreshed.push(e.source));
  tokens.events.on('failed', (e) => seen.tokenFailures.push(describeError(e.error)));
  tokens.events.on('storeError', (e) =>
    seen.tokenStoreErrors.push(`${e.operation}:${describeError(e.error)}`),
  );
  const api = createClient({
    baseUrl: run.apiUrl,
    policies: [tokenAuth(tokens)],
    // A few keep-alive connections per replica: 4 replicas must not flood the sandbox's accept backlog.
    http: { connections: run.connections },
    timeout: { total: 20_000, attempt: 20_000 },
  });
  replica = { run, store, tokens, api, seen };
}

async function go() {
  const { run, api, seen } = replica;
  const started = performance.now();
  replica.started = started;
  let ok = 0;
  const errors = [];
  await Promise.all(
    Array.from({ length: run.calls }, async () => {
      try {
        const me = await api.get('/api/me').json();
        if (me?.client_id === run.clientId) ok++;
        else errors.push(`unexpected body ${JSON.stringify(me)}`);
      } catch (error) {
        errors.push(describeError(error));
      }
    }),
  );
  const durationMs = Math.round(performance.now() - started);
  const result = {
    type: 'result',
    pid: process.pid,
    ok,
    failed: errors.length,
    errors: [...new Set(errors)].slice(0, 5),
    durationMs,
    ...structuredClone(seen),
  };
  if (run.keep) {
    for (const list of Object.values(seen)) if (Array.isArray(list)) list.length = 0;
  } else {
    await teardown();
  }
  return result;
}

async function teardown() {
  if (!replica) return;
  const { api, tokens, store } = replica;
  replica = undefined;
  await api.close();
  await tokens.close();
  await store.close();
}

process.on('message', (message) => {
  const handle = async () => {
    switch (message?.type) {
      case 'setup':
        await setup(message.run);
        return { type: 'ready', pid: process.pid };
      case 'go':
        if (!replica) throw new Error('go before setup');
        return go();
      case 'teardown':
        await teardown();
        return { type: 'closed' };
      case 'exit':
        process.disconnect();
        return undefined;
      default:
        throw new Error(`unknown message ${JSON.stringify(message)}`);
    }
  };
  handle().then(
    (reply) => reply && send(reply),
    (error) => send({ type: 'error', message: describeError(error) }),
  );
});

send({ type: 'loaded', pid: process.pid });
