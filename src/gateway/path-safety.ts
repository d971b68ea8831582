/**
 * Path safety: which request targets the gateway forwards at all, and which paths an upstream's `paths:`
 * allow-list exposes. Every rule about the shape of a path lives here.
 */

const PLAIN_PATH = /^\/(?!\/)[\w\-.~!$&'()*+,;=:@/]*$/;
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Checks a request path: returns an error message, or undefined when it is safe to forward. */
export function unsafePathReason(path: string): string | undefined {
  // Most paths are plain: only unreserved and sub-delim characters, no dot segment, no leading //.
  if (PLAIN_PATH.test(path) && !DOT_SEGMENT.test(path)) return undefined;
  if (!path.startsWith('/'))
    return 'the request target must be a path (absolute-form and authority-form are refused)';
  if (path.startsWith('//')) return 'the path must not start with //';
  if (/%2f|%5c|\\/i.test(path)) return 'encoded slashes and backslashes are refused in paths';
  if (/%00/i.test(path) || hasControl(path)) return 'control characters are refused in paths';
  for (const segment of path.split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return 'the path is not valid percent-encoding';
    }
    if (decoded === '.' || decoded === '..' || /%2e/i.test(decoded))
      return 'dot segments are refused in paths';
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
