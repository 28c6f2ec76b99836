// Unit tests of the state reducer (the only writer of the pane's state) and of the pane's configuration.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULTS, mergeConfig } from "../../addin_api/static/taskpane/js/config.js";
import { INITIAL, createStore, reduce } from "../../addin_api/static/taskpane/js/state.js";

test("a user without the add-in privilege, or whose features say no tracking, cannot write", () => {
  const off = reduce(INITIAL, { type: "me", me: { canUseAddIn: false } });
  assert.deepEqual([off.canWrite, off.writeBlock], [false, "add_in_not_allowed"]);
  const readOnly = reduce(INITIAL, { type: "me", me: { canUseAddIn: true, features: { track: false } } });
  assert.deepEqual([readOnly.canWrite, readOnly.writeBlock], [false, "read_only"]);
  const full = reduce(INITIAL, { type: "me", me: { canUseAddIn: true, features: { track: true } } });
  assert.deepEqual([full.canWrite, full.writeBlock], [true, null]);
});

test("writes turned off close the lookup, the form and the untrack confirmation", () => {
  let state = reduce(INITIAL, { type: "lookup", changes: { open: true } });
  state = reduce(state, { type: "confirm-untrack", open: true });
  state = reduce(state, { type: "create-open", table: "contact", values: {} });
  state = reduce(state, { type: "writes-off", reason: "read_only" });
  assert.deepEqual([state.lookup.open, state.create, state.confirmUntrack, state.canWrite],
    [false, null, false, false]);
  assert.equal(reduce(state, { type: "me", me: { canUseAddIn: true } }).canWrite, false, "stays off");
});

test("tracking clears the chosen record and the stale lookup", () => {
  let state = reduce(INITIAL, { type: "choose", record: { table: "account", id: "1", name: "F" } });
  state = reduce(state, { type: "lookup", changes: { open: true, query: "Fab", hint: "3 results", groups: [1] } });
  state = reduce(state, { type: "tracked", view: { tracked: true } });
  assert.deepEqual([state.chosen, state.lookup.open, state.lookup.query, state.lookup.hint, state.lookup.groups],
    [null, false, "", null, []]);
});

test("people cards are set per address, case-insensitively", () => {
  let state = reduce(INITIAL, { type: "item-read", kind: "email", compose: false, key: "k", basics: {},
    people: [{ address: "Dana@x.example", role: "from" }, { address: "r@x.example", role: "to" }] });
  assert.equal(state.people[0].loading, true);
  state = reduce(state, { type: "person-card", address: "dana@X.example", card: { matches: [] } });
  assert.deepEqual(state.people.map((p) => p.loading), [false, true]);
});

test("the state is frozen, unknown actions are refused, listeners hear every change", () => {
  assert.throws(() => { "use strict"; INITIAL.busy = true; }, TypeError);
  assert.throws(() => reduce(INITIAL, { type: "nope" }), /unknown action/);
  const store = createStore();
  const heard = [];
  store.subscribe((now, before) => heard.push([before.busy, now.busy]));
  store.dispatch({ type: "busy", busy: true });
  assert.deepEqual(heard, [[false, true]]);
});

test("config.json overrides limits and texts; wrong types keep the defaults", () => {
  const config = mergeConfig({ maxAttachmentBytes: 1024, officeLoadTimeoutMs: "soon", clientId: "abc",
    texts: { readOnly: "Read only here.", noItem: 3 } });
  assert.equal(config.maxAttachmentBytes, 1024);
  assert.equal(config.officeLoadTimeoutMs, DEFAULTS.officeLoadTimeoutMs);
  assert.equal(config.clientId, "abc");
  assert.equal(config.texts.readOnly, "Read only here.");
  assert.equal(config.texts.noItem, DEFAULTS.texts.noItem);
  assert.equal(mergeConfig(null).maxAttachmentBytes, 5 * 1024 * 1024);
});
