/* The regarding lookup's query language and result lists. Quick find in model-driven apps matches the start of a
   column's value (a "like" whose text ends with %); the pane does the same, and a leading `*` asks for the text
   anywhere in a name ("*refresh"); a trailing `*` is the same as none.
   https://learn.microsoft.com/en-us/power-apps/developer/data-platform/quick-find
   Pure functions, unit-tested with node's test runner. */

export const MIN_QUERY = 2;

export function parseQuery(raw) {
  let text = String(raw || "").trim();
  const contains = text.startsWith("*");
  text = text.replace(/^\*+/, "").replace(/\*+$/, "").trim();
  return { text: text, contains: contains, tooShort: text.length < MIN_QUERY };
}

function fold(value) {
  return String(value || "").normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
}

/** Whether a record already in the pane (a suggestion, a recent one) matches the query. */
export function matchesQuery(record, query) {
  if (!query || !query.text) { return true; }
  const needle = fold(query.text);
  const haystacks = [record.name, record.detail].map(fold);
  if (query.contains) { return haystacks.some(function (h) { return h.indexOf(needle) >= 0; }); }
  return haystacks.some(function (h) {
    return h.startsWith(needle) || h.split(/[\s,·]+/).some(function (word) { return word.startsWith(needle); });
  });
}

export function inFilter(record, filter) {
  return !filter || filter === "all" || record.table === filter;
}

export function recordKey(record) {
  return record.table + ":" + String(record.id).toLowerCase();
}

/** `lists` concatenated, each record once (the first occurrence keeps its group). */
export function uniqueRecords(lists) {
  const seen = new Set();
  const out = [];
  lists.forEach(function (list) {
    (list || []).forEach(function (record) {
      const key = recordKey(record);
      if (!seen.has(key)) { seen.add(key); out.push(record); }
    });
  });
  return out;
}

/** The `tables=` value for the service's search under a table filter. */
export function tablesParam(filter, tables) {
  return filter && filter !== "all" ? filter : tables.join(",");
}
