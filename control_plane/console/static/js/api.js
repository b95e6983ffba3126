// The control plane's REST API: bearer key, JSON bodies, RFC 9457 problem details as ApiError.

export const API_PREFIX = "/v1";

/** An error answer of the API, with its problem details. */
export class ApiError extends Error {
  constructor(status, problem, method, path) {
    super((problem && (problem.detail || problem.title)) || `${method} ${path} answered ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.method = method;
    this.path = path;
  }

  /** The API has no such route (or not for this method): a feature the server does not offer yet. */
  get unavailable() {
    if (this.status === 405) return true;
    return this.status === 404 && (this.problem.type || "about:blank") === "about:blank"
      && String(this.problem.detail || "").startsWith("no route");
  }

  /** The PQL position of a pql-error problem, or null. */
  get position() {
    const p = this.problem;
    if (!p || p.line == null || p.column == null) return null;
    return { line: p.line, column: p.column, endLine: p.end_line, endColumn: p.end_column };
  }
}

/** A network failure or an answer that is not JSON where JSON was expected. */
export class NetworkError extends Error {}

function query(params) {
  if (!params) return "";
  const pairs = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return pairs.length ? "?" + new URLSearchParams(pairs).toString() : "";
}

/**
 * A client of the API.
 * @param {() => string|null} getKey the API key to send.
 * @param {(error: ApiError) => void} onUnauthorized called on every 401.
 */
export function createApi(getKey, onUnauthorized) {
  async function request(method, path, { body, params, signal, raw, key: keyOverride } = {}) {
    const headers = { Accept: "application/json, application/problem+json" };
    const key = keyOverride || getKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const url = (path.startsWith("/") ? path : `${API_PREFIX}/${path}`) + query(params);
    let response;
    try {
      response = await fetch(url, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new NetworkError(`the API did not answer ${method} ${url}: ${error.message}`);
    }
    if (!response.ok) {
      let problem = null;
      try { problem = await response.json(); } catch { problem = null; }
      const error = new ApiError(response.status, problem, method, url);
      if (response.status === 401 && onUnauthorized && !keyOverride) onUnauthorized(error);
      throw error;
    }
    if (raw) return response;
    if (response.status === 204) return null;
    const text = await response.text();
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch {
      throw new NetworkError(`${method} ${url} did not answer JSON`);
    }
  }

  return {
    request,
    get: (path, params, signal) => request("GET", path, { params, signal }),
    post: (path, body, signal) => request("POST", path, { body: body === undefined ? {} : body, signal }),
    patch: (path, body, signal) => request("PATCH", path, { body, signal }),
    del: (path, signal) => request("DELETE", path, { signal }),
    raw: (path, params, signal) => request("GET", path, { params, signal, raw: true }),
    /** Every item of a paginated list (pages of 200). */
    async all(path, params, signal) {
      const items = [];
      for (let offset = 0; ; offset += 200) {
        const page = await request("GET", path, { params: { ...(params || {}), limit: 200, offset }, signal });
        items.push(...page.items);
        if (items.length >= page.total || page.items.length === 0) return items;
      }
    },
  };
}

/** A short, human sentence for any error thrown by the client. */
export function describeError(error) {
  if (error instanceof ApiError) {
    const p = error.problem;
    let text = p.detail || p.title || error.message;
    if (Array.isArray(p.errors) && p.errors.length > 1 && !p.line) {
      text += " — " + p.errors.slice(0, 4).map((e) => e.message).join("; ");
    }
    return text;
  }
  return error && error.message ? error.message : String(error);
}
