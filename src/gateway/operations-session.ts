/**
 * Login sessions of the status page: a browser posts an API key once (the header a navigation cannot send) and
 * gets an opaque session cookie, `HttpOnly; SameSite=Strict; Path=/status` (so upstream requests through the
 * gateway never carry it), `Secure` behind TLS. The session lives here, in memory, with an idle and an absolute
 * expiry and a CSRF token that every admin POST must echo.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { LRUCache } from 'lru-cache';

/** The cookie's name. */
export const SESSION_COOKIE = 'reqforge_ops';
/** The path the cookie is scoped to: the status page, its JSON, login, logout and actions. */
export const SESSION_PATH = '/status';

/** One logged-in browser. */
export interface OperationsSession {
  /** The API key's name it logged in with (shown on the page, never the key). */
  readonly caller: string;
  /** The token admin POSTs must carry (form field `csrf` or header `x-csrf-token`). */
  readonly csrf: string;
  readonly createdAt: number;
  lastSeen: number;
}

/** Settings of {@link OperationsSessions} (`status.session` in the configuration). */
export interface SessionSettings {
  /** Ms without a request after which a session ends. */
  readonly idle: number;
  /** Ms after login after which a session ends. */
  readonly maxAge: number;
  /** Sessions kept at most. */
  readonly max: number;
  /** Whether the cookie says `Secure`. */
  readonly secure: boolean;
}

/** The status page's sessions, in this process. */
export class OperationsSessions {
  readonly #settings: SessionSettings;
  readonly #now: () => number;
  readonly #sessions: LRUCache<string, OperationsSession>;

  constructor(settings: SessionSettings, now: () => number = Date.now) {
    this.#settings = settings;
    this.#now = now;
    this.#sessions = new LRUCache({ max: settings.max });
  }

  /** Starts a session for `caller`; returns it with its `Set-Cookie` value. */
  create(caller: string): { readonly session: OperationsSession; readonly cookie: string } {
    const id = randomBytes(32).toString('base64url');
    const now = this.#now();
    const session: OperationsSession = {
      caller,
      csrf: randomBytes(32).toString('base64url'),
      createdAt: now,
      lastSeen: now,
    };
    this.#sessions.set(id, session);
    const maxAge = Math.floor(this.#settings.maxAge / 1000);
    return { session, cookie: this.#cookie(id, maxAge) };
  }

  /** The live session the request's cookie names (its idle time starts again), or undefined. */
  find(req: IncomingMessage): OperationsSession | undefined {
    const id = sessionId(req.headers.cookie);
    if (id === undefined) return undefined;
    const session = this.#sessions.get(id);
    if (!session) return undefined;
    const now = this.#now();
    const { idle, maxAge } = this.#settings;
    if (now - session.lastSeen >= idle || now - session.createdAt >= maxAge) {
      this.#sessions.delete(id);
      return undefined;
    }
    session.lastSeen = now;
    return session;
  }

  /** Ends the request's session, if any; returns the `Set-Cookie` value that clears the cookie. */
  end(req: IncomingMessage): string {
    const id = sessionId(req.headers.cookie);
    if (id !== undefined) this.#sessions.delete(id);
    return this.#cookie('', 0);
  }

  /** Sessions alive or not yet swept. */
  get size(): number {
    return this.#sessions.size;
  }

  #cookie(value: string, maxAge: number): string {
    const secure = this.#settings.secure ? '; Secure' : '';
    return `${SESSION_COOKIE}=${value}; Path=${SESSION_PATH}; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure}`;
  }
}

/** Whether `given` is the session's CSRF token (in constant time). */
export function csrfMatches(session: OperationsSession, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The session id in a `Cookie` header, if there is one. */
function sessionId(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === SESSION_COOKIE) {
      const value = part.slice(eq + 1).trim();
      return value === '' ? undefined : value;
    }
  }
  return undefined;
}
