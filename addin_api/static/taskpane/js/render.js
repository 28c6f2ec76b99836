/* Draws the pane from the state: the message bar, the tracking card and the people card. Reads state, never
   writes it; user actions go to the `actions` the controller passes in. */
import { resolvesTo, resolvedFromView, roleLabel } from "./people.js";
import {
  composeNote, formatWhen, initials, mailboxNotice, personLine, recordUrl, syncNotice, tableLabel
} from "./text.js";

const SVG = "http://www.w3.org/2000/svg";
// 16 px outline glyphs, one per table (Fluent-like shapes, drawn here).
const ICON_PATHS = {
  account: "M3 14V3h6v11M9 7h4v7M5 5h2M5 8h2M5 11h2M11 9h0M11 12h0",
  contact: "M8 8a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5ZM3 14c0-2.8 2.2-4.5 5-4.5s5 1.7 5 4.5",
  lead: "M8 2l1.8 3.7 4 .6-2.9 2.8.7 4L8 11.2 4.4 13l.7-4L2.2 6.3l4-.6Z",
  opportunity: "M2 13h12M4 13V9M7 13V6M10 13V8M13 13V4",
  incident: "M3 3h10v8H8l-3 3v-3H3ZM8 5v3M8 9.5v0",
  systemuser: "M8 8a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5ZM3 14c0-2.8 2.2-4.5 5-4.5s5 1.7 5 4.5M12 2l2 2",
  all: "M7 12A5 5 0 1 0 7 2a5 5 0 0 0 0 10ZM10.5 10.5 14 14"
};

export function icon(table) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "table-icon table-icon-" + (ICON_PATHS[table] ? table : "all"));
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICON_PATHS[table] || ICON_PATHS.all);
  svg.appendChild(path);
  return svg;
}

export function $(id) { return document.getElementById(id); }

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) { node.className = className; }
  if (text !== undefined && text !== null) { node.textContent = text; }
  return node;
}

export { el };

let countdownTimer = null;

function renderMessage(state) {
  const box = $("message");
  const message = state.message;
  box.hidden = !message;
  if (!message) { return; }
  box.className = "message " + message.kind;
  box.setAttribute("role", message.kind === "error" ? "alert" : "status");
  $("message-text").textContent = message.text;
  $("message-retry").hidden = !message.retry;
  $("message-retry").onclick = message.retry || null;
  const action = message.action;
  $("message-action").hidden = !action;
  $("message-action").textContent = action ? action.label : "";
  $("message-action").onclick = action ? action.run : null;
  const link = message.link;
  $("message-link").hidden = !link;
  $("message-link").textContent = link ? link.label : "";
  if (link) { $("message-link").href = link.href; } else { $("message-link").removeAttribute("href"); }
  const line = $("message-countdown");
  line.hidden = state.countdown === null;
  if (state.countdown !== null) { line.textContent = "Trying again in " + state.countdown + " s…"; }
}

/** Count `seconds` down in the message bar through `onTick`; resolves when the wait is over. */
export function countdown(seconds, onTick) {
  return new Promise(function (resolve) {
    let left = Math.max(1, Math.ceil(seconds));
    if (countdownTimer) { clearInterval(countdownTimer); }
    function tick() {
      onTick(left > 0 ? left : null);
      if (left <= 0) {
        clearInterval(countdownTimer);
        countdownTimer = null;
        resolve();
      }
      left -= 1;
    }
    tick();
    countdownTimer = setInterval(tick, 1000);
  });
}

function setButtons(state) {
  // A message being written has no Message-ID yet: it can still be marked, to be tracked once sent.
  const noKey = !state.key && !(state.compose && state.kind === "email");
  const writes = ["btn-track", "btn-track-plain", "btn-change-regarding", "btn-untrack", "btn-untrack-confirm",
    "btn-create-save"];
  writes.forEach(function (id) {
    $(id).disabled = state.busy || !state.canWrite || ((id === "btn-track" || id === "btn-track-plain") && noKey);
  });
  document.querySelectorAll("[data-write]").forEach(function (button) {
    button.disabled = state.busy || !state.canWrite;
  });
}

function renderStatus(state, texts) {
  const loading = state.phase === "loading";
  $("main").setAttribute("aria-busy", state.busy || loading ? "true" : "false");
  $("status-loading").hidden = !loading;
  const ready = state.phase === "ready";
  const tracked = ready && Boolean(state.tracked && state.tracked.tracked);
  $("status-untracked").hidden = !ready || tracked;
  $("status-tracked").hidden = !tracked;
  $("item-subject").textContent = state.basics ? state.basics.subject || "(no subject)" : "";
  $("compose-note").hidden = !(state.kind === "email" && state.compose);
  $("compose-note").textContent = composeNote(state.pending);
  // The note says why writes are off unless the message bar already says it.
  $("readonly-note").textContent = texts.readOnly;
  $("readonly-note").hidden = state.canWrite || state.writeBlock === "add_in_not_allowed" ||
    Boolean(state.message && state.message.text === texts.readOnly);
  $("status-card").hidden = state.phase === "office_missing" || state.phase === "no_item";
  const mailbox = state.writeBlock === "add_in_not_allowed" ? null : mailboxNotice(state.mailbox);
  $("mailbox-note").textContent = mailbox || "";
  $("mailbox-note").hidden = !ready || !mailbox;
  const sync = ready ? syncNotice(state.tracked) : null;
  $("sync-note").textContent = sync ? sync.text : "";
  $("sync-note").className = "note note-" + (sync ? sync.kind : "info");
  $("sync-note").hidden = !sync;
  $("user-name").textContent = state.me ? state.me.name || state.me.email || "" : "";
  if (tracked) {
    const regarding = state.tracked.regarding;
    $("tracked-regarding").textContent = regarding
      ? (regarding.name || "(no name)") + " · " + tableLabel(regarding.table) : "none";
    $("btn-change-regarding").textContent = regarding ? "Change regarding" : "Set regarding";
    $("tracked-note").textContent = state.tracked.alreadyTracked ? "(already tracked)" : "";
    const role = state.kind === "email" ? "from" : "organizer";
    const resolved = resolvedFromView(state.tracked, role);
    $("tracked-resolved").hidden = !resolved;
    $("tracked-resolved").textContent = resolved
      ? (role === "from" ? "Sender" : "Organizer") + " linked to " + (resolved.name || "a record") + " · " +
        tableLabel(resolved.table) : "";
  }
  $("untrack-confirm").hidden = !(tracked && state.confirmUntrack);
  $("untrack-confirm-text").textContent = texts.untrackConfirm;
  $("btn-untrack").hidden = tracked && state.confirmUntrack;
  $("stepup-note").hidden = !state.steppedUp;
  $("stepup-note").textContent = texts.steppedUp;
  setButtons(state);
}

