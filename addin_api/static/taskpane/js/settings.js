/* The "Automatic tracking" card: the user's personal options for the mailbox sync (GET / PATCH /api/v1/settings),
   read when the card is first opened. Its own small form: nothing else in the pane depends on it. */
import { $ } from "./render.js";
import { describe } from "./text.js";

export function createSettings(deps) {
  let loaded = false;

  function show(options) {
    $("settings-track").value = options.trackIncoming;
    $("settings-autocreate").checked = options.autoCreate === "contact";
  }

  function note(text) { $("settings-note").textContent = text; }

  async function load() {
    if (loaded) { return; }
    note("Loading…");
    try {
      show(await deps.api.get("/api/v1/settings"));
      loaded = true;
      note("");
    } catch (error) {
      note(describe(error, deps.texts));
    }
  }

  async function save(event) {
    event.preventDefault();
    const body = {
      trackIncoming: $("settings-track").value,
      autoCreate: $("settings-autocreate").checked ? "contact" : "none"
    };
    $("settings-save").disabled = true;
    note("Saving…");
    try {
      show(await deps.api.write("PATCH", "/api/v1/settings", body));
      note("Saved.");
    } catch (error) {
      note(describe(error, deps.texts));
    } finally {
      $("settings-save").disabled = false;
    }
  }

  return {
    wire: function () {
      $("settings-card").addEventListener("toggle", function () { if ($("settings-card").open) { load(); } });
      $("settings-form").addEventListener("submit", save);
    }
  };
}
