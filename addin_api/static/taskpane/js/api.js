/* The service's /api/v1 as the pane calls it: bearer tokens, problem+json errors, one answer to a claims
   challenge, one token refresh, and one wait-and-retry when Dynamics throttles. */

export class ApiError extends Error {
  constructor(code, status, detail, extra) {
    super(code);
    this.code = code;
    this.status = status;
    this.detail = detail;
    this.retryAfter = (extra && extra.retryAfter) || null;
    this.claims = (extra && extra.claims) || null;
    this.errors = (extra && extra.errors) || null;
    this.limit = (extra && extra.limit) || null;
  }
}

async function send(fetchImpl, method, path, body, token) {
  const headers = { Accept: "application/json", Authorization: "Bearer " + token };
  if (body !== undefined) { headers["Content-Type"] = "application/json"; }
  let response;
  try {
    response = await fetchImpl(path, {
      method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", cache: "no-store"
    });
  } catch (networkError) {
    throw new ApiError("network", 0, "offline");
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try { data = JSON.parse(text); } catch (notJson) { data = null; }
  }
  if (response.ok) { return data; }
  const retryAfter = parseInt(response.headers.get("Retry-After") || "", 10);
  const code = (data && data.code) || (response.status >= 500 ? "server_error" : "http_" + response.status);
  throw new ApiError(code, response.status, data && data.detail, {
    retryAfter: isNaN(retryAfter) ? null : retryAfter, claims: data && data.claims, errors: data && data.errors,
    limit: data && data.limit
  });
}

/**
 * `auth` gives tokens; `hooks.steppedUp()` is told when a claims challenge was answered; `hooks.waitOut(seconds)`
 * shows the throttling wait and resolves when it is over.
 */
export function createApi(auth, hooks, fetchImpl) {
  const doFetch = fetchImpl || window.fetch.bind(window);
  let steppedUp = false;

  async function call(method, path, body, options) {
    options = options || {};
    const token = await auth.getToken({ forceRefresh: Boolean(options.refreshed) });
    try {
      return await send(doFetch, method, path, body, token);
    } catch (error) {
      if (!(error instanceof ApiError)) { throw error; }
      if (error.code === "claims_challenge" && error.claims && !steppedUp) {
        // Conditional access wants more (e.g. MFA): ask once (MSAL or Office) for a token with the claims.
        // https://learn.microsoft.com/office/dev/add-ins/develop/sso-in-office-add-ins
        steppedUp = true;
        const result = await send(doFetch, method, path, body, await auth.getToken({ claims: error.claims }));
        hooks.steppedUp();
        return result;
      }
      if ((error.code === "token_expired" || error.code === "invalid_token") && !options.refreshed) {
        auth.forget();
        return call(method, path, body, Object.assign({}, options, { refreshed: true }));
      }
      if (error.code === "throttled" && options.throttleRetry) {
        await hooks.waitOut(error.retryAfter || 5);
        try {
          return await send(doFetch, method, path, body, auth.current());
        } catch (again) {
          if (again instanceof ApiError && again.code === "throttled") { again.detail = "still_busy"; }
          throw again;
        }
      }
      throw error;
    }
  }

  return {
    get: function (path) { return call("GET", path); },
    write: function (method, path, body) { return call(method, path, body, { throttleRetry: true }); },
    call: call
  };
}