function resolutionNote(resolution) {
  const base = "The sender resolves to this record";
  if (resolution.sameTable > 1) {
    return base + ": the first of " + resolution.sameTable + " " + tableLabel(resolution.record.table).toLowerCase() +
      "s with this address";
  }
  return resolution.of > 1 ? base + " (Dynamics picks users, then contacts, accounts, leads)" : base;
}

function matchItem(state, person, match, resolution, actions) {
  const li = el("li", "match");
  li.dataset.table = match.table;
  li.dataset.id = match.id;
  const avatar = el("span", "avatar", initials(match.name));
  avatar.setAttribute("aria-hidden", "true");
  const text = el("div", "match-text");
  const url = match.url || (state.me ? recordUrl(state.me.environmentUrl, match.table, match.id) : null);
  const name = el("button", "match-name link-strong", match.name || match.email);
  name.type = "button";
  name.title = "Open in Dynamics 365";
  name.onclick = function () { actions.open(url); };
  const meta = el("div", "match-meta");
  meta.appendChild(icon(match.table));
  meta.appendChild(document.createTextNode(" " + [tableLabel(match.table), match.detail, match.company,
    match.jobTitle].filter(Boolean).join(" · ")));
  text.appendChild(name);
  text.appendChild(meta);
  if (resolution && resolution.record === match && person.role === "from") {
    text.appendChild(el("div", "resolves", resolutionNote(resolution)));
  }
  li.appendChild(avatar);
  li.appendChild(text);
  if (match.table !== "systemuser") {
    const set = el("button", "small", "Set regarding");
    set.type = "button";
    set.dataset.write = "1";
    set.setAttribute("aria-label", "Set regarding to " + (match.name || match.email));
    set.onclick = function () { actions.setRegarding({ table: match.table, id: match.id, name: match.name,
      detail: match.detail || null }); };
    li.appendChild(set);
  }
  return li;
}

function personItem(state, person, actions) {
  const li = el("li", "person");
  li.dataset.role = person.role;
  li.dataset.address = person.address.toLowerCase();
  const head = el("div", "person-head");
  head.appendChild(el("span", "role", roleLabel(person.role)));
  head.appendChild(el("span", "person-address", personLine(person)));
  li.appendChild(head);
  if (person.loading) {
    li.appendChild(el("p", "hint", "Looking up…"));
    return li;
  }
  const matches = (person.card && person.card.matches) || [];
  const list = el("ul", "person-matches");
  const resolution = resolvesTo(matches);
  matches.forEach(function (match) { list.appendChild(matchItem(state, person, match, resolution, actions)); });
  li.appendChild(list);
  if (!matches.length && person.card) {
    const unknown = el("div", "person-unknown");
    unknown.appendChild(el("p", "hint", "Not in Dynamics 365 yet."));
    const row = el("div", "actions");
    ["contact", "lead", "account"].forEach(function (table) {
      const add = el("button", "small", "Add as " + tableLabel(table).toLowerCase());
      add.type = "button";
      add.dataset.write = "1";
      add.onclick = function () { actions.add(table, person); };
      row.appendChild(add);
    });
    unknown.appendChild(row);
    li.appendChild(unknown);
  }
  return li;
}

function renderPeople(state, actions) {
  const section = $("person-card");
  section.hidden = !state.people.length;
  const list = $("people");
  list.textContent = "";
  state.people.forEach(function (person) { list.appendChild(personItem(state, person, actions)); });
  const lead = state.people[0];
  const recent = (lead && lead.card && lead.card.recentActivities) || [];
  const box = $("person-recent");
  box.textContent = "";
  recent.forEach(function (activity) {
    const li = el("li");
    const url = state.me ? recordUrl(state.me.environmentUrl, activity.type, activity.id) : null;
    const subject = el("button", "link-strong", activity.subject || "(no subject)");
    subject.type = "button";
    subject.title = "Open in Dynamics 365";
    subject.onclick = function () { actions.open(url); };
    li.appendChild(subject);
    li.appendChild(el("div", "when", [tableLabel(activity.type), activity.whenText || formatWhen(activity.when)]
      .filter(Boolean).join(" · ")));
    box.appendChild(li);
  });
  $("recent-title").hidden = recent.length === 0;
}

export function render(state, texts, actions, before) {
  renderMessage(state);
  renderStatus(state, texts);
  if (!before || before.people !== state.people || before.me !== state.me || before.canWrite !== state.canWrite) {
    renderPeople(state, actions);
  }
  setButtons(state);
}
