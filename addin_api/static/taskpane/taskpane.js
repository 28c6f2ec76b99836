/*
 * The Outlook task pane: reads the current item with Office.js, gets the user's SSO token, and tracks the item to
 * Dynamics 365 through this service's /api/v1 (DESIGN §4). Plain browser JavaScript, no build step.
 */
(function () {
  "use strict";

  var TRACKED_CATEGORY = "Tracked to Dynamics 365";
  var UNDELIVERABLE_CATEGORY = "Tracked to Dynamics 365 (Undeliverable)";
  // Dynamics 365 App for Outlook's own wording for users without prvUseOfficeApps.
  var ADD_IN_NOT_ALLOWED =
    "Track and Set Regarding are currently disabled. To use these features, please contact your admin. " +
    "You can still view and interact with your Dynamics 365 data.";
  var MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024;
  var SEARCH_DELAY_MS = 300;
  var TABLE_LABELS = {
    account: "Account", contact: "Contact", lead: "Lead", opportunity: "Opportunity", incident: "Case",
    systemuser: "User", email: "Email", appointment: "Appointment", phonecall: "Phone call", task: "Task"
  };
  // The service's check, so an address Outlook gives us that Dataverse cannot hold is left out, not refused.
  var ADDRESS = /^[^@\s<>"',;()[\]\\]{1,64}@[^@\s<>"',;()[\]\\]{1,255}$/;

  var state = {
    item: null,
    kind: "email",        // or "appointment"
    compose: false,
    key: null,            // internetMessageId or globalObjectId
    basics: null,         // subject and parties, read once
    tracked: null,        // the service's tracked view, or null
    chosen: null,         // regarding picked before tracking
    person: null,         // the address the sender card shows
    canWrite: true,
    token: null,
    steppedUp: false,
    busy: false,
    searchSeq: 0
  };

  function $(id) { return document.getElementById(id); }

  // ---------------------------------------------------------------- messages

  var countdownTimer = null;

  function say(kind, text, options) {
    options = options || {};
    var box = $("message");
    box.className = "message " + kind;
    box.setAttribute("role", kind === "error" ? "alert" : "status");
    $("message-text").textContent = text;
    $("message-countdown").hidden = true;
    $("message-retry").hidden = !options.retry;
    $("message-retry").onclick = options.retry || null;
    box.hidden = false;
  }

  function clearMessage() {
    $("message").hidden = true;
    $("message-text").textContent = "";
  }

  function countdown(seconds) {
    // Show the wait Dynamics asked for; one retry follows it, never a storm.
    return new Promise(function (resolve) {
      var left = Math.max(1, Math.ceil(seconds));
      var line = $("message-countdown");
      line.hidden = false;
      function tick() {
        line.textContent = "Trying again in " + left + " s…";
        if (left <= 0) {
          clearInterval(countdownTimer);
          countdownTimer = null;
          line.hidden = true;
          resolve();
        }
        left -= 1;
      }
      if (countdownTimer) { clearInterval(countdownTimer); }
      tick();
      countdownTimer = setInterval(tick, 1000);
    });
  }

  // ---------------------------------------------------------------- Office.js helpers

  function officeCall(start) {
    return new Promise(function (resolve, reject) {
      start(function (result) {
        if (result.status === Office.AsyncResultStatus.Succeeded) { resolve(result.value); }
        else { reject(result.error || new Error("Office call failed")); }
      });
    });
  }

  function getField(value) {
    // Read mode exposes plain values; compose mode objects with getAsync.
    if (value && typeof value.getAsync === "function") {
      return officeCall(function (cb) { value.getAsync(cb); });
    }
    return Promise.resolve(value);
  }

  function addressOf(details) {
    if (!details || !details.emailAddress || !ADDRESS.test(details.emailAddress)) { return null; }
    return { address: details.emailAddress, name: details.displayName || null };
  }

  function addresses(list) {
    return (list || []).map(addressOf).filter(Boolean);
  }

  function toIso(value) {
    var date = value instanceof Date ? value : new Date(value);
    return isNaN(date.getTime()) ? new Date().toISOString() : date.toISOString();
  }

  function messageIdFromHeaders(headers) {
    var match = /^message-id:\s*(<[^>\r\n]+>)/im.exec(headers || "");
    return match ? match[1] : null;
  }

  function myAddress() {
    var profile = Office.context.mailbox.userProfile || {};
    return (profile.emailAddress || "").toLowerCase();
  }

  async function itemKey(item) {
    if (state.kind === "email") {
      if (state.compose) { return null; }  // Outlook assigns the Message-ID when the message is sent.
      if (item.internetMessageId) { return item.internetMessageId; }
      if (typeof item.getAllInternetHeadersAsync === "function") {
        return messageIdFromHeaders(await officeCall(function (cb) { item.getAllInternetHeadersAsync(cb); }));
      }
      return null;
    }
    // Appointments: Office.js offers the item id (getItemIdAsync in compose, itemId in read); the REST form of
    // it is stable for the mailbox, which is what Dataverse's globalobjectid is compared against here.
    var id = item.itemId;
    if (!id && typeof item.getItemIdAsync === "function") {
      try {
        id = await officeCall(function (cb) { item.getItemIdAsync(cb); });
      } catch (notSaved) {
        id = await officeCall(function (cb) { item.saveAsync(cb); });
      }
    }
    var mailbox = Office.context.mailbox;
    if (id && typeof mailbox.convertToRestId === "function" && Office.MailboxEnums && Office.MailboxEnums.RestVersion) {
      id = mailbox.convertToRestId(id, Office.MailboxEnums.RestVersion.v2_0);
    }
    return id || null;
  }

  async function readBasics(item) {
    var subject = (await getField(item.subject)) || "";
    if (state.kind === "email") {
      var from = state.compose && item.from && item.from.getAsync
        ? await getField(item.from)
        : item.from || (state.compose ? { emailAddress: myAddress(), displayName: "" } : null);
      var to = addresses(await getField(item.to));
      var cc = addresses(await getField(item.cc));
      var bcc = state.compose && item.bcc ? addresses(await getField(item.bcc)) : [];
      var sender = addressOf(from);
      var person = sender && sender.address.toLowerCase() !== myAddress() ? sender : to[0] || sender;
      return {
        subject: subject, from: sender, to: to, cc: cc, bcc: bcc,
        sentAt: toIso(item.dateTimeCreated || new Date()), person: person
      };
    }
    var organizer = addressOf(await getField(item.organizer));
    var required = addresses(await getField(item.requiredAttendees));
    var optional = addresses(await getField(item.optionalAttendees));
    var start = await getField(item.start);
    var end = await getField(item.end);
    var location = (await getField(item.location)) || null;
    var allDay = item.isAllDayEvent !== undefined ? await getField(item.isAllDayEvent) : false;
    var me = myAddress();
    var others = required.concat(optional).filter(function (p) { return p.address.toLowerCase() !== me; });
    var person = organizer && organizer.address.toLowerCase() !== me ? organizer : others[0] || organizer;
    return {
      subject: subject, organizer: organizer, requiredAttendees: required, optionalAttendees: optional,
      start: toIso(start), end: toIso(end), location: location, isAllDay: Boolean(allDay), person: person
    };
  }

  async function readAttachments(item) {
    var list = state.compose
      ? await officeCall(function (cb) { item.getAttachmentsAsync(cb); })
      : item.attachments || [];
    var files = list.filter(function (a) {
      return a.attachmentType === "file" && !a.isInline && (!a.size || a.size <= MAX_ATTACHMENT_BYTES);
    });
    var found = [];
    for (var i = 0; i < files.length; i += 1) {
      var content = await officeCall(function (cb) { item.getAttachmentContentAsync(files[i].id, cb); });
      if (content && content.format === "base64") {
        found.push({
          name: files[i].name, contentType: files[i].contentType || "application/octet-stream",
          contentBase64: content.content
        });
      }
    }
    return found;
  }

  async function trackBody() {
    var item = state.item;
    var b = state.basics;
    var body = await officeCall(function (cb) { item.body.getAsync(Office.CoercionType.Html, cb); });
    var payload = { subject: b.subject.slice(0, state.kind === "email" ? 800 : 200), body: body || "",
      bodyType: "html", attachments: await readAttachments(item) };
    if (state.kind === "email") {
      payload.internetMessageId = state.key;
      payload.from = b.from;
      payload.to = b.to;
      payload.cc = b.cc;
      payload.bcc = b.bcc;
      payload.sentAt = b.sentAt;
    } else {
      payload.globalObjectId = state.key;
      payload.start = b.start;
      payload.end = b.end;
      payload.isAllDay = b.isAllDay;
      payload.location = b.location ? b.location.slice(0, 200) : null;
      payload.organizer = b.organizer;
      payload.requiredAttendees = b.requiredAttendees;
      payload.optionalAttendees = b.optionalAttendees;
    }
    return payload;
  }

  // ---------------------------------------------------------------- categories

  async function ensureMasterCategory(name, color) {
    var master = Office.context.mailbox.masterCategories;
    if (!master) { return; }
    var list = (await officeCall(function (cb) { master.getAsync(cb); })) || [];
    if (list.some(function (c) { return c.displayName === name; })) { return; }
    try {
      await officeCall(function (cb) { master.addAsync([{ displayName: name, color: color }], cb); });
    } catch (error) {
      if (!error || error.name !== "DuplicateCategory") { throw error; }
    }
  }

  function presetColor(name) {
    var colors = Office.MailboxEnums && Office.MailboxEnums.CategoryColor;
    return (colors && colors[name]) || name;
  }

  async function addCategory(name, color) {
    var item = state.item;
    if (!item.categories) { return; }
    try {
      await ensureMasterCategory(name, presetColor(color));
      await officeCall(function (cb) { item.categories.addAsync([name], cb); });
    } catch (error) {
      // Categories are a convenience; a mailbox that refuses them must not undo a successful track.
      console.warn("could not add the category", name, error && error.name);
    }
  }

  async function removeCategory(name) {
    var item = state.item;
    if (!item.categories) { return; }
    try {
      var applied = (await officeCall(function (cb) { item.categories.getAsync(cb); })) || [];
      if (applied.some(function (c) { return c.displayName === name; })) {
        await officeCall(function (cb) { item.categories.removeAsync([name], cb); });
      }
    } catch (error) {
      console.warn("could not remove the category", name, error && error.name);
    }
  }

  // ---------------------------------------------------------------- the service

  function ApiError(code, status, detail, extra) {
    this.code = code;
    this.status = status;
    this.detail = detail;
    this.retryAfter = (extra && extra.retryAfter) || null;
    this.claims = (extra && extra.claims) || null;
    this.errors = (extra && extra.errors) || null;
  }

  // ---------------------------------------------------------------- tokens

  // MSAL nested app authentication (NAA) where the host offers it, Office's getAccessToken SSO otherwise. Both give
  // a token for this service's access_as_user scope; the service validates them alike (only `azp` differs).
  // https://learn.microsoft.com/office/dev/add-ins/develop/enable-nested-app-authentication-in-your-add-in
  var MSAL_URL = "/taskpane/vendor/msal-browser.min.js";
  var NAA_AUTHORITY = "https://login.microsoftonline.com/common";
  var nestedApp = null;  // a promise of {pca, scopes}, or of null once NAA is known to be unusable here

  function naaSupported() {
    var requirements = Office.context && Office.context.requirements;
    try {
      return Boolean(requirements && requirements.isSetSupported("NestedAppAuth", "1.1"));
    } catch (notAvailable) {
      return false;
    }
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.async = true;
      script.onload = resolve;
      script.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(script);
    });
  }

  function isNested(pca) {
    // createNestablePublicClientApplication quietly returns a standard (popup and redirect) client when the host's
    // bridge does not answer; that one cannot sign in from inside Outlook, so it counts as "no NAA".
    var context = pca && pca.controller && pca.controller.operatingContext;
    return !(context && typeof context.getId === "function") || context.getId() === "NestedAppOperatingContext";
  }

  async function startNestedApp() {
    var response = await fetch("/taskpane/config.json", { credentials: "omit", cache: "no-store" });
    if (!response.ok) { throw new Error("no pane configuration (" + response.status + ")"); }
    var config = await response.json();
    if (!window.msal) { await loadScript(MSAL_URL); }
    var pca = await window.msal.createNestablePublicClientApplication({
      auth: { clientId: config.naaClientId, authority: NAA_AUTHORITY }
    });
    if (!isNested(pca)) { throw new Error("the host's nested app authentication bridge is not available"); }
    return { pca: pca, scopes: [config.apiScope] };
  }

  function nestedAppClient() {
    if (!nestedApp) {
      nestedApp = naaSupported()
        ? startNestedApp().catch(function (error) {
          console.warn("nested app authentication is unavailable; using Office SSO", error && error.message);
          return null;
        })
        : Promise.resolve(null);
    }
    return nestedApp;
  }

  function isAuthRefusal(error) {
    // The user closed the sign-in prompt, or it could not satisfy the directory: Office SSO would fare no better.
    var msal = window.msal;
    return Boolean(error && (error.errorCode === "user_canceled" ||
      (msal && msal.InteractionRequiredAuthError && error instanceof msal.InteractionRequiredAuthError)));
  }

  async function nestedAppToken(app, claims, forceRefresh) {
    var request = { scopes: app.scopes };
    if (claims) { request.claims = claims; }
    if (forceRefresh) { request.forceRefresh = true; }
    try {
      return (await app.pca.acquireTokenSilent(request)).accessToken;
    } catch (error) {
      if (!(error instanceof window.msal.InteractionRequiredAuthError)) { throw error; }
    }
    // Consent, a fresh sign-in or the claims need the user: the host shows its own prompt.
    return (await app.pca.acquireTokenPopup({ scopes: request.scopes, claims: request.claims })).accessToken;
  }

  async function getToken(claims, forceRefresh) {
    var app = await nestedAppClient();
    if (app) {
      try {
        state.token = await nestedAppToken(app, claims, forceRefresh);
        return state.token;
      } catch (error) {
        if (isAuthRefusal(error)) { throw new ApiError("sso_failed", 0, error.errorCode || "interaction_required"); }
        console.warn("nested app authentication failed; using Office SSO", error && (error.errorCode || error.name));
        nestedApp = Promise.resolve(null);
      }
    }
    var options = { allowSignInPrompt: true, allowConsentPrompt: true, forMSGraphAccess: false };
    if (claims) { options.authChallenge = claims; }
    try {
      state.token = await Office.auth.getAccessToken(options);
    } catch (error) {
      throw new ApiError("sso_failed", 0, (error && (error.code || error.name)) || "unknown");
    }
    return state.token;
  }

  async function send(method, path, body, token) {
    var headers = { Accept: "application/json", Authorization: "Bearer " + token };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    var response;
    try {
      response = await fetch(path, {
        method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit", cache: "no-store"
      });
    } catch (networkError) {
      throw new ApiError("network", 0, "offline");
    }
    var data = null;
    var text = await response.text();
    if (text) {
      try { data = JSON.parse(text); } catch (notJson) { data = null; }
    }
    if (response.ok) { return data; }
    var retryAfter = parseInt(response.headers.get("Retry-After") || "", 10);
    var code = (data && data.code) || (response.status >= 500 ? "server_error" : "http_" + response.status);
    throw new ApiError(code, response.status, data && data.detail, {
      retryAfter: isNaN(retryAfter) ? null : retryAfter, claims: data && data.claims, errors: data && data.errors
    });
  }

  async function api(method, path, body, options) {
    options = options || {};
    var token = state.token || (await getToken(null, Boolean(options.refreshed)));
    try {
      return await send(method, path, body, token);
    } catch (error) {
      if (!(error instanceof ApiError)) { throw error; }
      if (error.code === "claims_challenge" && error.claims && !state.steppedUp) {
        // Conditional access wants more (e.g. MFA): ask once (MSAL or Office) for a token with the claims.
        // https://learn.microsoft.com/office/dev/add-ins/develop/sso-in-office-add-ins
        state.steppedUp = true;
        return send(method, path, body, await getToken(error.claims));
      }
      if ((error.code === "token_expired" || error.code === "invalid_token") && !options.refreshed) {
        state.token = null;
        return api(method, path, body, { refreshed: true, throttleRetry: options.throttleRetry });
      }
      if (error.code === "throttled" && options.throttleRetry) {
        var wait = error.retryAfter || 5;
        say("warning", "Dynamics 365 is busy right now.");
        await countdown(wait);
        try {
          var result = await send(method, path, body, state.token);
          clearMessage();
          return result;
        } catch (again) {
          if (again instanceof ApiError && again.code === "throttled") {
            again.detail = "still_busy";
          }
          throw again;
        }
      }
      throw error;
    }
  }

  function describe(error) {
    switch (error.code) {
      case "add_in_not_allowed":
        return ADD_IN_NOT_ALLOWED;
      case "consent_required":
        return "Dynamics 365 needs your consent (or your admin's) before this add-in can work for you. " +
          "Ask your admin to grant consent to the add-in, then open the pane again.";
      case "claims_challenge":
        return "Your organization requires an additional sign-in step that could not be completed. " +
          "Close the pane, sign in again and retry.";
      case "sso_failed":
        return "We couldn't sign you in to Dynamics 365 (" + error.detail + "). Close the pane and try again.";
      case "tenant_not_allowed":
      case "client_app_not_allowed":
      case "insufficient_scope":
        return "Your organization isn't set up to use this add-in with Dynamics 365.";
      case "invalid_token":
      case "token_expired":
        return "Your sign-in has expired. Close the pane and open it again.";
      case "dataverse_forbidden":
        return "Dynamics 365 didn't allow this: your security role doesn't grant it.";
      case "not_found":
        return "That record no longer exists in Dynamics 365, or you can't see it.";
      case "conflict":
        return "Someone changed this record at the same time. Try again.";
      case "payload_too_large":
        return "This item is too large to track. Remove large attachments and try again.";
      case "validation_failed":
        return "Dynamics 365 can't accept this item as it is" + firstError(error.errors) + ".";
      case "throttled":
        return error.detail === "still_busy"
          ? "Dynamics 365 is still busy. Please try again in a minute."
          : "Dynamics 365 is busy right now. Please try again in " + (error.retryAfter || 60) + " seconds.";
      case "network":
        return "Can't reach the service. Check your connection and try again.";
      default:
        if (error.status >= 500) {
          return "Dynamics 365 isn't available right now. Please try again in a few minutes.";
        }
        return "Something went wrong (" + error.code + "). Please try again.";
    }
  }

  function firstError(errors) {
    if (!errors) { return ""; }
    var field = Object.keys(errors)[0];
    return field ? " (" + field + ")" : "";
  }

  function fail(error, retry) {
    if (!(error instanceof ApiError)) {
      console.error(error);
      say("error", "Something went wrong reading this item. Close the pane and try again.");
      return;
    }
    if (error.code === "add_in_not_allowed") {
      disableWrites();
      say("warning", ADD_IN_NOT_ALLOWED);
      return;
    }
    var transient = error.code === "network" || error.code === "throttled" || error.status >= 500;
    say(error.code === "throttled" ? "warning" : "error", describe(error), transient && retry ? { retry: retry } : {});
  }

  // ---------------------------------------------------------------- rendering

  function setBusy(busy) {
    state.busy = busy;
    $("main").setAttribute("aria-busy", busy ? "true" : "false");
    var ids = ["btn-track", "btn-track-plain", "btn-change-regarding", "btn-untrack", "btn-add-contact",
      "btn-add-lead"];
    ids.forEach(function (id) {
      var button = $(id);
      var writes = id !== "btn-view";
      button.disabled = busy || (writes && !state.canWrite) ||
        ((id === "btn-track" || id === "btn-track-plain") && !state.key);
    });
  }

  function disableWrites() {
    state.canWrite = false;
    setBusy(state.busy);
    $("regarding-card").hidden = true;
  }

  function tableLabel(table) { return TABLE_LABELS[table] || table || ""; }

  function renderStatus() {
    $("status-loading").hidden = true;
    var tracked = state.tracked && state.tracked.tracked;
    $("status-untracked").hidden = Boolean(tracked);
    $("status-tracked").hidden = !tracked;
    $("compose-note").hidden = !(state.kind === "email" && state.compose);
    if (tracked) {
      var regarding = state.tracked.regarding;
      $("tracked-regarding").textContent = regarding
        ? (regarding.name || "(no name)") + " · " + tableLabel(regarding.table)
        : "none";
      $("btn-change-regarding").textContent = regarding ? "Change regarding" : "Set regarding";
      $("regarding-card").hidden = true;
    } else {
      $("regarding-card").hidden = !state.canWrite || !state.key;
      $("regarding-title").textContent = "Set regarding";
    }
    setBusy(state.busy);
  }

  function initials(name) {
    var parts = String(name || "?").replace(/[^\p{L}\s]/gu, " ").trim().split(/\s+/);
    return ((parts[0] || "?")[0] + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase();
  }

  function renderPerson(card) {
    var section = $("person-card");
    section.hidden = false;
    var person = state.person;
    var b = state.basics || {};
    var lead = state.kind === "appointment" ? b.organizer : b.from;
    var isLead = Boolean(person && lead && person.address === lead.address);
    if (state.kind === "appointment") {
      $("person-title").textContent = isLead ? "Organizer" : "Attendee";
    } else {
      $("person-title").textContent = isLead ? "Sender" : "Recipient";
    }
    $("person-address").textContent = person ? (person.name ? person.name + " <" + person.address + ">" : person.address) : "";
    var list = $("person-matches");
    list.textContent = "";
    (card.matches || []).forEach(function (match) {
      var li = document.createElement("li");
      var avatar = document.createElement("span");
      avatar.className = "avatar";
      avatar.setAttribute("aria-hidden", "true");
      avatar.textContent = initials(match.name);
      var text = document.createElement("div");
      var name = document.createElement("div");
      name.className = "match-name";
      name.textContent = match.name || match.email;
      var meta = document.createElement("div");
      meta.className = "match-meta";
      meta.textContent = [tableLabel(match.table), match.detail].filter(Boolean).join(" · ");
      text.appendChild(name);
      text.appendChild(meta);
      li.appendChild(avatar);
      li.appendChild(text);
      list.appendChild(li);
    });
    $("person-unknown").hidden = (card.matches || []).length > 0 || !person;
    var recent = $("person-recent");
    recent.textContent = "";
    (card.recentActivities || []).forEach(function (activity) {
      var li = document.createElement("li");
      var subject = document.createElement("div");
      subject.textContent = activity.subject || "(no subject)";
      var when = document.createElement("div");
      when.className = "when";
      when.textContent = [tableLabel(activity.type), activity.whenText || formatWhen(activity.when)]
        .filter(Boolean).join(" · ");
      li.appendChild(subject);
      li.appendChild(when);
      recent.appendChild(li);
    });
    $("recent-title").hidden = (card.recentActivities || []).length === 0;
  }

  function formatWhen(value) {
    if (!value) { return ""; }
    var date = new Date(value);
    return isNaN(date.getTime()) ? "" : date.toLocaleDateString(undefined, { dateStyle: "medium" });
  }

  // ---------------------------------------------------------------- actions

  function kindPath() { return state.kind === "email" ? "/api/v1/emails" : "/api/v1/appointments"; }

  async function loadStatus() {
    if (!state.key) {
      state.tracked = null;
      renderStatus();
      return;
    }
    var param = state.kind === "email" ? "internetMessageId" : "globalObjectId";
    state.tracked = await api("GET", kindPath() + "?" + param + "=" + encodeURIComponent(state.key));
    renderStatus();
  }

  async function loadPerson() {
    if (!state.person) { return; }
    var card = await api("GET", "/api/v1/people?email=" + encodeURIComponent(state.person.address));
    renderPerson(card || {});
  }

  function isDeliveryFailure(error) {
    // The user could track but the track did not land: Dynamics marks such items "(Undeliverable)".
    return ["add_in_not_allowed", "consent_required", "claims_challenge", "sso_failed", "validation_failed",
      "tenant_not_allowed"].indexOf(error && error.code) < 0;
  }

  async function track(withRegarding) {
    if (state.busy) { return; }
    if (withRegarding && !state.chosen) {
      $("regarding-card").hidden = false;
      $("regarding-search").focus();
      say("info", "Choose the record this is regarding, or use Track without regarding.");
      return;
    }
    clearMessage();
    setBusy(true);
    try {
      var payload = await trackBody();
      if (withRegarding) { payload.regarding = { table: state.chosen.table, id: state.chosen.id }; }
      var view = await api("POST", kindPath(), payload, { throttleRetry: true });
      if (view.regarding && !view.regarding.name && state.chosen) { view.regarding.name = state.chosen.name; }
      state.tracked = view;
      state.chosen = null;
      renderChosen();
      await removeCategory(UNDELIVERABLE_CATEGORY);
      await addCategory(TRACKED_CATEGORY, "Preset7");
      say("success", view.alreadyTracked ? "This item was already tracked to Dynamics 365." : "Tracked to Dynamics 365.");
      $("tracked-note").textContent = view.alreadyTracked ? "(already tracked)" : "";
    } catch (error) {
      fail(error, function () { track(withRegarding); });
      if (isDeliveryFailure(error)) { await addCategory(UNDELIVERABLE_CATEGORY, "Preset0"); }
    } finally {
      setBusy(false);
      renderStatus();
    }
  }

  async function setRegarding(result) {
    if (!state.tracked || !state.tracked.tracked) {
      state.chosen = result;
      renderChosen();
      $("btn-track").focus();
      return;
    }
    clearMessage();
    setBusy(true);
    try {
      var path = kindPath() + "/" + encodeURIComponent(state.tracked.activityId) + "/regarding";
      var view = await api("PUT", path, { table: result.table, id: result.id }, { throttleRetry: true });
      var regarding = view.regarding || { table: result.table, id: result.id };
      if (!regarding.name) { regarding.name = result.name; }
      state.tracked.regarding = regarding;
      state.tracked.url = view.url || state.tracked.url;
      say("success", "Regarding set to " + regarding.name + ".");
      $("btn-change-regarding").focus();
    } catch (error) {
      fail(error, function () { setRegarding(result); });
    } finally {
      setBusy(false);
      renderStatus();
      $("regarding-search").value = "";
      $("regarding-results").textContent = "";
    }
  }

  async function untrack() {
    if (!state.tracked || state.busy) { return; }
    clearMessage();
    setBusy(true);
    try {
      await api("DELETE", kindPath() + "/" + encodeURIComponent(state.tracked.activityId), undefined,
        { throttleRetry: true });
      state.tracked = { tracked: false };
      await removeCategory(TRACKED_CATEGORY);
      say("success", "Untracked: the activity was removed from Dynamics 365.");
    } catch (error) {
      fail(error, untrack);
    } finally {
      setBusy(false);
      renderStatus();
    }
  }

  function splitName(person) {
    var display = (person.name || "").trim();
    var cut = display.lastIndexOf(" ");
    if (cut > 0) { return { first: display.slice(0, cut), last: display.slice(cut + 1) }; }
    return { first: null, last: display || person.address.split("@")[0] };
  }

  async function addRecord(table) {
    var person = state.person;
    if (!person || state.busy) { return; }
    clearMessage();
    setBusy(true);
    try {
      var name = splitName(person);
      var fields = { lastname: name.last.slice(0, 50), emailaddress1: person.address };
      if (name.first) { fields.firstname = name.first.slice(0, 50); }
      if (table === "lead") {
        fields.subject = ((state.basics && state.basics.subject) || "Email from " + person.address).slice(0, 300);
      }
      var created = await api("POST", "/api/v1/records", { table: table, fields: fields }, { throttleRetry: true });
      say("success", (created.name || person.address) + " was added as a " + tableLabel(table).toLowerCase() + ".");
      await loadPerson();
    } catch (error) {
      fail(error, function () { addRecord(table); });
    } finally {
      setBusy(false);
    }
  }

  function openInDynamics() {
    if (state.tracked && state.tracked.url) { window.open(state.tracked.url, "_blank", "noopener"); }
  }

  // ---------------------------------------------------------------- regarding search

  var searchTimer = null;

  function renderChosen() {
    var chosen = state.chosen;
    $("regarding-chosen").hidden = !chosen;
    $("regarding-chosen-name").textContent = chosen ? chosen.name + " · " + tableLabel(chosen.table) : "";
  }

  function renderResults(results, query) {
    var list = $("regarding-results");
    list.textContent = "";
    if (!results.length) {
      $("regarding-help").textContent = "No records match “" + query + "”.";
      return;
    }
    $("regarding-help").textContent = results.length + " result" + (results.length === 1 ? "" : "s") +
      ". Use the arrow keys to move, Enter to choose.";
    results.forEach(function (result) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "result";
      button.dataset.table = result.table;
      button.dataset.id = result.id;
      var name = document.createElement("span");
      name.className = "result-name";
      name.textContent = result.name || "(no name)";
      var meta = document.createElement("span");
      meta.className = "result-meta";
      meta.textContent = [tableLabel(result.table), result.detail].filter(Boolean).join(" · ");
      button.appendChild(name);
      button.appendChild(meta);
      button.addEventListener("click", function () { setRegarding(result); });
      li.appendChild(button);
      list.appendChild(li);
    });
  }

  async function search(query) {
    var seq = (state.searchSeq += 1);
    try {
      var found = await api("GET", "/api/v1/regarding?search=" + encodeURIComponent(query) + "&top=10");
      if (seq === state.searchSeq) { renderResults((found && found.results) || [], query); }
    } catch (error) {
      if (seq === state.searchSeq) { fail(error); }
    }
  }

  function onSearchInput() {
    var query = $("regarding-search").value.trim();
    clearTimeout(searchTimer);
    if (query.length < 2) {
      state.searchSeq += 1;
      $("regarding-results").textContent = "";
      $("regarding-help").textContent = "Type at least 2 characters.";
      return;
    }
    searchTimer = setTimeout(function () { search(query); }, SEARCH_DELAY_MS);
  }

  function onResultsKey(event) {
    var buttons = Array.prototype.slice.call($("regarding-results").querySelectorAll("button"));
    var index = buttons.indexOf(document.activeElement);
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

  // ---------------------------------------------------------------- start

  function wire() {
    $("btn-track").addEventListener("click", function () { track(true); });
    $("btn-track-plain").addEventListener("click", function () { track(false); });
    $("btn-untrack").addEventListener("click", untrack);
    $("btn-view").addEventListener("click", openInDynamics);
    $("btn-change-regarding").addEventListener("click", function () {
      var card = $("regarding-card");
      card.hidden = false;
      $("regarding-title").textContent = state.tracked && state.tracked.regarding ? "Change regarding" : "Set regarding";
      $("regarding-search").focus();
    });
    $("btn-add-contact").addEventListener("click", function () { addRecord("contact"); });
    $("btn-add-lead").addEventListener("click", function () { addRecord("lead"); });
    $("regarding-clear").addEventListener("click", function () {
      state.chosen = null;
      renderChosen();
      $("regarding-search").focus();
    });
    $("regarding-search").addEventListener("input", onSearchInput);
    $("regarding-search").addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") { onResultsKey(event); }
      if (event.key === "Escape") { $("regarding-search").value = ""; onSearchInput(); }
    });
    $("regarding-results").addEventListener("keydown", onResultsKey);
  }

  async function start() {
    wire();
    var item = Office.context.mailbox.item;
    state.item = item;
    state.kind = item.itemType === "appointment" ||
      (Office.MailboxEnums && item.itemType === Office.MailboxEnums.ItemType.Appointment) ? "appointment" : "email";
    state.compose = typeof item.subject !== "string";
    setBusy(true);
    try {
      state.basics = await readBasics(item);
      state.key = await itemKey(item);
      state.person = state.basics.person || null;
      $("item-subject").textContent = state.basics.subject || "(no subject)";
    } catch (error) {
      setBusy(false);
      $("status-loading").hidden = true;
      fail(error);
      return;
    }
    try {
      var me = await api("GET", "/api/v1/me");
      $("user-name").textContent = me.name || me.email || "";
      if (!me.canUseAddIn) {
        state.canWrite = false;
        say("warning", ADD_IN_NOT_ALLOWED);
      }
      await Promise.all([loadStatus(), loadPerson()]);
    } catch (error) {
      $("status-loading").hidden = true;
      fail(error, function () { clearMessage(); $("status-loading").hidden = false; startLoaded(); });
    } finally {
      setBusy(false);
      if (!$("status-loading").hidden) { renderStatus(); }
    }
  }

  async function startLoaded() {
    setBusy(true);
    try {
      await Promise.all([loadStatus(), loadPerson()]);
    } catch (error) {
      $("status-loading").hidden = true;
      fail(error, startLoaded);
    } finally {
      setBusy(false);
    }
  }

  Office.onReady(function () {
    var mailbox = Office.context && Office.context.mailbox;
    if (mailbox && typeof mailbox.addHandlerAsync === "function" && Office.EventType) {
      // A pinned pane stays open while the user selects another item: start again for the new one.
      mailbox.addHandlerAsync(Office.EventType.ItemChanged, function () { window.location.reload(); });
    }
    if (!mailbox || !mailbox.item) {
      $("status-loading").hidden = true;
      say("info", "Open this pane from an email or a meeting in Outlook.");
      return;
    }
    start();
  });
})();
