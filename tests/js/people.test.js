// Unit tests of who takes part in an item, how an address resolves, recent records and quick-create values.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  participants, prefill, relatedAccounts, resolvedFromView, resolvesTo
} from "../../addin_api/static/taskpane/js/people.js";
import { load, remember, save, storageKey } from "../../addin_api/static/taskpane/js/recent.js";
import { fieldsFrom } from "../../addin_api/static/taskpane/js/quickcreate.js";
import { splitName } from "../../addin_api/static/taskpane/js/text.js";

const ME = "alice@contoso.example";

test("every sender and recipient once, without the user, in Outlook's order", () => {
  const basics = {
    from: { address: "dana@fabrikam.example", name: "Dana" },
    to: [{ address: "Alice@contoso.example" }, { address: "ravi@fabrikam.example" }],
    cc: [{ address: "DANA@fabrikam.example" }, { address: "sam@newco.example" }], bcc: []
  };
  assert.deepEqual(participants(basics, ME).map((p) => [p.role, p.address]), [
    ["from", "dana@fabrikam.example"], ["to", "ravi@fabrikam.example"], ["cc", "sam@newco.example"]
  ]);
  assert.equal(participants(basics, ME, 2).length, 2);
});

test("appointments list the organizer, then required and optional attendees", () => {
  const basics = {
    organizer: { address: "maria@aw.example" }, requiredAttendees: [{ address: ME }, { address: "maria@aw.example" }],
    optionalAttendees: [{ address: "john@aw.example" }]
  };
  assert.deepEqual(participants(basics, ME).map((p) => p.role), ["organizer", "optional"]);
});

test("an address resolves in Dynamics' order: user, contact, account, lead", () => {
  const lead = { table: "lead", id: "l" };
  const contact1 = { table: "contact", id: "c1" };
  const contact2 = { table: "contact", id: "c2" };
  assert.deepEqual(resolvesTo([lead, contact1, contact2]), { record: contact1, of: 3, sameTable: 2 });
  assert.equal(resolvesTo([{ table: "opportunity", id: "o" }]), null);
  assert.equal(resolvesTo([]), null);
});

test("after tracking, the service's resolution of a role is used", () => {
  const view = { parties: [{ role: "to", resolved: [{ id: "x" }] }, { role: "from", resolved: [{ id: "y" }] }] };
  assert.deepEqual(resolvedFromView(view, "from"), { id: "y" });
  assert.equal(resolvedFromView({ parties: [{ role: "from", resolved: [] }] }, "from"), null);
});

test("suggested accounts: the matched account itself and each contact's parent account, once", () => {
  const matches = [
    { table: "contact", id: "c1", name: "Dana", company: "Fabrikam, Inc.", companyId: "A1" },
    { table: "lead", id: "l1", name: "Dana", company: "Fabrikam, Inc.", companyId: null },
    { table: "account", id: "a1", name: "Fabrikam, Inc." },
    { table: "contact", id: "c2", name: "Ravi", company: "Somebody", companyId: null },
    { table: "account", id: "B2", name: "Northwind" }
  ];
  assert.deepEqual(relatedAccounts(matches), [{ id: "A1", name: "Fabrikam, Inc." }, { id: "B2", name: "Northwind" }]);
  assert.deepEqual(relatedAccounts(null), []);
});

test("recent records: newest first, each once, bounded, per user, garbage ignored", () => {
  let list = [];
  list = remember(list, { table: "account", id: "A", name: "Fabrikam" }, 2);
  list = remember(list, { table: "contact", id: "b", name: "Dana" }, 2);
  list = remember(list, { table: "account", id: "a", name: "Fabrikam" }, 2);
  assert.deepEqual(list.map((r) => r.id), ["a", "b"]);
  const storage = new Map();
  const fake = { getItem: (k) => storage.get(k) ?? null, setItem: (k, v) => storage.set(k, v) };
  save(fake, "U1", list);
  assert.deepEqual(load(fake, "u1", 5), list);
  assert.deepEqual(load(fake, "someone-else", 5), []);
  storage.set(storageKey("u1"), "{not json");
  assert.deepEqual(load(fake, "u1", 5), []);
  storage.set(storageKey("u1"), JSON.stringify([{ table: 1 }, { table: "lead", id: "z", name: null }]));
  assert.deepEqual(load(fake, "u1", 5), [{ table: "lead", id: "z", name: null }]);
});

test("quick create starts from the person and the subject, and sends only what was filled", () => {
  const person = { name: "Sam Taylor", address: "sam.taylor@new-co.example" };
  assert.deepEqual(prefill("contact", person, "Hi", splitName),
    { firstname: "Sam", lastname: "Taylor", emailaddress1: "sam.taylor@new-co.example", jobtitle: "" });
  assert.equal(prefill("lead", person, "Intro", splitName).companyname, "New Co");
  assert.equal(prefill("lead", person, "", splitName).subject, "Email from sam.taylor@new-co.example");
  assert.deepEqual(prefill("account", person, "", splitName), { name: "New Co", emailaddress1: person.address });
  assert.deepEqual(fieldsFrom("contact", { firstname: " Sam ", lastname: "", emailaddress1: "s@x.example" }),
    { fields: { firstname: "Sam", emailaddress1: "s@x.example" }, missing: ["lastname"] });
  assert.deepEqual(fieldsFrom("opportunity", { name: "Deal", estimatedvalue: "1200" }).fields,
    { name: "Deal", estimatedvalue: 1200 });
});
