import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createClient, HttpRequest, REDACTED, Redactor, Secret } from '../src/index.js';

describe('toCurl', () => {
  const api = createClient({
    baseUrl: 'https://api.example.com/v1',
    headers: {
      authorization: 'Bearer tok-abc',
      'x-api-key': 'key-123',
      'x-tenant-secret': 'ts-1',
      cookie: 'sid=s1',
    },
    redact: { headers: ['x-custom-sig'], params: ['session_ref'] },
  });

  it('prints a runnable command with secret headers, query values and body fields redacted', () => {
    const req = api.buildRequest('POST', '/login', {
      query: { access_token: 'q-tok', page: 2, session_ref: 'sr-1' },
      headers: { 'x-custom-sig': 'sig-9', 'x-visible': 'ok' },
      json: { user: 'ann', password: 'pw-1', nested: { client_secret: 'cs-1' } },
    });
    const curl = req.toCurl();
    expect(curl).toContain(
      "curl -X POST 'https://api.example.com/v1/login?access_token=[REDACTED]&page=2&session_ref=[REDACTED]'",
    );
    expect(curl).toContain("-H 'x-visible: ok'");
    expect(curl).toContain(`-H 'authorization: ${REDACTED}'`);
    expect(curl).toContain('"user":"ann"');
    for (const secret of ['tok-abc', 'key-123', 'ts-1', 'sid=s1', 'q-tok', 'sr-1', 'sig-9', 'pw-1', 'cs-1']) {
      expect(curl).not.toContain(secret);
    }
  });

  it('redacts form bodies and quotes single quotes for the shell', () => {
    const req = api.buildRequest('POST', "/it's", {
      form: { grant_type: 'password', username: "o'neil", password: 'pw-2' },
    });
    const curl = req.toCurl();
    expect(curl).toContain('grant_type=password&username=o%27neil&password=[REDACTED]');
    expect(curl).toContain("'https://api.example.com/v1/it'\\''s'");
    expect(curl).not.toContain('pw-2');
  });

  it('describes binary and streamed bodies without printing them', () => {
    expect(api.buildRequest('PUT', '/b', { body: new Uint8Array(3) }).toCurl()).toContain(
      '3 bytes not shown',
    );
    expect(api.buildRequest('PUT', '/b', { body: () => new Uint8Array(1) }).toCurl()).toContain(
      'streamed body not shown',
    );
    expect(api.buildRequest('HEAD', '/b').toCurl()).toMatch(/^curl --head /);
  });

  it('keeps requests immutable and their printed forms redacted', () => {
    const req = api.buildRequest('GET', '/x');
    const next = req.withHeaders({ authorization: new Secret('Bearer other-tok'), 'x-more': '1' });
    expect(req.header('x-more')).toBeUndefined();
    expect(next.header('authorization')).toBe('Bearer other-tok');
    expect(next.withoutHeaders('X-More').header('x-more')).toBeUndefined();
    const shown = `${inspect(next)} ${JSON.stringify(next)}`;
    expect(shown).not.toContain('other-tok');
    expect(shown).toContain('x-more');
  });
});

describe('Redactor and Secret', () => {
  it('redacts URL credentials and pattern-matched header names', () => {
    const r = new Redactor();
    expect(r.url('https://u:p@h/x?token=1&a=2#f')).toBe('https://u:[REDACTED]@h/x?token=[REDACTED]&a=2#f');
    expect(r.isSecretHeader('X-Goog-Api-Key')).toBe(true);
    expect(r.isSecretHeader('X-Session-Id')).toBe(true);
    expect(r.isSecretHeader('content-type')).toBe(false);
    expect(r.text('{"access_token": "abc", "n": 1, "password":12}')).toBe(
      '{"access_token": "[REDACTED]", "n": 1, "password":"[REDACTED]"}',
    );
    expect(Redactor.values('a s3cret b', ['s3cret'])).toBe('a [REDACTED] b');
  });

  it('finds the credentials a request sent and scrubs them from echoed text, at any depth', () => {
    const r = new Redactor({ params: ['pin'] });
    const sent = r.sentValues(
      { authorization: 'Bearer tok-echo-1', 'x-api-key': 'key-echo-2', accept: 'application/json' },
      '/x?pin=12 34&page=2&access_token=qt-echo-3#f',
    );
    expect(new Set(sent)).toEqual(
      new Set(['Bearer tok-echo-1', 'tok-echo-1', 'key-echo-2', '12 34', '12%2034', 'qt-echo-3']),
    );
    // Longest first, so a whole `Bearer x` is replaced before its `x`.
    expect(sent[0]).toBe('Bearer tok-echo-1');
    expect(r.echo('saw Bearer tok-echo-1, key-echo-2 and {"password":"p"} for 12%2034', sent)).toBe(
      'saw [REDACTED], [REDACTED] and {"password":"[REDACTED]"} for [REDACTED]',
    );
    expect(r.value({ a: [{ client_secret: 'x', b: 'k=key-echo-2' }], pin: 1, n: null }, sent)).toEqual({
      a: [{ client_secret: REDACTED, b: `k=${REDACTED}` }],
      pin: REDACTED,
      n: null,
    });
  });

  it('never prints a Secret', () => {
    const s = new Secret('hunter2!');
    expect(`${s}`).toBe(REDACTED);
    expect(JSON.stringify({ s })).toBe(`{"s":"${REDACTED}"}`);
    expect(inspect({ s })).not.toContain('hunter2');
    expect(s.reveal()).toBe('hunter2!');
    expect(s.fingerprint()).toMatch(/^[0-9a-f]{12}$/);
    expect(new HttpRequest({ method: 'GET', origin: 'http://h', path: '/' }).url).toBe('http://h/');
  });
});
