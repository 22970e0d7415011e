/** The public API, from the dashboard: the key kept in sessionStorage goes with every request. */
const KEY = "nexus.key";

export const getKey = () => sessionStorage.getItem(KEY);
export const setKey = (key: string) => sessionStorage.setItem(KEY, key);
export const clearKey = () => sessionStorage.removeItem(KEY);

export interface FieldIssue {
  path: string;
  message: string;
}

/** An error the API answered with (its code and message), or a network failure, in words. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: FieldIssue[] = [],
  ) {
    super(message);
  }

  /** Everything to show: the message and each field's problem. */
  get text(): string {
    const fields = this.issues.map((issue) => `${issue.path}: ${issue.message}`);
    return [`${this.message} (${this.code}${this.status ? `, HTTP ${this.status}` : ""})`, ...fields].join("\n");
  }
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  const key = getKey();
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  } catch (error) {
    throw new ApiError(0, "network_error", `Nexus could not be reached: ${(error as Error).message}`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
    const issues = Array.isArray(error?.details)
      ? (error.details as FieldIssue[]).filter((d) => typeof d?.path === "string")
      : [];
    throw new ApiError(
      response.status,
      error?.code ?? "http_error",
      error?.message ?? `the request failed with HTTP ${response.status}`,
      issues,
    );
  }
  return parsed as T;
}

export const get = <T>(path: string) => api<T>("GET", path);
export const post = <T>(path: string, body?: unknown) => api<T>("POST", path, body ?? {});

/** Query string from the defined values. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return entries.length === 0 ? "" : `?${new URLSearchParams(entries.map(([k, v]) => [k, String(v)])).toString()}`;
}

export interface Me {
  keyId: string;
  name: string;
  role: "admin" | "operator" | "viewer" | "agent";
  agentId: string | null;
  can: string[];
}
