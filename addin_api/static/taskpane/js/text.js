/* Words the pane shows: table names, sentences, initials, dates and the plain-language text of each API error.
   Pure functions (no DOM, no Office.js), unit-tested with node's test runner. */

export const TABLE_LABELS = Object.freeze({
  account: "Account", contact: "Contact", lead: "Lead", opportunity: "Opportunity", incident: "Case",
  systemuser: "User", email: "Email", appointment: "Appointment", phonecall: "Phone call", task: "Task"
});

// The tables a tracked item may be regarding, in the order Dynamics lists them in the lookup's filter.
export const REGARDING_TABLES = Object.freeze(["account", "contact", "lead", "opportunity", "incident"]);

export const DEFAULT_TEXTS = Object.freeze({
  // Dynamics 365 App for Outlook's own wording for users without prvUseOfficeApps.
  // https://learn.microsoft.com/en-us/troubleshoot/power-platform/dataverse/d365-app-outlook/experience-without-server-side-synchronization
  addInNotAllowed: "Track and Set Regarding are currently disabled. To use these features, please contact your " +
    "admin. You can still view and interact with your Dynamics 365 data.",
  readOnly: "Your security role lets you view Dynamics 365 data but not track items or create records.",
  consentRequired: "Dynamics 365 needs your consent (or your admin's) before this add-in can work for you.",
  officeMissing: "Office.js could not load, so this pane cannot read the item. Open it from an email or a meeting " +
    "in Outlook.",
  noItem: "Open this pane from an email or a meeting in Outlook.",
  steppedUp: "Your organization asked for an extra sign-in step (multifactor authentication); it was completed.",
  untrackConfirm: "Untrack deletes the activity from Dynamics 365 (with its attachments). The email stays in Outlook."
});

export function tableLabel(table) {
  return TABLE_LABELS[table] || table || "";
}

export function pluralLabel(table) {
  const label = tableLabel(table);
  if (table === "opportunity") { return "Opportunities"; }
  return label ? label + "s" : "";
}

/** End `text` with one full stop, unless it already ends with sentence punctuation ("Fabrikam, Inc." stays). */
export function sentence(text) {
  const trimmed = String(text || "").trim();
  if (!trimmed) { return ""; }
  return /[.!?…]$/.test(trimmed) ? trimmed : trimmed + ".";
}

export function initials(name) {
  const parts = String(name || "?").replace(/[^\p{L}\s]/gu, " ").trim().split(/\s+/);
  const first = (parts[0] || "?")[0] || "?";
  const last = parts.length > 1 ? parts[parts.length - 1][0] : "";
  return (first + last).toUpperCase();
}

/** A display name split the way Dynamics fills a contact: the last word is the last name. */
export function splitName(person) {
  const display = String((person && person.name) || "").trim();
  const cut = display.lastIndexOf(" ");
  if (cut > 0) { return { first: display.slice(0, cut), last: display.slice(cut + 1) }; }
  return { first: null, last: display || String((person && person.address) || "").split("@")[0] };
}

export function formatWhen(value, locale) {
  if (!value) { return ""; }
  const date = new Date(value);
  return isNaN(date.getTime()) ? "" : date.toLocaleDateString(locale, { dateStyle: "medium" });
}

export function personLine(person) {
  if (!person) { return ""; }
  return person.name ? person.name + " <" + person.address + ">" : person.address;
}

/** The Dynamics 365 form of a record (the same shape the service returns for tracked items). */
export function recordUrl(environmentUrl, table, id) {
  if (!environmentUrl || !table || !id) { return null; }
  return String(environmentUrl).replace(/\/+$/, "") + "/main.aspx?etn=" + encodeURIComponent(table) +
    "&pagetype=entityrecord&id=" + encodeURIComponent(id);
}

function firstError(errors) {
  const field = errors ? Object.keys(errors)[0] : null;
  return field ? " (" + field + ")" : "";
}

