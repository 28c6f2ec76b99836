/* The task pane's controller: starts the pane for the open Outlook item and carries out what the user asks
   (track, set regarding, untrack, add a record), through the API client and the state store. */
import { ApiError, createApi } from "./api.js";
import { createAuth } from "./auth.js";
import { loadConfig } from "./config.js";
import * as office from "./office.js";
import { participants, prefill } from "./people.js";
import { createQuickCreate } from "./quickcreate.js";
import { createRules } from "./rules.js";
import { createSettings } from "./settings.js";
import * as recent from "./recent.js";
import { $, countdown, render } from "./render.js";
import { createLookup } from "./search.js";
import { INITIAL, createStore } from "./state.js";
import { describe, isDeliveryFailure, isTransient, sentence, splitName, tableLabel } from "./text.js";

const store = createStore(INITIAL);
let config = null;
let api = null;
let auth = null;
let item = null;
let lookup = null;

function say(kind, text, extra) {
  store.dispatch({ type: "say", message: Object.assign({ kind: kind, text: text }, extra || {}) });
}

function clearMessage() { store.dispatch({ type: "clear-message" }); }

function busy(value) { store.dispatch({ type: "busy", busy: value }); }

function kindPath() { return store.get().kind === "email" ? "/api/v1/emails" : "/api/v1/appointments"; }

function recentRecords() {
  const me = store.get().me;
  return recent.load(window.localStorage, me && me.userId, config.recentLimit);
}

function rememberRecord(record) {
  const me = store.get().me;
  const list = recent.remember(recentRecords(), record, config.recentLimit);
  recent.save(window.localStorage, me && me.userId, list);
}

/** The admin-consent page for this add-in in the user's tenant.
    https://learn.microsoft.com/en-us/entra/identity/enterprise-apps/grant-admin-consent */
