/** Plain-HTTP helpers for tests of the gateway's operations pages: requests, form posts and a login. */
import { request } from 'undici';
import { expect } from 'vitest';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** An answer with its body read. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test JSON
  json(): any;
}

/** One request; the body is read whatever the status. */
export async function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  const res = await request(url, {
    method: (options.method ?? 'GET') as 'GET',
    headers: options.headers ?? {},
    ...(options.body !== undefined && { body: options.body }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

/** A form POST, as the status page's forms send it. */
export const post = (url: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
  send(url, { method: 'POST', headers: { ...FORM, ...headers }, body: new URLSearchParams(form).toString() });

/** Logs in with `key` and returns the cookie pair to send back, the page's CSRF token and the raw Set-Cookie. */
export async function login(
  url: string,
  key: string,
  headers: Record<string, string> = {},
): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const res = await post(`${url}/status/login`, { key }, headers);
  expect(res.status).toBe(303);
  const setCookie = String(res.headers['set-cookie']);
  const cookie = setCookie.split(';')[0] as string;
  const page = await send(`${url}/status`, { headers: { cookie } });
  expect(page.status).toBe(200);
  const csrf = /data-csrf="([^"]+)"/.exec(page.text)?.[1];
  expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
  return { cookie, csrf: csrf as string, setCookie };
}
