/** Calls to the server extension (`/kfp-jupyter/api/`), with the server's token and XSRF cookie. */

import { URLExt } from "@jupyterlab/coreutils";
import { ServerConnection } from "@jupyterlab/services";

import { parseJson } from "./json";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: {
      message?: string;
      problems?: unknown[];
      kind?: string;
      /** each refused value's message, by the name of the value (e.g. a parameter) */
      fields?: Record<string, string>;
    },
  ) {
    super(body.message ?? `HTTP ${status}`);
  }
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, "kfp-jupyter/api", path);
  const response = await ServerConnection.makeRequest(url, init, settings);
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? parseJson(text) : null; // a large int keeps its digits
  } catch {
    data = { message: text };
  }
  if (!response.ok) {
    throw new ApiError(response.status, (data ?? {}) as { message?: string });
  }
  return data as T;
}

export const post = <T>(path: string, body: unknown): Promise<T> =>
  api<T>(path, { method: "POST", body: JSON.stringify(body) });
