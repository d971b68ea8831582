/**
 * Path safety: which request targets the gateway forwards at all, and which paths an upstream's `paths:`
 * allow-list exposes. Every rule about the shape of a path lives here.
 */

const PLAIN_PATH = /^\/(?!\/)[\w\-.~!$&'()*+,;=:@/]*$/;
// A `.` or `..` segment, also with matrix parameters (`..;x`): the fast path sends these to the full check.
const DOT_SEGMENT = /\/\.\.?(?:[/;]|$)/;
const ENCODED_RUN = /(?:%[0-9a-f]{2})+/gi;
/** Percent-decoding rounds tried: triple encoding and one more. A path still encoded after them is refused. */
const DECODE_ROUNDS = 4;

/** C0 controls and DEL; with `c1`, also U+0080–U+009F (NEL among them), for decoded text only. */
function hasControl(text: string, c1 = false): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || (c1 && c >= 0x80 && c < 0xa0)) return true;
  }
  return false;
}

/** Decodes every run of valid percent-encoded UTF-8 and leaves anything else (such as a lone `%`) as it is. */
function decodeLeniently(text: string): string {
  return text.replace(ENCODED_RUN, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/**
 * What one path segment may mean to some upstream server: decoded until stable (servers and frameworks decode
 * once, twice or more), then Unicode-normalised (NFKC: fullwidth dots and one-dot leaders become `.`).
 */
function readings(segment: string): string[] | undefined {
  const out = [segment];
  let current = segment;
  for (let round = 0; round < DECODE_ROUNDS && current.includes('%'); round++) {
    const next = decodeLeniently(current);
    if (next === current) break;
    out.push(next);
    current = next;
  }
  if (/%[0-9a-f]{2}/i.test(current) && out.length > DECODE_ROUNDS) return undefined;
  const normalised = current.normalize('NFKC');
  if (normalised !== current) out.push(normalised);
  return out;
}

/**
 * Checks a request path: returns an error message, or undefined when it is safe to forward. Refused: targets
 * that are not a path, `//`, encoded slashes and backslashes, control characters (raw or encoded), and any
 * segment that a mainstream server could resolve as `.` or `..`: after repeated percent-decoding, with
 * matrix parameters after `;` stripped (Tomcat, Spring, Jetty), after Unicode normalisation.
 */
export function unsafePathReason(path: string): string | undefined {
  // Most paths are plain: only unreserved and sub-delim characters, no dot segment, no leading //.
  if (PLAIN_PATH.test(path) && !DOT_SEGMENT.test(path)) return undefined;
  if (!path.startsWith('/'))
    return 'the request target must be a path (absolute-form and authority-form are refused)';
  if (path.startsWith('//')) return 'the path must not start with //';
  if (hasControl(path)) return 'control characters are refused in paths';
  for (const segment of path.split('/')) {
    if (segment.includes('%')) {
      try {
        decodeURIComponent(segment);
      } catch {
        return 'the path is not valid percent-encoding';
      }
    }
    const meanings = readings(segment);
    if (!meanings) return 'the path is percent-encoded too many times';
    for (const meaning of meanings) {
      if (meaning.includes('\\') || (meaning !== segment && meaning.includes('/')))
        return 'encoded slashes and backslashes are refused in paths';
      if (meaning !== segment && hasControl(meaning, true)) return 'control characters are refused in paths';
      const semicolon = meaning.indexOf(';');
      const name = (semicolon === -1 ? meaning : meaning.slice(0, semicolon)).trim();
      if (name === '.' || name === '..') return 'dot segments are refused in paths';
    }
  }
  return undefined;
}

/** Compiles an allowed-path pattern: `*` matches within one segment, `**` across segments. */
export function compilePathPattern(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*' && pattern[i + 1] === '*') {
      out += '.*';
      i++;
    } else if (c === '*') out += '[^/]*';
    else out += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}