function adminConsentUrl() {
  let tenant = "organizations";
  try {
    const payload = JSON.parse(atob(auth.current().split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    tenant = payload.tid || tenant;
  } catch (noToken) { /* the tenant-neutral form still works for an admin */ }
  return "https://login.microsoftonline.com/" + encodeURIComponent(tenant) + "/adminconsent?client_id=" +
    encodeURIComponent(config.clientId || "");
}

function fail(error, retry) {
  if (!(error instanceof ApiError) && !(error && error.code === "sso_failed")) {
    console.error(error);
    say("error", "Something went wrong reading this item. Close the pane and try again.");
    return;
  }
  if (error.code === "add_in_not_allowed") {
    store.dispatch({ type: "writes-off", reason: "add_in_not_allowed" });
    say("warning", config.texts.addInNotAllowed);
    return;
  }
  // A refused track means the role cannot create activities at all; a refused regarding or record may be about
  // that one record or table, so only the track turns every write off.
  if (error.code === "dataverse_forbidden" && retry && retry.roleWide) {
    store.dispatch({ type: "writes-off", reason: "read_only" });
    say("warning", config.texts.readOnly);
    return;
  }
  if (error.code === "consent_required") {
    say("error", describe(error, config.texts), {
      action: { label: "Sign in and give consent", run: giveConsent },
      link: { label: "Admin: grant consent for the organization", href: adminConsentUrl() }
    });
    return;
  }
  const kind = error.code === "throttled" ? "warning" : "error";
  say(kind, describe(error, config.texts), isTransient(error) && retry ? { retry: retry } : {});
}

async function giveConsent() {
  clearMessage();
  try {
    await auth.getToken({ interactive: true });
    await loadAll();
  } catch (error) {
    fail(error);
  }
}

function waitOut(seconds) {
  say("warning", "Dynamics 365 is busy right now.");
  return countdown(seconds, function (left) { store.dispatch({ type: "countdown", seconds: left }); })
    .then(clearMessage);
}

async function loadPerson(person) {
  store.dispatch({ type: "person-loading", address: person.address });
  // The card's matches carry their company, job title and form URL.
  const card = await api.get("/api/v1/people?email=" + encodeURIComponent(person.address));
  store.dispatch({ type: "person-card", address: person.address, card: card || { matches: [] } });
}

function loadPeople() {
  return Promise.all(store.get().people.map(loadPerson));
}

async function loadStatus() {
  const state = store.get();
  if (!state.key) {
    store.dispatch({ type: "status", tracked: { tracked: false } });
    return;
  }
  const param = state.kind === "email" ? "internetMessageId" : "globalObjectId";
  const tracked = await api.get(kindPath() + "?" + param + "=" + encodeURIComponent(state.key));
  store.dispatch({ type: "status", tracked: tracked });
  if (tracked && tracked.tracked && !(await office.hasCategory(item, office.TRACKED_CATEGORY))) {
    // Tracked elsewhere (another device, server-side synchronization): the item shows it too.
    await office.addCategory(item, office.TRACKED_CATEGORY, "Preset7");
  }
}

/** The user's mailbox synchronization, for the note on why categorized items are not tracked. It only informs:
    a failure to read it leaves the pane as it is. */
async function loadMailbox() {
  try {
    store.dispatch({ type: "mailbox", mailbox: await api.get("/api/v1/mailbox") });
  } catch (unread) {
    store.dispatch({ type: "mailbox", mailbox: null });
  }
}

async function loadAll() {
  busy(true);
  try {
    const me = await api.get("/api/v1/me");
    store.dispatch({ type: "me", me: me });
    if (store.get().writeBlock === "add_in_not_allowed") { say("warning", config.texts.addInNotAllowed); }
    await Promise.all([loadStatus(), loadPeople(), loadMailbox()]);
    const state = store.get();
    if (!(state.tracked && state.tracked.tracked) && state.key && state.canWrite) {
      store.dispatch({ type: "lookup", changes: { open: true } });
    }
  } catch (error) {
    store.dispatch({ type: "failed" });
    fail(error, function () { clearMessage(); loadAll(); });
  } finally {
    busy(false);
  }
}

function refreshSender() {
  const lead = store.get().people[0];
  return lead ? loadPerson(lead).catch(function () { /* the card keeps what it showed */ }) : Promise.resolve();
}

async function track(regarding) {
  const state = store.get();
  if (state.busy) { return; }
  if (state.compose && state.kind === "email") { return trackWhenSent(regarding); }
  clearMessage();
  busy(true);
  try {
    const payload = await office.trackBody(item, state, config);
    if (regarding) { payload.regarding = { table: regarding.table, id: regarding.id }; }
    const view = await api.write("POST", kindPath(), payload);
    if (view.regarding && !view.regarding.name && regarding) { view.regarding.name = regarding.name; }
    await office.removeCategory(item, office.UNDELIVERABLE_CATEGORY);
    await office.addCategory(item, office.TRACKED_CATEGORY, "Preset7");
    store.dispatch({ type: "tracked", view: view });
    if (regarding) { rememberRecord(regarding); }
    say("success", view.alreadyTracked ? "This item was already tracked to Dynamics 365."
      : regarding ? sentence("Tracked regarding " + (view.regarding && view.regarding.name || regarding.name))
        : "Tracked to Dynamics 365.");
    refreshSender();
  } catch (error) {
    const retry = function () { track(regarding); };
    retry.roleWide = true;
    fail(error, retry);
    if (isDeliveryFailure(error)) { await office.addCategory(item, office.UNDELIVERABLE_CATEGORY, "Preset0"); }
  } finally {
    busy(false);
  }
}

/** A message being written: marked (an Internet header the service gave, and the category), so that the mailbox
    sync tracks it from Sent Items once it is sent, as Dynamics 365 does ("pending until sent"). */
async function trackWhenSent(regarding) {
  clearMessage();
  busy(true);
  try {
    const body = { regarding: regarding ? { table: regarding.table, id: regarding.id } : null };
    const pending = await api.write("POST", "/api/v1/emails/pending", body);
    if (!(await office.setHeader(item, pending.header, pending.token))) {
      say("error", "This version of Outlook can't mark a message being written. Track it from Sent Items once sent.");
      return;
    }
    await office.addCategory(item, office.TRACKED_CATEGORY, "Preset7");
    const chosen = pending.regarding || (regarding ? { table: regarding.table, id: regarding.id, name: regarding.name }
      : null);
    store.dispatch({ type: "compose-pending", regarding: chosen });
    if (regarding) { rememberRecord(regarding); }
    say("success", "This message will be tracked once it is sent.");
  } catch (error) {
    fail(error, function () { trackWhenSent(regarding); });
  } finally {
    busy(false);
  }
}

function trackWithRegarding() {
  const chosen = store.get().chosen;
  if (!chosen) {
    lookup.open();
    say("info", "Choose the record this is regarding, or use Track without regarding.");
    return;
  }
  track(chosen);
}

async function setRegarding(record) {
  const state = store.get();
  if (!(state.tracked && state.tracked.tracked)) {
    store.dispatch({ type: "choose", record: record });
    store.dispatch({ type: "lookup", changes: { open: true } });
    clearMessage();
    $("btn-track").focus();
    return;
  }
  clearMessage();
  busy(true);
  try {
    const path = kindPath() + "/" + encodeURIComponent(state.tracked.activityId) + "/regarding";
    const view = await api.write("PUT", path, { table: record.table, id: record.id });
    const regarding = Object.assign({ table: record.table, id: record.id }, view.regarding || {});
    if (!regarding.name) { regarding.name = record.name; }
    store.dispatch({ type: "regarding-set", regarding: regarding, url: view.url });
    rememberRecord(record);
    say("success", sentence("Regarding set to " + regarding.name));
    $("btn-change-regarding").focus();
  } catch (error) {
    fail(error, function () { setRegarding(record); });
  } finally {
    busy(false);
  }
}

async function untrack() {
  const state = store.get();
  if (!state.tracked || state.busy) { return; }
  clearMessage();
  busy(true);
  try {
    await api.write("DELETE", kindPath() + "/" + encodeURIComponent(state.tracked.activityId));
    await office.removeCategory(item, office.TRACKED_CATEGORY);
    store.dispatch({ type: "untracked" });
    say("success", "Untracked: the activity was removed from Dynamics 365.");
    store.dispatch({ type: "lookup", changes: { open: Boolean(store.get().canWrite) } });
    refreshSender();
  } catch (error) {
    fail(error, untrack);
  } finally {
    busy(false);
  }
}

function openUrl(url) {
  if (url) { window.open(url, "_blank", "noopener"); }
}

function startCreate(table, person, name) {
  const values = prefill(table, person, store.get().basics && store.get().basics.subject, splitName);
  if (name) {
    if (table === "account" || table === "opportunity") { values.name = name; } else {
      const split = splitName({ name: name });
      values.firstname = split.first || "";
      values.lastname = split.last;
    }
  }
  clearMessage();
  store.dispatch({ type: "create-open", table: table, values: values, person: person });
}

async function created(record, create) {
  const name = record.name || tableLabel(create.table);
  say("success", sentence(name + " was added as " + (create.table === "account" || create.table === "opportunity"
    ? "an " : "a ") + tableLabel(create.table).toLowerCase()));
  const regarding = { table: record.table, id: record.id, name: record.name };
  if (create.person) { await loadPerson(create.person).catch(function () { /* shown on the next load */ }); }
  lookup.forgetSuggestions();
  const state = store.get();
  if (state.tracked && state.tracked.tracked) { await setRegarding(regarding); } else if (state.key) {
    await track(regarding);
  } else {
    await setRegarding(regarding);
  }
}

function wire() {
  $("btn-track").addEventListener("click", trackWithRegarding);
  $("btn-track-plain").addEventListener("click", function () { track(null); });
  $("btn-untrack").addEventListener("click", function () {
    store.dispatch({ type: "confirm-untrack", open: true });
    $("btn-untrack-cancel").focus();
  });
  $("btn-untrack-cancel").addEventListener("click", function () {
    store.dispatch({ type: "confirm-untrack", open: false });
    $("btn-untrack").focus();
  });
  $("btn-untrack-confirm").addEventListener("click", untrack);
  $("btn-view").addEventListener("click", function () { openUrl(store.get().tracked && store.get().tracked.url); });
  $("btn-change-regarding").addEventListener("click", function () { lookup.open(); });
}

async function start() {
  config = await loadConfig(window.fetch.bind(window));
  const ready = await office.waitForOffice(config.officeLoadTimeoutMs);
  const actions = {
    open: openUrl, setRegarding: setRegarding,
    add: function (table, person) { startCreate(table, person, null); }
  };
  store.subscribe(function (state, before) { render(state, config.texts, actions, before); });
  if (!ready) {
    store.dispatch({ type: "office-missing" });
    say("error", config.texts.officeMissing);
    return;
  }
  const box = office.mailbox();
  if (!box || !box.item) {
    store.dispatch({ type: "no-item" });
    say("info", config.texts.noItem);
    return;
  }
  // A pinned pane stays open while the user selects another item: start again for the new one.
  office.onItemChanged(function () { window.location.reload(); });
  auth = createAuth(config);
  api = createApi(auth, {
    steppedUp: function () { store.dispatch({ type: "stepped-up" }); }, waitOut: waitOut
  });
  lookup = createLookup({
    store: store, api: api, config: config, recent: recentRecords, choose: setRegarding, fail: fail,
    createNew: function (table, name) { startCreate(table, store.get().people[0] || null, name); }
  });
  lookup.wire();
  createQuickCreate({ store: store, api: api, created: created, fail: fail }).wire();
  createSettings({ api: api, texts: config.texts }).wire();
  createRules({ api: api, texts: config.texts }).wire();
  wire();
  item = box.item;
  busy(true);
  try {
    const described = office.describeItem(item);
    const basics = await office.readBasics(item, described.kind, described.compose);
    const key = await office.itemKey(item, described.kind, described.compose);
    store.dispatch({ type: "item-read", kind: described.kind, compose: described.compose, key: key, basics: basics,
      people: participants(basics, office.myAddress(), config.maxPeople) });
  } catch (error) {
    store.dispatch({ type: "failed" });
    busy(false);
    fail(error);
    return;
  }
  await loadAll();
}

start();
