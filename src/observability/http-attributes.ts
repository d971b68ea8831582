/** HTTP attributes shared by spans and metric labels (OpenTelemetry HTTP semantic conventions). */
/** The HTTP methods the OpenTelemetry conventions know; any other is reported as `_OTHER`. */
export const KNOWN_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'TRACE',
  'CONNECT',
]);

/** The bounded method label: known methods as they are, anything else `_OTHER` (the OTel convention). */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : '_OTHER';
}

/** `host` and port of an origin such as `https://api.example.com` (port 443) or `http://[::1]:8080`. */
export function serverOf(origin: string): { address: string; port: number } {
  const secure = origin.startsWith('https:');
  const rest = origin.slice(origin.indexOf('//') + 2);
  const close = rest.startsWith('[') ? rest.indexOf(']') : -1;
  const colon = rest.indexOf(':', close + 1);
  if (colon === -1) return { address: rest, port: secure ? 443 : 80 };
  return { address: rest.slice(0, colon), port: Number(rest.slice(colon + 1)) };
}
