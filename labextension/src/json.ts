/**
 * The server's JSON, read without losing digits: Python's ints have no size limit, and a
 * JavaScript number rounds one past 2**53 (a parameter's default 12345678901234567890 would be
 * shown as 12345678901234567000). Such an int is kept as its own text, as `JSON.rawJSON` holds
 * it: written back by `JSON.stringify` digit for digit. A browser without `JSON.rawJSON` reads
 * numbers as before. Pure, so it is unit-tested in Node.
 */

type RawJson = { readonly rawJSON: string };

interface ExactJson {
  rawJSON?: (text: string) => RawJson;
  isRawJSON?: (value: unknown) => boolean;
}

const exact = JSON as unknown as ExactJson;

/** An integer literal JavaScript cannot hold exactly, as the browser's JSON.parse saw it. */
function unsafeInteger(value: unknown, context?: { source?: string }): string | null {
  if (typeof value !== "number" || Number.isSafeInteger(value)) return null;
  const source = context?.source;
  return source !== undefined && /^-?\d+$/.test(source) ? source : null;
}

/** `JSON.parse`, with an int too large for a number kept as its exact text (where supported). */
export function parseJson(text: string): unknown {
  const raw = exact.rawJSON;
  if (!raw) return JSON.parse(text);
  return JSON.parse(text, (_key: string, value: unknown, context?: { source?: string }) => {
    const digits = unsafeInteger(value, context);
    return digits === null ? value : raw(digits);
  });
}

/** Whether `value` is an int `parseJson` kept as its text. */
export function isRawJson(value: unknown): value is RawJson {
  return Boolean(exact.isRawJSON?.(value));
}
