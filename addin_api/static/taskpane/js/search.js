/* The regarding lookup: suggestions before any typing (the sender's records, their account and its open
   opportunities, recently used records), a table filter, begins-with and `*` contains search, "New". */
import { relatedAccounts } from "./people.js";
import { inFilter, matchesQuery, parseQuery, tablesParam, uniqueRecords } from "./query.js";
import { $, el, icon } from "./render.js";
import { REGARDING_TABLES, pluralLabel, tableLabel } from "./text.js";

const FILTERS = ["all"].concat(REGARDING_TABLES);

function regardingPath(text, tables, top) {
  return "/api/v1/regarding?search=" + encodeURIComponent(text) + "&tables=" + encodeURIComponent(tables) +
    "&top=" + top;
}

/**
 * `ctx`: {store, api, config, recent() → records, choose(record), createNew(table, name), fail(error)}.
 */
export function createLookup(ctx) {
  const store = ctx.store;
  let timer = null;
  let seq = 0;
  let suggestions = null;   // a promise of [{title, records}] for this item, computed once

  function lookup() { return store.get().lookup; }
  function set(changes) { store.dispatch({ type: "lookup", changes: changes }); }

  async function senderSuggestions() {
    const state = store.get();
    const sender = state.people.filter(function (p) { return p.role === "from" || p.role === "organizer"; })[0] ||
      state.people[0];
    const groups = [];
    if (!sender || !sender.card) { return groups; }
    const own = (sender.card.matches || []).filter(function (m) { return REGARDING_TABLES.indexOf(m.table) >= 0; })
      .map(function (m) {
        const detail = [m.company, m.jobTitle].filter(Boolean).join(" · ") || m.detail || null;
        return { table: m.table, id: m.id, name: m.name, detail: detail };
      });
    if (own.length) { groups.push({ title: "From " + (sender.name || sender.address), records: own }); }
    // The sender's account (or their contact's parent account), then its open opportunities and active cases:
    // one call per account, which the service answers with one $batch.
    for (const account of relatedAccounts(sender.card.matches).slice(0, 2)) {
      const related = await ctx.api.get("/api/v1/regarding?account=" + encodeURIComponent(account.id) +
        "&tables=opportunity%2Cincident&top=20");
      const records = (related && related.results) || [];
      if (!records.length) { continue; }
      groups.push({ title: (records[0].name || account.name) + " and its open opportunities and cases",
        records: records });
    }
    return groups;
  }

  function suggestionGroups() {
    if (!suggestions) {
      suggestions = senderSuggestions().catch(function (error) {
        suggestions = null;
        ctx.fail(error);
        return [];
      });
    }
    return suggestions.then(function (groups) {
      const recent = ctx.recent();
      return recent.length ? groups.concat([{ title: "Recent", records: recent }]) : groups;
    });
  }

  function filtered(groups, filter, query) {
    const seen = new Set();
    return groups.map(function (g) {
      const records = g.records.filter(function (r) {
        const key = r.table + ":" + r.id;
        if (seen.has(key) || !inFilter(r, filter) || !matchesQuery(r, query)) { return false; }
        seen.add(key);
        return true;
      });
      return { title: g.title, records: records };
    }).filter(function (g) { return g.records.length; });
  }

  async function showSuggestions() {
    const mine = (seq += 1);
    set({ loading: true, hint: "Suggestions for this item" });
    const groups = filtered(await suggestionGroups(), lookup().filter, null);
    if (mine !== seq) { return; }
    set({ loading: false, groups: groups, hint: groups.length
      ? "Suggested records. Type to search; start with * to find a word anywhere."
      : "Type at least 2 characters; start with * to find a word anywhere." });
  }

  async function search(raw) {
    const query = parseQuery(raw);
    const filter = lookup().filter;
    const mine = (seq += 1);
    if (!query.text) { showSuggestions(); return; }
    if (query.tooShort) {
      set({ groups: [], loading: false, hint: "Type at least 2 characters." });
      return;
    }
    set({ loading: true });
    try {
      // The service takes Dynamics' wildcard itself: "*text" finds the text anywhere in the searched columns.
      const found = await ctx.api.get(regardingPath((query.contains ? "*" : "") + query.text,
        tablesParam(filter, REGARDING_TABLES), ctx.config.searchTop));
      const local = filtered(await suggestionGroups(), filter, query).flatMap(function (g) { return g.records; });
      if (mine !== seq) { return; }
      // A contains search may match a column the pane does not show (a number, an email): keep what was found.
      const remote = ((found && found.results) || []).filter(function (r) {
        return query.contains || matchesQuery(r, query);
      });
      // Dynamics' search begins with the text; with a leading * the records already in the pane that contain it
      // anywhere come first, then what the service found.
      const records = query.contains ? uniqueRecords([local, remote]) : uniqueRecords([remote, local]);
      set({ loading: false, groups: records.length ? [{ title: null, records: records }] : [],
        hint: records.length
          ? records.length + " result" + (records.length === 1 ? "" : "s") + ". Use the arrow keys to move, Enter to choose."
          : "No records match “" + raw.trim() + "”." });
    } catch (error) {
      if (mine === seq) { set({ loading: false }); ctx.fail(error); }
    }
  }

  function onInput() {
    const raw = $("regarding-search").value;
    set({ query: raw });
    clearTimeout(timer);
    const query = parseQuery(raw);
    if (!query.text || query.tooShort) { search(raw); return; }
    timer = setTimeout(function () { search(raw); }, ctx.config.searchDelayMs);
  }

  function setFilter(filter) {
    set({ filter: filter });
    search($("regarding-search").value);
  }

  function resultButton(record) {
    const button = el("button", "result");
    button.type = "button";
    button.dataset.table = record.table;
    button.dataset.id = record.id;
    button.appendChild(icon(record.table));
    const text = el("span", "result-text");
    text.appendChild(el("span", "result-name", record.name || "(no name)"));
    text.appendChild(el("span", "result-meta", [tableLabel(record.table), record.detail].filter(Boolean).join(" · ")));
    button.appendChild(text);
    button.addEventListener("click", function () { ctx.choose(record); });
    return button;
  }

  function render(state, before) {
    const card = $("regarding-card");
    // A message being written has no key, yet a record can be chosen for it (tracked once sent).
    const markable = state.compose && state.kind === "email";
    const open = state.lookup.open && state.canWrite && state.phase === "ready" &&
      (Boolean(state.key) || markable || Boolean(state.tracked && state.tracked.tracked));
    card.hidden = !open;
    if (!open) { return; }
    const tracked = Boolean(state.tracked && state.tracked.tracked);
    $("regarding-title").textContent = tracked && state.tracked.regarding ? "Change regarding" : "Set regarding";
    const chosen = state.chosen;
    $("regarding-chosen").hidden = !chosen;
    $("regarding-chosen-name").textContent = chosen ? chosen.name + " · " + tableLabel(chosen.table) : "";
    $("regarding-chosen-icon").textContent = "";
    if (chosen) { $("regarding-chosen-icon").appendChild(icon(chosen.table)); }
    $("regarding-search").hidden = Boolean(chosen);
    if (!chosen && $("regarding-search").value !== state.lookup.query) {
      $("regarding-search").value = state.lookup.query;
    }
    $("regarding-help").textContent = state.lookup.hint || "";
    $("regarding-help").hidden = Boolean(chosen) || !state.lookup.hint;
    const filters = $("regarding-filters");
    if (!filters.childElementCount) {
      FILTERS.forEach(function (filter) {
        const chip = el("button", "filter");
        chip.type = "button";
        chip.dataset.filter = filter;
        chip.appendChild(icon(filter));
        chip.appendChild(el("span", null, filter === "all" ? "All" : pluralLabel(filter)));
        chip.addEventListener("click", function () { setFilter(filter); });
        filters.appendChild(chip);
      });
    }
    filters.hidden = Boolean(chosen);
    filters.querySelectorAll("button").forEach(function (chip) {
      chip.setAttribute("aria-pressed", chip.dataset.filter === state.lookup.filter ? "true" : "false");
    });
    if (!before || before.lookup.groups !== state.lookup.groups || before.chosen !== state.chosen) {
      const list = $("regarding-results");
      list.textContent = "";
      if (!chosen) {
        state.lookup.groups.forEach(function (group) {
          if (group.title) { list.appendChild(el("li", "group", group.title)); }
          group.records.forEach(function (record) {
            const li = el("li");
            li.appendChild(resultButton(record));
            list.appendChild(li);
          });
        });
      }
    }
    $("lookup-new").hidden = Boolean(chosen);
  }

  function onResultsKey(event) {
    const buttons = Array.prototype.slice.call($("regarding-results").querySelectorAll("button"));
    const index = buttons.indexOf(document.activeElement);
    if (event.key === "ArrowDown" && buttons.length) {
      buttons[Math.min(index + 1, buttons.length - 1)].focus();
      event.preventDefault();
    } else if (event.key === "ArrowUp") {
      if (index <= 0) { $("regarding-search").focus(); } else { buttons[index - 1].focus(); }
      event.preventDefault();
    } else if (event.key === "Escape") {
      $("regarding-search").focus();
    }
  }

  function newMenu() {
    const menu = $("regarding-new-menu");
    menu.hidden = !menu.hidden;
    if (menu.childElementCount) { return; }
    ["contact", "lead", "account", "opportunity"].forEach(function (table) {
      const item = el("button", "small", tableLabel(table));
      item.type = "button";
      item.dataset.newTable = table;
      item.appendChild(icon(table));
      item.addEventListener("click", function () {
        menu.hidden = true;
        ctx.createNew(table, parseQuery($("regarding-search").value).text);
      });
      menu.appendChild(item);
    });
  }

  function wire() {
    const input = $("regarding-search");
    input.addEventListener("focus", function () { if (!parseQuery(input.value).text) { showSuggestions(); } });
    input.addEventListener("input", onInput);
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") { onResultsKey(event); }
      if (event.key === "Escape") { input.value = ""; onInput(); }
    });
    $("regarding-results").addEventListener("keydown", onResultsKey);
    $("regarding-new").addEventListener("click", newMenu);
    $("regarding-clear").addEventListener("click", function () {
      store.dispatch({ type: "choose", record: null });
      $("regarding-search").focus();
    });
    store.subscribe(render);
  }

  return {
    wire: wire,
    open: function () {
      set({ open: true });
      $("regarding-search").focus();
    },
    forgetSuggestions: function () { suggestions = null; }
  };
}
