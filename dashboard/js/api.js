// The iofold HTTP API (API.md): config discovery, the stored key, JSON calls and errors.

const KEY_STORAGE = "iofold.apiKey";

let apiUrl = null;

/** An API failure carrying the API's error envelope (code, message, request id). */
export class ApiError extends Error {
  constructor(status, code, message, { details = [], requestId = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestId = requestId;
  }

  /** True for failures worth retrying: network, 429, 5xx. */
  get retryable() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }

  /** True when the route is not deployed: a 403/404 without our envelope (a gateway answer, which
   * also lacks CORS headers, so the browser reports it as a network failure: status 0). */
  get missingRoute() {
    return this.code === "NO_ROUTE" || this.status === 0;
  }
}

/** Read config.json (same origin) once; it names the API. */
export async function loadConfig() {
  if (apiUrl) return apiUrl;
  const response = await fetch("config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  const config = await response.json();
  apiUrl = String(config.api_url || "").replace(/\/+$/, "");
  if (!apiUrl) throw new Error("config.json has no api_url");
  return apiUrl;
}

export function getApiUrl() {
  return apiUrl;
}

export const session = {
  get key() {
    return localStorage.getItem(KEY_STORAGE);
  },
  set key(value) {
    if (value) localStorage.setItem(KEY_STORAGE, value);
    else localStorage.removeItem(KEY_STORAGE);
  },
};

export function buildUrl(path, query) {
  const url = new URL(apiUrl + path);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  return url;
}

/** Call the API; resolves to the JSON body (null for 204), rejects with ApiError. */
export async function request(method, path, { body, query, raw, contentType, signal, key } = {}) {
  const headers = {};
  const token = key ?? session.key;
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (raw !== undefined) {
    payload = raw;
    headers["Content-Type"] = contentType || "application/octet-stream";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(buildUrl(path, query), { method, headers, body: payload, signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "NETWORK", `Cannot reach the API (${apiUrl}${path}).`);
  }
  if (response.status === 204) return null;
  return answer(response.status, await response.text(), path);
}

/** The JSON body of an API answer with `status`, or throw its ApiError (fetch and XHR share this). */
export function answer(status, text, path) {
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (status >= 200 && status < 300) return data;
  const envelope = data && data.error;
  if (envelope && typeof envelope === "object") {
    const error = new ApiError(status, envelope.code || "HTTP", envelope.message || `HTTP ${status}`, {
      details: envelope.details || [],
      requestId: envelope.request_id || null,
    });
    if (status === 401) window.dispatchEvent(new CustomEvent("iofold:unauthenticated"));
    throw error;
  }
  const code = status === 403 || status === 404 ? "NO_ROUTE" : "HTTP";
  throw new ApiError(status, code, (data && data.message) || `HTTP ${status} from ${path}`);
}

export const api = {
  get: (path, query, options = {}) => request("GET", path, { ...options, query }),
  post: (path, body, options = {}) => request("POST", path, { ...options, body }),
  put: (path, body, options = {}) => request("PUT", path, { ...options, body }),
  patch: (path, body, options = {}) => request("PATCH", path, { ...options, body }),
  del: (path, options = {}) => request("DELETE", path, options),
};

/** Every page of a list endpoint, up to `max` items. */
export async function listAll(path, query = {}, max = 1000) {
  const items = [];
  let cursor = null;
  do {
    const page = await api.get(path, { ...query, limit: 200, cursor });
    items.push(...(page.items || []));
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Retry `call` on retryable failures with exponential backoff; rethrows the last error. */
export async function withRetries(call, { attempts = 5, baseMs = 400, onRetry } = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof ApiError) || !err.retryable || attempt >= attempts) throw err;
      onRetry?.(attempt, err);
      await sleep(baseMs * 2 ** (attempt - 1));
    }
  }
}

/** GET a file the API serves (CSV, Python) with the bearer key; resolves to its Blob. */
export async function fetchFile(path, query) {
  let response;
  try {
    response = await fetch(buildUrl(path, query), { headers: session.key ? { Authorization: `Bearer ${session.key}` } : {} });
  } catch {
    throw new ApiError(0, "NETWORK", `Cannot reach the API (${apiUrl}${path}).`);
  }
  if (response.ok) return response.blob();
  let envelope = null;
  try {
    envelope = (await response.json()).error;
  } catch {
    envelope = null;
  }
  if (response.status === 401) window.dispatchEvent(new CustomEvent("iofold:unauthenticated"));
  throw new ApiError(response.status, envelope?.code || "HTTP", envelope?.message || `HTTP ${response.status} from ${path}`,
    { requestId: envelope?.request_id || null });
}

/** Download an API file under `filename` through a Blob URL (the key never goes in a link). */
export async function downloadFile(path, query, filename) {
  const blob = await fetchFile(path, query);
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return blob;
}
