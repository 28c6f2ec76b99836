// Unit tests of the pane's words: sentences, names, URLs and the text for each API error.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  DEFAULT_TEXTS, describe, initials, isDeliveryFailure, pluralLabel, recordUrl, sentence, splitName, tableLabel
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