/** The plain-language text for an API error (`error.code` is the service's stable problem code). */
export function describe(error, texts) {
  const t = Object.assign({}, DEFAULT_TEXTS, texts || {});
  switch (error.code) {
  case "add_in_not_allowed": return t.addInNotAllowed;
  case "consent_required":
    return t.consentRequired + " Sign in again to give consent, or ask your admin to grant it for everyone.";
  case "claims_challenge":
    return "Your organization requires an additional sign-in step that could not be completed. " +
      "Close the pane, sign in again and retry.";
  case "sso_failed": return "We couldn't sign you in to Dynamics 365 (" + error.detail + "). Close the pane and try again.";
  case "tenant_not_allowed":
  case "client_app_not_allowed":
  case "insufficient_scope": return "Your organization isn't set up to use this add-in with Dynamics 365.";
  case "invalid_token":
  case "token_expired": return "Your sign-in has expired. Close the pane and open it again.";
  case "dataverse_forbidden": return "Dynamics 365 didn't allow this: your security role doesn't grant it.";
  case "not_found": return "That record no longer exists in Dynamics 365, or you can't see it.";
  case "conflict": return "Someone changed this record at the same time. Try again.";
  case "payload_too_large": return "This item is too large to track. Remove large attachments and try again.";
  case "validation_failed": return "Dynamics 365 can't accept this item as it is" + firstError(error.errors) + ".";
  case "throttled":
    return error.detail === "still_busy"
      ? "Dynamics 365 is still busy. Please try again in a minute."
      : "Dynamics 365 is busy right now. Please try again in " + (error.retryAfter || 60) + " seconds.";
  case "network": return "Can't reach the service. Check your connection and try again.";
  case "invalid_item": return "The item lacks something Dynamics 365 needs to track it (a sender, a date).";
  case "folder_tracking_disabled": return "Your organization doesn't use folder-level tracking.";
  case "folder_rule_limit":
    return "You already have " + (error.limit || "the most") + " folder rules, as many as your organization allows. " +
      "Remove one first.";
  case "folder_not_in_inbox": return "Only folders under your Inbox can be tracked. Choose another folder.";
  case "no_mailbox": return "You have no mailbox in Dynamics 365. Ask your admin to set one up for you.";
  case "mailbox_forbidden": return "The add-in may not read your mail folders. Ask your admin to grant it.";
  case "mailbox_unavailable": return "Your mailbox isn't reachable right now. Please try again in a minute.";
  case "sync_unavailable":
    return "Tracking a message before it's sent needs the mailbox synchronization, which isn't running here. " +
      "Track it from Sent Items once it is sent.";
  default:
    if (error.status >= 500) { return "Dynamics 365 isn't available right now. Please try again in a few minutes."; }
    return "Something went wrong (" + error.code + "). Please try again.";
  }
}

/** What the pane says of a message being written: how to track it, or that it is pending until sent. */
export function composeNote(pending) {
  if (!pending) { return "Track it now: it is tracked to Dynamics 365 once it is sent."; }
  const regarding = pending.regarding;
  return "Pending until sent: it will be tracked" +
    (regarding ? " regarding " + (regarding.name || "the record you chose") + " · " + tableLabel(regarding.table) : "") +
    " once it is in your Sent Items.";
}

/** A folder rule as the Folder tracking rules card lists it. */
export function ruleLine(rule) {
  const record = rule.regarding.name || "(no name)";
  const line = rule.folderName + " → " + record + " · " + tableLabel(rule.regarding.table);
  return rule.active ? line : line + " — the folder left your Inbox, so nothing is tracked from it";
}

/** Whether a failed track should mark the item "(Undeliverable)": only when the user could track but it did not land. */
export function isDeliveryFailure(error) {
  const refusals = ["add_in_not_allowed", "consent_required", "claims_challenge", "sso_failed", "validation_failed",
    "tenant_not_allowed", "client_app_not_allowed", "insufficient_scope", "dataverse_forbidden"];
  return refusals.indexOf(error && error.code) < 0;
}

export function isTransient(error) {
  return error.code === "network" || error.code === "throttled" || error.status >= 500;
}

// Why the mailbox does not synchronize, and what the user can do, by the service's reason codes (GET /api/v1/mailbox).
// The admin's side: https://learn.microsoft.com/en-us/power-platform/admin/connect-exchange-online
export const MAILBOX_REASONS = Object.freeze({
  no_mailbox: "you have no mailbox in Dynamics 365. Ask your admin to set one up for you.",
  not_approved: "your email address isn't approved in Dynamics 365 yet. Ask your admin to approve your mailbox.",
  incoming_disabled: "incoming email synchronization is turned off for your mailbox. Ask your admin to set it " +
    "to server-side synchronization.",
  test_failed: "the last test of your mailbox failed. Ask your admin to run Test & Enable again.",
  test_not_run: "your mailbox hasn't been tested yet. Ask your admin to run Test & Enable.",
  other_environment: "your mailbox synchronizes with another Dynamics 365 environment. Ask your admin to move it " +
    "to this one.",
  add_in_not_allowed: "your security role doesn't include the use of Dynamics 365 App for Outlook. Ask your admin " +
    "to add it."
});

/** What the pane says about a mailbox that does not synchronize (null when it does, or when unknown): the first
    reason, which is what an administrator must fix first. */
export function mailboxNotice(mailbox) {
  if (!mailbox || mailbox.trackingEnabled !== false) { return null; }
  const reasons = Array.isArray(mailbox.reasons) ? mailbox.reasons : [];
  const first = reasons.find(function (r) { return MAILBOX_REASONS[r]; });
  const why = first ? MAILBOX_REASONS[first] : "your mailbox isn't set up for it. Ask your admin.";
  return "Messages you give the Tracked to Dynamics 365 category in Outlook aren't tracked: " + why;
}

/** What the pane says of the mailbox sync's attempts at an item that is not tracked (null when there is nothing). */
export function syncNotice(status) {
  if (!status || status.tracked) { return null; }
  const why = status.reason ? describe({ code: status.reason }) : "";
  if (status.syncState === "pending") {
    return { kind: "info", text: "Dynamics 365 is still trying to track this item (it carries the tracking " +
      "category)." + (why ? " Last attempt: " + why : "") };
  }
  if (status.syncState === "undeliverable") {
    return { kind: "warning", text: "Dynamics 365 couldn't track this item." + (why ? " " + why : "") +
      " Track it from here, or give it the Tracked to Dynamics 365 category again." };
  }
  return null;
}
