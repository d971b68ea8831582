/**
 * The one place core and auth reach tracing without importing it: the tracing adapter
 * (`observability/tracing.ts`) installs a {@link SpanHook} when a client enables tracing; until then
 * {@link inSpan} just runs its function. Keeps the dependency arrow pointing inward (auth → core ← tracing).
 */

/** Attribute values a span accepts. */
export type SpanAttributeValue = string | number | boolean;

/** Runs work inside a span; installed by the tracing adapter. */
export interface SpanHook {
  /**
   * Runs `fn` inside a span named `name` with `attributes`, made the active span so that work `fn` starts
   * (an HTTP call to a token endpoint) nests under it. `background` work (a refresh nobody waits for) starts
   * a new trace linked to the active span instead of becoming its child.
   */
  run<T>(
    name: string,
    attributes: Readonly<Record<string, SpanAttributeValue>>,
    fn: () => Promise<T>,
    background: boolean,
  ): Promise<T>;
}

let hook: SpanHook | undefined;

/** @internal Installs (or, with `undefined`, removes) the span hook. */
export function setSpanHook(next: SpanHook | undefined): void {
  hook = next;
}

/** Runs `fn` in a span when tracing is on, else just runs it. */
export function inSpan<T>(
  name: string,
  attributes: Readonly<Record<string, SpanAttributeValue>>,
  fn: () => Promise<T>,
  background = false,
): Promise<T> {
  return hook === undefined ? fn() : hook.run(name, attributes, fn, background);
}
