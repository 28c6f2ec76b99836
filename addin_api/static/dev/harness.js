/* The dev harness: picks a demo user and a sample item, hosts the real pane with the Office.js stand-in, and polls
   the emulated Dataverse (through the service's dev-only routes) to show what the pane wrote. Dev only. */
(function () {
  "use strict";

  function $(id) { return document.getElementById(id); }

  // `/dev?user=…&sample=…&naa=1` opens the harness on that user and item.
  var params = new URLSearchParams(window.location.search);
  var current = {
    user: params.get("user") || "alice@contoso.example", sample: params.get("sample") || "dana-read",
    userName: null, naa: params.get("naa") === "1"
  };
  var names = {};
  // What each demo user shows, in words (the devstack names the scenarios).
  var SCENARIOS = {
    full_rights: "Can do everything: track, set regarding, create records.",
    no_office_apps_privilege: "Lacks the \"Use Dynamics 365 App for Outlook\" privilege: sees data, cannot track.",
    read_only: "Read-only security role: sees data; tracking and creating records are refused.",
    mfa_claims_challenge: "Conditional access asks for MFA: the pane answers one claims challenge.",
    no_consent: "Has not consented to the add-in: the pane offers consent.",
    tenant_not_allowed: "Belongs to a tenant this deployment does not serve."
  };
  // Faults match the pane's Dataverse calls ($batch: track, search, people, who-am-I), not the live view's reads,
  // so the pane's next action is the one that meets them.
  var PANE_CALLS = "\\$batch";
  var POLL_MS = 10000;

  window.devHarness = {
    config: function () {
      return { user: current.user, sample: current.sample, userName: names[current.user] || null, naa: current.naa };
    },
    standinChanged: function (state) {
      schedulePoll();
      var box = $("item-categories");
      box.textContent = "";
      state.itemCategories.forEach(function (c) {
        var chip = document.createElement("span");
        chip.textContent = c.displayName;
        if (/Undeliverable/.test(c.displayName)) { chip.className = "undeliverable"; }
        box.appendChild(chip);
      });
    }
  };

  function showItem() {
    var built = window.OfficeStandin.buildItem(window.devHarness.config());
    var spec = built.spec;
    $("item-subject").textContent = spec.subject;
    var people = spec.kind === "message"
      ? "From " + (spec.from.displayName || spec.from.emailAddress) + " to " +
        spec.to.map(function (p) { return p.displayName || p.emailAddress; }).join(", ")
      : "Organizer " + spec.organizer.displayName + " · " + new Date(spec.start).toLocaleString() +
        (spec.location ? " · " + spec.location : "");
    $("item-people").textContent = people + (spec.mode === "compose" ? " (compose)" : "");
    $("item-body").textContent = spec.body.replace(/<[^>]+>/g, " ");
  }

  function reloadPane() {
    showItem();
    $("item-categories").textContent = "";
    $("pane").src = "/dev/pane?user=" + encodeURIComponent(current.user) + "&sample=" + encodeURIComponent(current.sample) +
      (current.naa ? "&naa=1" : "") + "&t=" + Date.now();
  }

  async function post(path, body, method) {
    var response = await fetch(path, {
      method: method || "POST", headers: { "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined
    });
    $("control-status").textContent = response.ok ? "Done." : "The devstack refused (" + response.status + ").";
  }

  var pollTimer = null;

  function schedulePoll() {
    // Soon after the pane changed something (a category, a token), else every POLL_MS while the page is visible.
    clearTimeout(pollTimer);
    pollTimer = setTimeout(function () { poll(); }, 500);
  }

  function describeUser(option) {
    var scenario = (option && option.dataset.scenario) || "";
    return SCENARIOS[scenario] || scenario;
  }

  async function loadUsers() {
    var response = await fetch("/dev/api/users");
    var users = response.ok ? (await response.json()).users : [{ upn: current.user, scenario: "" }];
    var select = $("pick-user");
    users.forEach(function (u) {
      names[u.upn] = u.name || null;
      var option = document.createElement("option");
      option.value = u.upn;
      option.textContent = (u.name ? u.name + " — " : "") + u.upn;
      option.dataset.scenario = u.scenario || "";
      select.appendChild(option);
    });
    select.value = current.user;
    $("user-scenario").textContent = describeUser(select.selectedOptions[0]);
  }

  function loadSamples() {
    var select = $("pick-sample");
    window.OfficeStandin.samples.forEach(function (s) {
      var option = document.createElement("option");
      option.value = s.id;
      option.textContent = s.label;
      select.appendChild(option);
    });
    select.value = current.sample;
  }

  var TRACKED = "Tracked to Dynamics 365";

  async function loadMail() {
    var response = await fetch("/dev/api/mail?user=" + encodeURIComponent(current.user));
    var list = $("mail-items");
    list.textContent = "";
    if (!response.ok) { return; }
    (await response.json()).messages.forEach(function (m) {
      var li = document.createElement("li");
      var tracked = m.categories.indexOf(TRACKED) >= 0;
      var label = document.createElement("label");
      label.className = "check";
      var box = document.createElement("input");
      box.type = "checkbox";
      box.checked = tracked;
      box.addEventListener("change", async function () {
        await post("/dev/api/mail/categorize", { user: current.user, id: m.id, tracked: box.checked });
        loadMail();
        setTimeout(poll, 1500);
      });
      label.appendChild(box);
      label.appendChild(document.createTextNode(" " + (m.subject || "(no subject)") + " — " + (m.from || "")));
      li.appendChild(label);
      m.categories.filter(function (c) { return c !== TRACKED; }).forEach(function (c) {
        var chip = document.createElement("span");
        chip.className = /Undeliverable/.test(c) ? "undeliverable" : "muted";
        chip.textContent = " " + c;
        li.appendChild(chip);
      });
      list.appendChild(li);
    });
  }

  async function poll() {
    try {
      var response = await fetch("/dev/api/activity?user=" + encodeURIComponent(current.user));
      if (!response.ok) { return; }
      var items = (await response.json()).items;
      var list = $("live-items");
      list.textContent = "";
      items.forEach(function (item) {
        var li = document.createElement("li");
        var kind = document.createElement("div");
        kind.className = "kind";
        kind.textContent = item.type + (item.createdOn ? " · " + new Date(item.createdOn).toLocaleString() : "");
        var subject = document.createElement("div");
        subject.textContent = item.subject || "(no subject)";
        var regarding = document.createElement("div");
        regarding.className = "muted";
        regarding.textContent = "Regarding: " + (item.regarding || "none");
        li.appendChild(kind);
        li.appendChild(subject);
        li.appendChild(regarding);
        list.appendChild(li);
      });
    } catch (offline) { /* the next poll tries again */ }
  }

  document.addEventListener("DOMContentLoaded", async function () {
    loadSamples();
    await loadUsers();
    $("pick-user").addEventListener("change", function (event) {
      current.user = event.target.value;
      $("user-scenario").textContent = describeUser(event.target.selectedOptions[0]);
      reloadPane();
      poll();
      loadMail();
    });
    $("pick-sample").addEventListener("change", function (event) { current.sample = event.target.value; reloadPane(); });
    $("pick-naa").addEventListener("change", function (event) { current.naa = event.target.checked; reloadPane(); });
    $("reload").addEventListener("click", reloadPane);
    $("fault-throttle").addEventListener("click", function () {
      post("/dev/api/faults", { status: 429, retryAfter: 5, count: 1, path: PANE_CALLS });
    });
    $("fault-outage").addEventListener("click", function () {
      // Four failures outlast the service's two retries of a read, so the pane sees the outage.
      post("/dev/api/faults", { status: 503, retryAfter: 1, count: 4, path: PANE_CALLS });
    });
    $("fault-clear").addEventListener("click", function () { post("/dev/api/faults", null, "DELETE"); });
    $("reset").addEventListener("click", async function () {
      await post("/dev/api/reset"); reloadPane(); poll(); loadMail();
    });
    $("mail-deliver").addEventListener("click", async function () {
      await post("/dev/api/mail/deliver", { user: current.user });
      loadMail();
    });
    $("pick-naa").checked = current.naa;
    reloadPane();
    poll();
    loadMail();
    setInterval(function () { if (!document.hidden) { poll(); loadMail(); } }, POLL_MS);
  });
})();
