// Unit tests of the regarding lookup's query language and result lists.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  inFilter, matchesQuery, parseQuery, tablesParam, uniqueRecords
} from "../../addin_api/static/taskpane/js/query.js";

const LAPTOPS = { table: "opportunity", id: "1", name: "Fabrikam laptop refresh", detail: "Fabrikam, Inc." };

test("a leading * asks for contains, a trailing * changes nothing", () => {
  assert.deepEqual(parseQuery(" *refresh "), { text: "refresh", contains: true, tooShort: false });
  assert.deepEqual(parseQuery("Fabri*"), { text: "Fabri", contains: false, tooShort: false });
  assert.deepEqual(parseQuery("*"), { text: "", contains: true, tooShort: true });
  assert.equal(parseQuery("F").tooShort, true);
});

test("begins-with matches a name or any of its words; contains matches anywhere", () => {
  assert.equal(matchesQuery(LAPTOPS, parseQuery("lap")), true);
  assert.equal(matchesQuery(LAPTOPS, parseQuery("fresh")), false);
  assert.equal(matchesQuery(LAPTOPS, parseQuery("*fresh")), true);
  assert.equal(matchesQuery(LAPTOPS, parseQuery("inc")), true, "the detail (customer) counts too");
  assert.equal(matchesQuery({ name: "Émile Zola" }, parseQuery("emile")), true, "accents are folded");
  assert.equal(matchesQuery(LAPTOPS, null), true);
});

test("the table filter keeps one table, or all", () => {
  assert.equal(inFilter(LAPTOPS, "all"), true);
  assert.equal(inFilter(LAPTOPS, "opportunity"), true);
  assert.equal(inFilter(LAPTOPS, "account"), false);
  assert.equal(tablesParam("incident", ["account", "incident"]), "incident");
  assert.equal(tablesParam("all", ["account", "incident"]), "account,incident");
});

test("a record found twice is listed once, where it was first found", () => {
  const again = { ...LAPTOPS, id: "1", name: "other copy" };
  const other = { table: "account", id: "1", name: "Same id, other table" };
  assert.deepEqual(uniqueRecords([[LAPTOPS], [again, other]]), [LAPTOPS, other]);
});
