// Store options go through the options layer (issue 10's one options layer, issue 11's stores).
import { describe, expect, it } from 'vitest';
import { isInvalidOptionError } from '../../src/core/errors.js';
import { createTokenStore } from '../../src/stores/connect.js';
import { FileTokenStore } from '../../src/stores/file.js';
import { MemoryTokenStore } from '../../src/stores/memory.js';
import { RedisTokenStore } from '../../src/stores/redis.js';
import { ResilientTokenStore } from '../../src/stores/resilient.js';
import { SqliteTokenStore } from '../../src/stores/sqlite.js';
import { FakeClock } from '../../src/testing/fake-clock.js';

async function refusal(fn: () => unknown): Promise<{ option: string; message: string }> {
  try {
    await fn();
  } catch (error) {
    if (isInvalidOptionError(error)) return { option: error.option, message: error.message };
    throw error;
  }
  throw new Error('expected an InvalidOptionError');
}

describe('token store options', () => {
  it('refuse unknown keys with a did-you-mean, before connecting', async () => {
    expect(
      await refusal(() => RedisTokenStore.connect({ url: 'redis://127.0.0.1:1', keyprefix: 'x' } as never)),
    ).toEqual({
      option: 'keyprefix',
      message: expect.stringContaining('did you mean "keyPrefix"'),
    });
    expect((await refusal(() => FileTokenStore.open({ path: '/tmp/x', clok: 1 } as never))).option).toBe(
      'clok',
    );
    expect((await refusal(() => new MemoryTokenStore({ clokc: new FakeClock() } as never))).option).toBe(
      'clokc',
    );
    expect(
      (await refusal(() => new ResilientTokenStore(new MemoryTokenStore(), { timeoutMS: 5 } as never)))
        .message,
    ).toContain('did you mean "timeoutMs"');
    expect(
      (await refusal(() => createTokenStore({ type: 'file', path: '/tmp/x', tabel: 't' } as never))).option,
    ).toBe('tabel');
  });

  it('name a wrong value without printing it', async () => {
    const { option, message } = await refusal(() =>
      createTokenStore({
        type: 'redis',
        url: 'redis://127.0.0.1:1',
        resilient: { timeoutMs: 'hunter2-secret' },
      } as never),
    );
    expect(option).toBe('resilient.timeoutMs');
    expect(message).not.toContain('hunter2');
  });

  it('take durations as milliseconds or strings', async () => {
    const clock = new FakeClock();
    const hanging = {
      name: 'hanging',
      get: () => new Promise<string | undefined>(() => undefined),
      set: async () => undefined,
      delete: async () => undefined,
      acquireLease: async () => undefined,
      close: async () => undefined,
    };
    const store = new ResilientTokenStore(hanging, { clock, timeoutMs: '2s' });
    let done = false;
    const pending = store.get('k').then(() => {
      done = true;
    });
    await clock.advance(1_999);
    expect(done).toBe(false);
    await clock.advance(1);
    await pending;
    expect(done).toBe(true);
    const sqlite = await SqliteTokenStore.open({ path: ':memory:', busyTimeoutMs: '1s' });
    await sqlite.close();
  });
});
