// Unit tests of the pane's words: sentences, names, URLs and the text for each API error.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  DEFAULT_TEXTS, MAILBOX_REASONS, describe, initials, isDeliveryFailure, mailboxNotice, pluralLabel, recordUrl, ruleLine,
  composeNote,
  sentence, splitName, syncNotice, tableLabel
} from "../../addin_api/static/taskpane/js/text.js";

test("a name that ends with a full stop gets no second one", () => {
  assert.equal(sentence("Regarding set to Fabrikam, Inc."), "Regarding set to Fabrikam, Inc.");
  assert.equal(sentence("Regarding set to Adventure Works Cycles"), "Regarding set to Adventure Works Cycles.");
  assert.equal(sentence("Done!"), "Done!");
  assert.equal(sentence("  "), "");
});

test("tables have Dynamics' labels, cases included", () => {
  assert.deepEqual([tableLabel("incident"), tableLabel("account"), tableLabel("custom_x"), tableLabel(null)],
    ["Case", "Account", "custom_x", ""]);
  assert.deepEqual([pluralLabel("opportunity"), pluralLabel("incident")], ["Opportunities", "Cases"]);
});

test("initials come from the first and last word, letters only", () => {
  assert.deepEqual([initials("Dana Smith"), initials("O'Brien & Sons"), initials(""), initials("Émile")],
    ["DS", "OS", "?", "É"]);
});

test("a display name splits at its last space; an address alone gives the last name", () => {
  assert.deepEqual(splitName({ name: "Mary Ann Lee", address: "m@x.example" }), { first: "Mary Ann", last: "Lee" });
  assert.deepEqual(splitName({ name: "", address: "sam@newco.example" }), { first: null, last: "sam" });
});

test("record URLs are Dynamics' entity-record form with the id encoded", () => {
  assert.equal(recordUrl("https://org.example/", "contact", "a b"),
    "https://org.example/main.aspx?etn=contact&pagetype=entityrecord&id=a%20b");
  assert.equal(recordUrl(null, "contact", "1"), null);
});

test("each stable error code has its own words, and texts can be overridden", () => {
  assert.equal(describe({ code: "add_in_not_allowed" }), DEFAULT_TEXTS.addInNotAllowed);
  assert.equal(describe({ code: "add_in_not_allowed" }, { addInNotAllowed: "Off." }), "Off.");
  assert.match(describe({ code: "throttled", retryAfter: 7 }), /in 7 seconds/);
  assert.match(describe({ code: "throttled", detail: "still_busy" }), /still busy/);
  assert.match(describe({ code: "validation_failed", errors: { subject: ["x"] } }), /\(subject\)\.$/);
  assert.match(describe({ code: "weird", status: 502 }), /isn't available/);
  assert.match(describe({ code: "weird", status: 400 }), /\(weird\)/);
});

test("only failures to deliver mark the item Undeliverable, not refusals", () => {
  assert.equal(isDeliveryFailure({ code: "network" }), true);
  assert.equal(isDeliveryFailure({ code: "dataverse_unavailable", status: 503 }), true);
  assert.equal(isDeliveryFailure({ code: "dataverse_forbidden" }), false);
  assert.equal(isDeliveryFailure({ code: "consent_required" }), false);
});

test("a mailbox that does not synchronize says its first reason and what to do; one that does says nothing", () => {
  assert.equal(mailboxNotice({ trackingEnabled: true, reasons: [] }), null);
  assert.equal(mailboxNotice(null), null);
  const said = mailboxNotice({ trackingEnabled: false, reasons: ["not_approved", "test_not_run"] });
  assert.match(said, /Tracked to Dynamics 365 category/);
  assert.match(said, /isn't approved.*Ask your admin to approve/);
  assert.doesNotMatch(said, /tested/);
  assert.match(mailboxNotice({ trackingEnabled: false, reasons: ["something_new"] }), /Ask your admin/);
  for (const code of Object.keys(MAILBOX_REASONS)) {
    assert.match(mailboxNotice({ trackingEnabled: false, reasons: [code] }), /admin/, code);
  }
});

test("the worker's attempts at an untracked item are told, with the last failure in plain words", () => {
  assert.equal(syncNotice({ tracked: true, syncState: "tracked" }), null);
  assert.equal(syncNotice({ tracked: false }), null);
  assert.equal(syncNotice({ tracked: false, syncState: "untracked" }), null);
  const pending = syncNotice({ tracked: false, syncState: "pending", reason: "dataverse_forbidden" });
  assert.equal(pending.kind, "info");
  assert.match(pending.text, /still trying.*security role/);
  const failed = syncNotice({ tracked: false, syncState: "undeliverable", reason: "invalid_item" });
  assert.equal(failed.kind, "warning");
  assert.match(failed.text, /couldn't track.*lacks something Dynamics 365 needs.*category again/);
});

test("a folder rule reads as folder → record, and a disabled one says why it tracks nothing", () => {
  const rule = { folderName: "Deals", regarding: { table: "account", name: "Fabrikam, Inc." }, active: true };
  assert.equal(ruleLine(rule), "Deals → Fabrikam, Inc. · Account");
  assert.match(ruleLine({ ...rule, active: false }), /left your Inbox, so nothing is tracked/);
});

test("folder rule refusals are told in the user's words, the limit included", () => {
  assert.match(describe({ code: "folder_rule_limit", limit: 25 }), /already have 25 folder rules/);
  assert.match(describe({ code: "folder_not_in_inbox" }), /under your Inbox/);
  assert.match(describe({ code: "mailbox_unavailable", status: 503 }), /mailbox isn't reachable/);
});

test("a message being written is offered to be tracked, then said to be pending until sent", () => {
  assert.equal(composeNote(null), "Track it now: it is tracked to Dynamics 365 once it is sent.");
  assert.equal(composeNote({ regarding: { table: "incident", name: "Broken hinge" } }),
    "Pending until sent: it will be tracked regarding Broken hinge · Case once it is in your Sent Items.");
  assert.equal(composeNote({ regarding: null }), "Pending until sent: it will be tracked once it is in your Sent Items.");
});
