/* Who takes part in the item and which Dynamics 365 record each address resolves to. Pure functions. */

// Dynamics resolves a From address to "the first active row in the following order: SystemUser, Contact, Account,
// Lead" (then other email-enabled tables).
// https://learn.microsoft.com/en-us/power-platform/admin/associate-email-address
export const RESOLUTION_ORDER = Object.freeze(["systemuser", "contact", "account", "lead"]);

const ROLE_LABELS = Object.freeze({
  from: "Sender", to: "To", cc: "Cc", bcc: "Bcc", organizer: "Organizer", required: "Required", optional: "Optional"
});

export function roleLabel(role) {
  return ROLE_LABELS[role] || role;
}

/** Every sender, recipient and attendee once (the first role wins), the user's own address last-but-kept out. */
export function participants(basics, myAddress, limit) {
  if (!basics) { return []; }
  const me = String(myAddress || "").toLowerCase();
  const groups = basics.organizer !== undefined
    ? [["organizer", [basics.organizer]], ["required", basics.requiredAttendees], ["optional", basics.optionalAttendees]]
    : [["from", [basics.from]], ["to", basics.to], ["cc", basics.cc], ["bcc", basics.bcc]];
  const seen = new Set();
  const out = [];
  groups.forEach(function (group) {
    (group[1] || []).forEach(function (p) {
      if (!p || !p.address) { return; }
      const address = p.address.toLowerCase();
      if (address === me || seen.has(address)) { return; }
      seen.add(address);
      out.push({ address: p.address, name: p.name || null, role: group[0] });
    });
  });
  return out.slice(0, limit === undefined ? out.length : limit);
}

/** The record Dynamics links an address to, and how many candidates there were (for "one of N"). */
export function resolvesTo(matches) {
  const candidates = (matches || []).filter(function (m) { return RESOLUTION_ORDER.indexOf(m.table) >= 0; });
  if (!candidates.length) { return null; }
  const ranked = candidates.slice().sort(function (a, b) {
    return RESOLUTION_ORDER.indexOf(a.table) - RESOLUTION_ORDER.indexOf(b.table);
  });
  const first = ranked[0];
  const sameTable = candidates.filter(function (m) { return m.table === first.table; }).length;
  return { record: first, of: candidates.length, sameTable: sameTable };
}

/** After tracking, the record the service linked the sender to (from the tracked view's parties). */
export function resolvedFromView(view, role) {
  const party = ((view && view.parties) || []).filter(function (p) { return p.role === role; })[0];
  return party && party.resolved && party.resolved.length ? party.resolved[0] : null;
}

/** The accounts whose open opportunities and cases to suggest: each account the address resolves to, and each
    matched contact's parent account (the card's `companyId`), once, in the card's order. */
export function relatedAccounts(matches) {
  const seen = new Set();
  const out = [];
  (matches || []).forEach(function (match) {
    const account = match.table === "account" ? { id: match.id, name: match.name }
      : match.table === "contact" && match.companyId ? { id: match.companyId, name: match.company } : null;
    if (account && !seen.has(String(account.id).toLowerCase())) {
      seen.add(String(account.id).toLowerCase());
      out.push(account);
    }
  });
  return out;
}

/** A form's starting values for a new record from an Outlook person and the item's subject. */
export function prefill(table, person, subject, splitName) {
  const name = splitName(person || {});
  const address = (person && person.address) || "";
  const domain = address.split("@")[1] || "";
  const company = domain ? domain.split(".")[0].replace(/[-_]+/g, " ").replace(/\b\p{L}/gu, function (c) {
    return c.toUpperCase();
  }) : "";
  if (table === "account") { return { name: company, emailaddress1: address }; }
  const values = { firstname: name.first || "", lastname: name.last || "", emailaddress1: address, jobtitle: "" };
  if (table === "lead") {
    values.companyname = company;
    values.subject = subject || ("Email from " + address);
  }
  return values;
}
