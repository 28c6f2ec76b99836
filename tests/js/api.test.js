// Unit tests of the API client with a hand-written fetch and token source at its ports.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiError, createApi } from "../../addin_api/static/taskpane/js/api.js";

function answer(status, body, headers) {
  return {
    ok: status >= 200 && status < 300, status: status,
    headers: { get: (name) => (headers || {})[name] ?? null },
    text: async () => (body === undefined ? "" : JSON.stringify(body))
  };
}

function fakes(answers) {
  const sent = [];
  const asked = [];
  let token = null;
  const auth = {
    getToken: async (options) => { asked.push(options); token = "t" + asked.length; return token; },
    forget: () => { token = null; },
    current: () => token
  };
  const fetchImpl = async (path, init) => { sent.push([init.method, path, init.headers.Authorization]); return answers.shift(); };
  const events = [];
  const hooks = { steppedUp: () => events.push("stepped-up"), waitOut: async (s) => events.push("wait " + s) };
  return { api: createApi(auth, hooks, fetchImpl), sent, asked, events };
}

test("a claims challenge is answered once with a token carrying the claims", async () => {
  const f = fakes([answer(401, { code: "claims_challenge", claims: "{\"x\":1}" }), answer(200, { ok: 1 })]);
  assert.deepEqual(await f.api.get("/api/v1/me"), { ok: 1 });
  assert.deepEqual(f.asked[1], { claims: "{\"x\":1}" });
  assert.deepEqual(f.sent.map((s) => s[2]), ["Bearer t1", "Bearer t2"]);
  assert.deepEqual(f.events, ["stepped-up"]);
});

test("an expired token is refreshed once, then the error stands", async () => {
  const f = fakes([answer(401, { code: "token_expired" }), answer(401, { code: "token_expired" })]);
  await assert.rejects(f.api.get("/api/v1/me"), (e) => e instanceof ApiError && e.code === "token_expired");
  assert.deepEqual(f.asked.map((o) => o.forceRefresh), [false, true]);
});

test("a throttled write waits out Retry-After once; reads are not retried", async () => {
  const w = fakes([answer(429, { code: "throttled" }, { "Retry-After": "4" }), answer(201, { id: 1 })]);
  assert.deepEqual(await w.api.write("POST", "/api/v1/emails", {}), { id: 1 });
  assert.deepEqual(w.events, ["wait 4"]);
  const twice = fakes([answer(429, { code: "throttled" }), answer(429, { code: "throttled" })]);
  await assert.rejects(twice.api.write("POST", "/x", {}), (e) => e.detail === "still_busy");
  const read = fakes([answer(429, { code: "throttled" }, { "Retry-After": "9" })]);
  await assert.rejects(read.api.get("/x"), (e) => e.code === "throttled" && e.retryAfter === 9);
});

test("no network and non-JSON server errors get stable codes", async () => {
  const offline = createApi({ getToken: async () => "t", forget() {}, current: () => "t" }, {},
    async () => { throw new TypeError("Failed to fetch"); });
  await assert.rejects(offline.get("/x"), (e) => e.code === "network");
  const f = fakes([{ ok: false, status: 502, headers: { get: () => null }, text: async () => "<html>" }]);
  await assert.rejects(f.api.get("/x"), (e) => e.code === "server_error" && e.status === 502);
});
