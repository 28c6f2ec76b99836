/* Quick create: a small prefilled form for a contact, lead, account or opportunity; after it is saved the item
   is tracked regarding the new record, as Dynamics 365 App for Outlook does for a sender it did not know.
   https://learn.microsoft.com/en-us/dynamics365/outlook-app/user/add-email-recipient-as-a-row */
import { $, el } from "./render.js";
import { tableLabel } from "./text.js";

// Field name, label, input type, max length (the service's allowlist and Dataverse's lengths), required.
export const FORMS = Object.freeze({
  contact: [["firstname", "First name", "text", 50], ["lastname", "Last name", "text", 50, true],
    ["emailaddress1", "Email", "email", 100], ["jobtitle", "Job title", "text", 100]],
  lead: [["subject", "Topic", "text", 300], ["firstname", "First name", "text", 50],
    ["lastname", "Last name", "text", 50, true], ["emailaddress1", "Email", "email", 100],
    ["companyname", "Company", "text", 100], ["jobtitle", "Job title", "text", 100]],
  account: [["name", "Account name", "text", 160, true], ["emailaddress1", "Email", "email", 100],
    ["telephone1", "Phone", "tel", 50], ["address1_city", "City", "text", 80]],
  opportunity: [["name", "Topic", "text", 300, true], ["estimatedvalue", "Est. revenue", "number", 20]]
});

/** The `fields` of POST /api/v1/records from form values: trimmed, empty ones left out; and what is missing. */
export function fieldsFrom(table, values) {
  const fields = {};
  const missing = [];
  FORMS[table].forEach(function (spec) {
    const raw = String((values && values[spec[0]]) || "").trim().slice(0, spec[3]);
    if (!raw) {
      if (spec[4]) { missing.push(spec[0]); }
      return;
    }
    fields[spec[0]] = spec[2] === "number" ? Number(raw) : raw;
  });
  return { fields: fields, missing: missing };
}

/** `ctx`: {store, api, created(record, table), fail(error)}. */
export function createQuickCreate(ctx) {
  const store = ctx.store;

  function readValues() {
    const values = {};
    $("create-fields").querySelectorAll("input").forEach(function (input) { values[input.name] = input.value; });
    return values;
  }

  function render(state, before) {
    const create = state.create;
    $("create-card").hidden = !create;
    if (!create || (before && before.create === create)) { return; }
    if (!before || !before.create || before.create.table !== create.table || before.create.values !== create.values) {
      $("create-title").textContent = "New " + tableLabel(create.table).toLowerCase();
      const box = $("create-fields");
      box.textContent = "";
      FORMS[create.table].forEach(function (spec) {
        const id = "create-" + spec[0];
        const label = el("label", "field-label", spec[1] + (spec[4] ? " *" : ""));
        label.htmlFor = id;
        const input = el("input");
        input.id = id;
        input.name = spec[0];
        input.type = spec[2];
        input.maxLength = spec[3];
        input.required = Boolean(spec[4]);
        input.value = create.values[spec[0]] || "";
        box.appendChild(label);
        box.appendChild(input);
      });
      const tracked = state.tracked && state.tracked.tracked;
      $("create-note").textContent = tracked
        ? "Once saved, this item's regarding is set to the new record."
        : "Once saved, this item is tracked regarding the new record.";
      $("btn-create-save").textContent = tracked ? "Save and set regarding" : "Save and track";
      const first = box.querySelector("input[required]");
      if (first && !first.value) { first.focus(); } else if (box.querySelector("input")) { box.querySelector("input").focus(); }
    }
    const errors = create.errors || {};
    $("create-fields").querySelectorAll("input").forEach(function (input) {
      input.setAttribute("aria-invalid", errors[input.name] ? "true" : "false");
    });
  }

  async function save(event) {
    event.preventDefault();
    const create = store.get().create;
    if (!create || store.get().busy) { return; }
    const built = fieldsFrom(create.table, readValues());
    if (built.missing.length) {
      const errors = {};
      built.missing.forEach(function (name) { errors[name] = ["is required"]; });
      store.dispatch({ type: "create-errors", errors: errors });
      store.dispatch({ type: "say", message: { kind: "error", text: "Fill in the fields marked *." } });
      return;
    }
    store.dispatch({ type: "busy", busy: true });
    let record;
    try {
      record = await ctx.api.write("POST", "/api/v1/records", { table: create.table, fields: built.fields });
    } catch (error) {
      if (error.errors) {
        const errors = {};
        Object.keys(error.errors).forEach(function (key) { errors[key.replace(/^fields\./, "")] = error.errors[key]; });
        store.dispatch({ type: "create-errors", errors: errors });
      }
      store.dispatch({ type: "busy", busy: false });
      ctx.fail(error);
      return;
    }
    store.dispatch({ type: "busy", busy: false });
    store.dispatch({ type: "create-close" });
    await ctx.created(record, create);
  }

  return {
    wire: function () {
      $("create-form").addEventListener("submit", save);
      $("btn-create-cancel").addEventListener("click", function () { store.dispatch({ type: "create-close" }); });
      store.subscribe(render);
    }
  };
}
