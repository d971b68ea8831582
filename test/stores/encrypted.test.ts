import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { isInvalidOptionError } from '../../src/core/errors.js';
import { EventHub } from '../../src/core/events.js';
import { EncryptedTokenStore, parseEncryptionKey, TOKEN_KEY_ENV } from '../../src/stores/encrypted.js';
import { MemoryTokenStore } from '../../src/stores/memory.js';
import type { StoreEvents } from '../../src/stores/resilient.js';
import { BACKENDS } from './backends.js';
import { runStoreContract } from './contract.js';
import { describeWithService, serviceUp } from './services.js';

const keyA = randomBytes(32);
const keyB = randomBytes(32);

describe('EncryptedTokenStore', () => {
  const savedEnv = process.env[TOKEN_KEY_ENV];
  afterEach(() => {
    if (savedEnv === undefined) delete process.env[TOKEN_KEY_ENV];
    else process.env[TOKEN_KEY_ENV] = savedEnv;
  });

  it('round-trips and stores no plaintext', async () => {
    const inner = new MemoryTokenStore();
    const store = new EncryptedTokenStore(inner, { keys: [keyA] });
    await store.set('k', 'tok_plaintext_secret', 60_000);
    const raw = await inner.get('k');
    expect(raw).toMatch(/^rfe1\.[A-Za-z0-9_-]{8}\./);
    expect(raw).not.toContain('tok_plaintext_secret');
    expect(await store.get('k')).toBe('tok_plaintext_secret');
  });

  it('accepts hex, base64 and base64url keys', () => {
    const bytes = randomBytes(32);
    expect(parseEncryptionKey(bytes.toString('hex'))).toEqual(bytes);
    expect(parseEncryptionKey(bytes.toString('base64'))).toEqual(bytes);
    expect(parseEncryptionKey(bytes.toString('base64url'))).toEqual(bytes);
  });

  it('rejects bad keys with an InvalidOptionError naming the option', () => {
    const inner = new MemoryTokenStore();
    const attempt = (keys: (string | Uint8Array)[]) => {
      try {
        new EncryptedTokenStore(inner, { keys });
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const short = attempt([keyA, randomBytes(16).toString('hex')]);
    expect(isInvalidOptionError(short)).toBe(true);
    expect((short as { option: string }).option).toBe('encryptionKeys[1]');
    expect((short as Error).message).toMatch(/32-byte/);
    expect(isInvalidOptionError(attempt(['not a key!']))).toBe(true);
    expect(isInvalidOptionError(attempt([]))).toBe(true);
  });

  it('reads keys from REQFORGE_TOKEN_KEY and names it in errors', async () => {
    process.env[TOKEN_KEY_ENV] = `${keyA.toString('base64')},${keyB.toString('hex')}`;
    const inner = new MemoryTokenStore();
    const store = new EncryptedTokenStore(inner);
    await store.set('k', 'v', 60_000);
    expect(await new EncryptedTokenStore(inner, { keys: [keyA] }).get('k')).toBe('v');
    process.env[TOKEN_KEY_ENV] = 'abcd';
    expect(() => new EncryptedTokenStore(inner)).toThrow(/REQFORGE_TOKEN_KEY\[0\]/);
    delete process.env[TOKEN_KEY_ENV];
    expect(() => new EncryptedTokenStore(inner)).toThrow(/REQFORGE_TOKEN_KEY/);
  });

  it('rotates: the first key encrypts, every key decrypts', async () => {
    const inner = new MemoryTokenStore();
    await new EncryptedTokenStore(inner, { keys: [keyA] }).set('old', 'old-value', 60_000);
    const rotated = new EncryptedTokenStore(inner, { keys: [keyB, keyA] });
    expect(await rotated.get('old')).toBe('old-value');
    await rotated.set('new', 'new-value', 60_000);
    expect(await new EncryptedTokenStore(inner, { keys: [keyB] }).get('new')).toBe('new-value');
    // Once the old key is dropped, values written with it are misses.
    expect(await new EncryptedTokenStore(inner, { keys: [keyB] }).get('old')).toBeUndefined();
  });

  it('treats plaintext, tampered, moved or foreign-key values as misses, with an event', async () => {
    const inner = new MemoryTokenStore();
    const events = new EventHub<StoreEvents>();
    const seen: StoreEvents['store:error'][] = [];
    events.on('store:error', (e) => seen.push(e));
    const store = new EncryptedTokenStore(inner, { keys: [keyA], events });
    await inner.set('plain', 'tok_plaintext', 60_000);
    expect(await store.get('plain')).toBeUndefined();

    await store.set('k', 'secret-value', 60_000);
    const raw = (await inner.get('k'))!;
    const flipped = raw.slice(0, -2) + (raw.at(-2) === 'A' ? 'B' : 'A') + raw.at(-1);
    await inner.set('tampered', flipped, 60_000);
    expect(await store.get('tampered')).toBeUndefined();
    await inner.set('moved', raw, 60_000); // same ciphertext under another key: AAD mismatch
    expect(await store.get('moved')).toBeUndefined();
    expect(await new EncryptedTokenStore(inner, { keys: [keyB] }).get('k')).toBeUndefined();
    expect(seen.length).toBe(3);
    expect(seen[0]).toEqual({ store: 'memory', operation: 'decrypt', error: 'ERR_DECRYPT', timedOut: false });
    expect(JSON.stringify(seen)).not.toContain('secret-value');
  });
});

// The whole contract holds through the wrapper too (on the file store: no service needed).
runStoreContract('encrypted(file)', async () => {
  const h = await BACKENDS.find((b) => b.name === 'file')!.create();
  return {
    ...h,
    store: new EncryptedTokenStore(h.store, { keys: [keyA] }),
    other: new EncryptedTokenStore(h.other, { keys: [keyA] }),
  };
});

const persistent = BACKENDS.filter((b) => b.persistent);
const up = new Map(
  await Promise.all(
    persistent.map(async (b) => [b.name, b.service ? await serviceUp(b.service) : true] as const),
  ),
);

describe('no token plaintext at rest', () => {
  for (const backend of persistent) {
    const check = () => {
      it(`${backend.name}: every stored value is ciphertext`, async () => {
        const h = await backend.create();
        try {
          const store = new EncryptedTokenStore(h.store, { keys: [keyB, keyA] });
          const secret = `tok_${randomBytes(12).toString('hex')}`;
          const keys = ['svc:client-1', 'svc:client-2 scopes=a b', '../escape'];
          for (const [i, k] of keys.entries()) {
            await store.set(
              k,
              JSON.stringify({ access_token: `${secret}-${i}`, refresh_token: secret }),
              60_000,
            );
          }
          const raw = await h.readRaw(keys);
          expect(raw.length).toBeGreaterThanOrEqual(keys.length);
          for (const value of raw) {
            expect(value).not.toContain(secret);
            expect(value).not.toContain('access_token');
            expect(value).toMatch(/rfe1\./);
          }
          const back = JSON.parse((await store.get(keys[1]!))!) as { access_token: string };
          expect(back.access_token).toBe(`${secret}-1`);
        } finally {
          await h.cleanup();
        }
      });
    };
    if (backend.service === undefined) check();
    else describeWithService(backend.service, up.get(backend.name) === true, backend.name, check);
  }
});
