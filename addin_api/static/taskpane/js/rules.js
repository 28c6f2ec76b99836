/* The "Folder tracking rules" card: what is moved into a folder under the Inbox is tracked regarding a record
   (GET / POST /api/v1/folder-rules, DELETE /api/v1/folder-rules/{id}; the folders from /api/v1/mail-folders).
   Read when the card is first opened; its own small form: nothing else in the pane depends on it. */
import { $ } from "./render.js";
import { describe, ruleLine, tableLabel } from "./text.js";

const SEARCH_DELAY_MS = 250;

export function createRules(deps) {
  let loaded = false;
  let chosen = null;   // the record picked for a new rule: {table, id, name}
  let timer = null;
  let seq = 0;

  function note(text) { $("rules-note").textContent = text; }

  function item(rule) {
    const li = document.createElement("li");
    li.className = "rule" + (rule.active ? "" : " rule-disabled");
    li.dataset.rule = rule.id;
    const text = document.createElement("span");
    text.textContent = ruleLine(rule);
    li.appendChild(text);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", "Remove the rule for " + rule.folderName);
    remove.addEventListener("click", function () { removeRule(rule); });
    li.appendChild(remove);
    return li;
  }

  function showRules(found) {
    const list = $("rules-list");
    list.replaceChildren.apply(list, found.rules.map(item));
    $("rules-empty").hidden = found.rules.length > 0 || !found.enabled;
    $("rules-form").hidden = !found.enabled;
    $("rules-off").hidden = found.enabled;
    $("rules-count").textContent = found.enabled ? found.rules.length + " of " + found.limit + " rules" : "";
  }

  function showFolders(found) {
    const select = $("rules-folder");
    const options = found.folders.map(function (f) {
      const option = document.createElement("option");
      option.value = f.id;
      option.textContent = f.path;
      return option;
    });
    const placeholder = document.createElement("option");
    placeholder.value = "";
    placeholder.textContent = found.folders.length ? "Choose a folder under your Inbox" : "No folders under your Inbox";
    select.replaceChildren.apply(select, [placeholder].concat(options));
  }

  async function load() {
    if (loaded) { return; }
    note("Loading…");
    try {
      const found = await Promise.all([deps.api.get("/api/v1/folder-rules"), deps.api.get("/api/v1/mail-folders")]);
      showRules(found[0]);
      showFolders(found[1]);
      loaded = true;
      note("");
    } catch (error) {
      note(describe(error, deps.texts));
    }
  }

  async function refresh() { showRules(await deps.api.get("/api/v1/folder-rules")); }

  function choose(record) {
    chosen = record;
    $("rules-record").textContent = record ? record.name + " · " + tableLabel(record.table) : "";
    $("rules-results").replaceChildren();
    $("rules-add").disabled = !record;
  }

  async function search(text) {
    const mine = ++seq;
    if (text.trim().length < 2) { $("rules-results").replaceChildren(); return; }
    try {
      const found = await deps.api.get("/api/v1/regarding?search=" + encodeURIComponent(text) + "&top=8");
      if (mine !== seq) { return; }
      const buttons = found.results.map(function (r) {
        const li = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.table = r.table;
        button.textContent = r.name + " · " + tableLabel(r.table);
        button.addEventListener("click", function () { choose({ table: r.table, id: r.id, name: r.name }); });
        li.appendChild(button);
        return li;
      });
      $("rules-results").replaceChildren.apply($("rules-results"), buttons);
    } catch (error) {
      note(describe(error, deps.texts));
    }
  }

  async function add(event) {
    event.preventDefault();
    const folderId = $("rules-folder").value;
    if (!folderId || !chosen) { note("Choose a folder and a record."); return; }
    $("rules-add").disabled = true;
    note("Saving…");
    try {
      await deps.api.write("POST", "/api/v1/folder-rules",
        { folderId: folderId, regarding: { table: chosen.table, id: chosen.id } });
      await refresh();
      $("rules-search").value = "";
      choose(null);
      note("Saved. Mail you move into the folder is tracked within seconds.");
    } catch (error) {
      note(describe(error, deps.texts));
      $("rules-add").disabled = !chosen;
    }
  }

  async function removeRule(rule) {
    note("Removing…");
    try {
      await deps.api.write("DELETE", "/api/v1/folder-rules/" + encodeURIComponent(rule.id));
      await refresh();
      note("Removed. What the rule tracked stays tracked.");
    } catch (error) {
      note(describe(error, deps.texts));
    }
  }

  return {
    wire: function () {
      $("rules-card").addEventListener("toggle", function () { if ($("rules-card").open) { load(); } });
      $("rules-form").addEventListener("submit", add);
      $("rules-search").addEventListener("input", function (event) {
        clearTimeout(timer);
        const text = event.target.value;
        timer = setTimeout(function () { search(text); }, SEARCH_DELAY_MS);
      });
    }
  };
}
