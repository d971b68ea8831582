// A child process of shared-limit.test.ts (and bench/shared-limit.mjs): one "replica" with its own client and
// its own RedisRateLimiter, sharing one limit with its siblings through Redis. It loads reqforge from the module
// URL in argv (the compiled src/ in tests, dist/ in the bench) and takes orders over IPC:
//   { type: 'setup', run } → builds the client (rateLimit with a Redis store), answers { type: 'ready' }
//   { type: 'go' }         → runs `run.callers` loops of one call at a time for `run.durationMs`, answers
//                            { type: 'result', … } (reservations, send times, outcomes, limiter events) and
//                            tears the replica down
//   { type: 'exit' }       → leaves
// Anything unexpected is answered with { type: 'error', message }.

const indexUrl = process.argv[2];
if (!indexUrl || !process.send) {
  console.error('usage: fork limiter-worker.mjs <file: URL of reqforge index.js> (with an IPC channel)');
  process.exit(2);
}
const { createClient, EventHub, rateLimit } = await import(indexUrl);

const { AsyncLocalStorage } = await import('node:async_hooks');
const send = (message) => process.send(message);
// Links a call to its reservation: the 'reservation' event fires in the call's async context.
const callSlot = new AsyncLocalStorage();
let replica;

async function setup(run) {
  const events = new EventHub();
  const seen = { reservations: [], transitions: [], sends: [] };
  events.on('reservation', (e) => {
    if (!e.granted) return;
    seen.reservations.push([e.at, e.start]);
    const call = callSlot.getStore();
    if (call) call.slot = e.start;
  });
  events.on('limiter:down', (e) =>
    seen.transitions.push({
      at: Date.now(),
      to: 'down',
      mode: e.mode,
      replicas: e.replicas,
      from: e.fromHeartbeats,
    }),
  );
  events.on('limiter:up', () => seen.transitions.push({ at: Date.now(), to: 'up' }));
  // Innermost: when a call really leaves for the server (after its slot started), on the wall clock.
  const stamp = {
    name: 'stamp',
    wrap: (next) => (request, ctx) => {
      seen.sends.push(Date.now());
      // The slot travels to the server, which counts what it got per second of slot and of arrival.
      const slot = callSlot.getStore()?.slot;
      return next(slot === undefined ? request : request.withHeaders({ 'x-slot': String(slot) }), ctx);
    },
  };
  const policy = rateLimit({
    limit: run.limit,
    burst: run.burst,
    keyBy: 'shared',
    maxWait: run.maxWait ?? 30_000,
    store: { url: run.redisUrl, keyPrefix: run.keyPrefix },
    name: run.name,
    onStoreDown: run.onStoreDown ?? 'local',
    ...(run.expectedReplicas && { expectedReplicas: run.expectedReplicas }),
    ...(run.storeTimeout && { storeTimeout: run.storeTimeout }),
    heartbeat: run.heartbeat ?? 500,
    storeRetryAfter: run.storeRetryAfter ?? 250,
    events,
  });
  // No retry: every permit is one request the server sees.
  const client = createClient({
    baseUrl: run.apiUrl,
    http: { connections: run.connections ?? run.callers },
    policies: [policy, stamp],
  });
  const limiter = policy.limiter;
  replica = { run, client, seen, limiter };
  // Connect and announce this replica before "go", so every replica counts the others.
  await replica.limiter?.connect?.();
  if (!replica.limiter) throw new Error('no rate limiter on the client');
  send({ type: 'ready', pid: process.pid });
}

async function go() {
  const { run, client, seen, limiter } = replica;
  const outcomes = {};
  const slow = [];
  const calls = [];
  const started = Date.now();
  const end = started + run.durationMs;
  // One call: its outcome is counted (and, with `recordCalls`, its start and end on the wall clock).
  const one = async () => {
    const t0 = Date.now();
    let outcome = 'ok';
    try {
      const response = await callSlot.run({}, () => client.get('/'));
      await response.text();
    } catch (error) {
      outcome = error?.code ?? error?.name ?? 'Error';
    }
    const t1 = Date.now();
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    if (run.recordCalls) calls.push([t0, t1, outcome === 'ok' ? 1 : 0]);
    if (t1 - t0 > (run.maxWait ?? 30_000) + 1_000) slow.push(t1 - t0);
    return outcome;
  };
  const loop = async () => {
    while (Date.now() < end) {
      // A refused call comes back at once: do not spin (a caller would back off too).
      if ((await one()) !== 'ok') await new Promise((r) => setTimeout(r, run.backoffMs ?? 5));
    }
  };
  // Open loop (`run.rate` calls per second, whatever the answers): demand that a stalled process cannot lower,
  // as callers arriving at a service would. Otherwise `run.callers` loops of one call at a time.
  const open = async () => {
    const pending = [];
    let issued = 0;
    while (Date.now() < end) {
      const due = Math.floor(((Date.now() - started) * run.rate) / 1000) - issued;
      for (let i = 0; i < due; i++) pending.push(one());
      issued += Math.max(0, due);
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(pending);
  };
  if (run.rate) await open();
  else await Promise.all(Array.from({ length: run.callers }, loop));
  const stats = limiter.stats();
  send({
    type: 'result',
    pid: process.pid,
    outcomes,
    slow,
    calls,
    reservations: seen.reservations,
    sends: seen.sends,
    transitions: seen.transitions,
    stats,
  });
  await client.close();
  replica = undefined;
}

process.on('message', async (message) => {
  try {
    if (message?.type === 'setup') await setup(message.run);
    else if (message?.type === 'go') await go();
    else if (message?.type === 'exit') process.exit(0);
    else send({ type: 'error', message: `unknown order ${JSON.stringify(message)}` });
  } catch (error) {
    send({ type: 'error', message: `${error?.code ?? error?.name}: ${error?.message ?? String(error)}` });
  }
});
process.on('disconnect', () => process.exit(0));
send({ type: 'loaded' });
