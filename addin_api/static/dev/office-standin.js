/*
 * A small stand-in for Office.js, used ONLY by the dev harness (/dev) and the browser tests: it plays Outlook for the
 * task pane with a simulated item, an in-memory category list and SSO tokens minted by the devstack.
 * It implements just the Office.js surface the pane uses, with Office.js's shapes (AsyncResult callbacks,
 * read-mode values vs compose-mode getAsync objects). It is not a general Office.js emulator.
 *
 * Configuration, first found wins:
 *   window.__OFFICE_STANDIN__ = {user: "alice@contoso.example", sample: "dana-read", item: {...optional overrides}}
 *   window.parent.devHarness.config()  (the dev harness page, same origin)
 * Nested app authentication (NAA): off unless the config says `naa: true` or the pane's URL has `naa=1`; then
 * requirement set NestedAppAuth 1.1 is reported and `window.nestedAppAuthBridge` answers msal-browser (see below).
 * `naaSilentError` / `naaPopupError`: a bridge status (e.g. "USER_INTERACTION_REQUIRED", "PERSISTENT_ERROR") the
 * first GetToken / GetTokenPopup answers with instead of a token. `naaWithoutBridge`: the set is reported but there
 * is no bridge (msal-browser then hands back a standard client, which the pane must not use).
 */
(function () {
  "use strict";

  var SUCCEEDED = "succeeded";
  var FAILED = "failed";
  var TOKEN_URL = "/dev/api/token";

  function callbackOf(args) {
    for (var i = args.length - 1; i >= 0; i -= 1) {
      if (typeof args[i] === "function") { return args[i]; }
    }
    return function () {};
  }

  function later(callback, value, error) {
    setTimeout(function () {
      callback(error
        ? { status: FAILED, value: undefined, error: error, asyncContext: undefined }
        : { status: SUCCEEDED, value: value, error: undefined, asyncContext: undefined });
    }, 5);
  }

  function officeError(name, message, code) { return { name: name, message: message, code: code || 9000 }; }

  function getter(value) {
    return { getAsync: function () { later(callbackOf(arguments), value); } };
  }

  function person(name, address) { return { displayName: name, emailAddress: address, recipientType: "externalUser" }; }

  var SMALL_PDF = "JVBERi0xLjQKJcTl8uXrp/Og0MTGCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCnRyYWlsZXIKPDwvUm9vdCAxIDAgUj4+CiUlRU9G";

  function daysFromNow(days, hour) {
    var date = new Date();
    date.setUTCDate(date.getUTCDate() + days);
    date.setUTCHours(hour, 0, 0, 0);
    return date;
  }

  // Sample items, each built for the signed-in demo user.
  var SAMPLES = [
    {
      id: "dana-read", label: "Message from Dana Smith (contact and lead)",
      build: function (me) {
        return {
          kind: "message", mode: "read", internetMessageId: "<CAF-standin-0001@mail.fabrikam.example>",
          subject: "Laptop refresh: revised quote", from: person("Dana Smith", "dana@fabrikam.example"),
          to: [me], cc: [person("Ravi Kumar", "ravi.kumar@fabrikam.example")],
          dateTimeCreated: daysFromNow(-1, 9),
          body: "<p>Hi,</p><p>Please find the revised quote for the laptop refresh attached.</p><p>Dana</p>",
          attachments: [{ id: "att-1", name: "quote-v2.pdf", contentType: "application/pdf", content: SMALL_PDF }]
        };
      }
    },
    {
      id: "seeded-tracked", label: "Message already tracked (seed data)",
      build: function (me) {
        return {
          kind: "message", mode: "read", internetMessageId: "<CAF3xq1-seed-0001@mail.fabrikam.example>",
          subject: "Re: Laptop refresh quote", from: person("Dana Smith", "dana@fabrikam.example"), to: [me], cc: [],
          dateTimeCreated: new Date("2025-01-06T09:00:00Z"), body: "<p>Thanks, see you Tuesday.</p>", attachments: []
        };
      }
    },
    {
      id: "unknown-sender", label: "Message from an unknown sender",
      build: function (me) {
        return {
          kind: "message", mode: "read", internetMessageId: "<NC-standin-0002@mail.newco.example>",
          subject: "Introduction: NewCo partnership", from: person("Sam Taylor", "sam.taylor@newco.example"),
          to: [me], cc: [], dateTimeCreated: daysFromNow(0, 8),
          body: "<p>Hello, I'd like to introduce NewCo. Could we set up a call next week?</p>", attachments: []
        };
      }
    },
    {
      id: "northwind-shared", label: "Message from an address two contacts share",
      build: function (me) {
        return {
          kind: "message", mode: "read", internetMessageId: "<NW-standin-0003@mail.northwind.example>",
          subject: "Scanner order status", from: person("Northwind Traders", "info@northwind.example"),
          to: [me], cc: [], dateTimeCreated: daysFromNow(-2, 14), body: "<p>Any update on the scanners?</p>",
          attachments: []
        };
      }
    },
    {
      id: "compose", label: "New message being written (compose)",
      build: function (me) {
        return {
          kind: "message", mode: "compose", subject: "Follow-up on the quote", from: me,
          to: [person("Dana Smith", "dana@fabrikam.example")], cc: [], bcc: [],
          body: "<p>Hi Dana, following up on our call.</p>", attachments: [], itemId: "AAMk-standin-draft-0001"
        };
      }
    },
    {
      id: "appointment-attendee", label: "Meeting invitation (attendee)",
      build: function (me) {
        return {
          kind: "appointment", mode: "read", itemId: "AAMk-standin-appt/0001+a",
          subject: "Bike shop POS demo", organizer: person("Maria Garcia", "maria@adventure-works.example"),
          requiredAttendees: [me, person("Maria Garcia", "maria@adventure-works.example")],
          optionalAttendees: [person("John Chen", "john.chen@adventure-works.example")],
          start: daysFromNow(3, 15), end: daysFromNow(3, 16), location: "Teams meeting",
          body: "<p>Walk-through of the point-of-sale proposal.</p>", attachments: []
        };
      }
    },
    {
      id: "appointment-organizer", label: "Meeting you are organizing (compose)",
      build: function (me) {
        return {
          kind: "appointment", mode: "compose", itemId: "AAMk-standin-appt/0002+o",
          subject: "Fabrikam quarterly review", organizer: me,
          requiredAttendees: [person("Dana Smith", "dana@fabrikam.example")], optionalAttendees: [],
          start: daysFromNow(7, 10), end: daysFromNow(7, 11), location: "Fabrikam HQ, Redmond",
          body: "<p>Agenda: renewals, open cases, laptop refresh.</p>", attachments: []
        };
      }
    }
  ];

  function urlConfig() {
    // `/dev/pane?user=…&sample=…` opened on its own (outside the harness) plays that user and item.
    var params = new URLSearchParams(window.location.search);
    if (!params.get("user") && !params.get("sample")) { return null; }
    return { user: params.get("user") || "alice@contoso.example", sample: params.get("sample") || "dana-read" };
  }

  function findConfig() {
    if (window.__OFFICE_STANDIN__) { return window.__OFFICE_STANDIN__; }
    var fromUrl = urlConfig();
    try {
      if (window.parent !== window && window.parent.devHarness) { return window.parent.devHarness.config(); }
    } catch (crossOrigin) { /* not inside the harness */ }
    return fromUrl || { user: "alice@contoso.example", sample: "dana-read" };
  }

  function buildItem(config) {
    var user = config.user || "alice@contoso.example";
    var me = person(config.userName || user.split("@")[0], user);
    var sample = SAMPLES.filter(function (s) { return s.id === config.sample; })[0] || SAMPLES[0];
    var spec = sample.build(me);
    var extra = config.item || {};
    Object.keys(extra).forEach(function (key) { spec[key] = extra[key]; });
    return { me: me, spec: spec };
  }

  var state = {
    masterCategories: [
      { displayName: "Red category", color: "Preset0" },
      { displayName: "Blue category", color: "Preset7" }
    ],
    itemCategories: [],
    internetHeaders: {},
    tokenRequests: [],
    bridgeRequests: [],
    config: null,
    spec: null
  };

  function changed() {
    try {
      if (window.parent !== window && window.parent.devHarness) { window.parent.devHarness.standinChanged(state); }
    } catch (crossOrigin) { /* not inside the harness */ }
  }

  function categoriesApi(isMaster) {
    return {
      getAsync: function () {
        var source = isMaster ? state.masterCategories : state.itemCategories;
        later(callbackOf(arguments), source.map(function (c) { return { displayName: c.displayName, color: c.color }; }));
      },
      addAsync: function (categories) {
        var callback = callbackOf(arguments);
        if (isMaster) {
          var duplicate = categories.some(function (c) {
            return state.masterCategories.some(function (m) { return m.displayName === c.displayName; });
          });
          if (duplicate) { return later(callback, undefined, officeError("DuplicateCategory", "Already in the list.")); }
          categories.forEach(function (c) { state.masterCategories.push({ displayName: c.displayName, color: c.color }); });
        } else {
          var unknown = categories.filter(function (name) {
            return !state.masterCategories.some(function (m) { return m.displayName === name; });
          });
          if (unknown.length) {
            return later(callback, undefined, officeError("InvalidCategory", "Not in the master list."));
          }
          categories.forEach(function (name) {
            if (!state.itemCategories.some(function (c) { return c.displayName === name; })) {
              var master = state.masterCategories.filter(function (m) { return m.displayName === name; })[0];
              state.itemCategories.push({ displayName: name, color: master.color });
            }
          });
        }
        changed();
        later(callback);
      },
      removeAsync: function (categories) {
        var names = categories.map(function (c) { return typeof c === "string" ? c : c.displayName; });
        if (isMaster) {
          state.masterCategories = state.masterCategories.filter(function (c) { return names.indexOf(c.displayName) < 0; });
        } else {
          state.itemCategories = state.itemCategories.filter(function (c) { return names.indexOf(c.displayName) < 0; });
        }
        changed();
        later(callbackOf(arguments));
      }
    };
  }

  function makeItem(spec) {
    var compose = spec.mode === "compose";
    var attachments = (spec.attachments || []).map(function (a) {
      return {
        id: a.id, name: a.name, contentType: a.contentType, size: Math.floor(a.content.length * 3 / 4),
        attachmentType: "file", isInline: false
      };
    });
    function value(v) { return compose ? getter(v) : v; }
    var item = {
      itemType: spec.kind,
      body: {
        getAsync: function (coercion) {
          var html = spec.body || "";
          later(callbackOf(arguments), coercion === "text" ? html.replace(/<[^>]+>/g, "") : html);
        }
      },
      categories: categoriesApi(false),
      getAttachmentContentAsync: function (id) {
        var found = (spec.attachments || []).filter(function (a) { return a.id === id; })[0];
        if (!found) { return later(callbackOf(arguments), undefined, officeError("AttachmentNotFound", "No such attachment.")); }
        later(callbackOf(arguments), { format: "base64", content: found.content });
      },
      subject: value(spec.subject)
    };
    if (compose) {
      item.getAttachmentsAsync = function () { later(callbackOf(arguments), attachments); };
      item.getItemIdAsync = function () { later(callbackOf(arguments), spec.itemId); };
      item.saveAsync = function () { later(callbackOf(arguments), spec.itemId); };
      // Mailbox 1.8: the Internet headers a message being written will be sent with.
      item.internetHeaders = {
        setAsync: function (headers) {
          Object.keys(headers).forEach(function (name) { state.internetHeaders[name] = String(headers[name]); });
          changed();
          later(callbackOf(arguments));
        },
        getAsync: function (names) {
          var found = {};
          names.forEach(function (name) {
            if (name in state.internetHeaders) { found[name] = state.internetHeaders[name]; }
          });
          later(callbackOf(arguments), found);
        }
      };
    } else {
      item.itemId = spec.itemId || "AAMk-" + (spec.internetMessageId || "item");
      item.attachments = attachments;
    }
    if (spec.kind === "message") {
      item.from = value(spec.from);
      item.to = value(spec.to || []);
      item.cc = value(spec.cc || []);
      if (compose) {
        item.bcc = value(spec.bcc || []);
      } else {
        item.sender = spec.from;
        item.internetMessageId = spec.internetMessageId;
        item.dateTimeCreated = spec.dateTimeCreated;
        item.getAllInternetHeadersAsync = function () {
          later(callbackOf(arguments), "Message-ID: " + spec.internetMessageId + "\r\nSubject: " + spec.subject + "\r\n");
        };
      }
    } else {
      item.organizer = value(spec.organizer);
      item.requiredAttendees = value(spec.requiredAttendees || []);
      item.optionalAttendees = value(spec.optionalAttendees || []);
      item.start = value(spec.start);
      item.end = value(spec.end);
      item.location = value(spec.location || "");
    }
    return item;
  }

  var PRESETS = {};
  for (var i = 0; i <= 24; i += 1) { PRESETS["Preset" + i] = "Preset" + i; }

  var mailbox = {
    masterCategories: categoriesApi(true),
    convertToRestId: function (id) { return String(id).replace(/\//g, "-").replace(/\+/g, "_"); },
    userProfile: null,
    item: null
  };

  async function getAccessToken(options) {
    options = options || {};
    // Office hands back a token that satisfies the claims challenge; the dev IdP mints one with MFA in `amr`.
    var claims = options.authChallenge ? { amr: ["pwd", "mfa"] } : {};
    state.tokenRequests.push({ authChallenge: options.authChallenge || null, at: Date.now() });
    changed();
    var response = await fetch(TOKEN_URL, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: state.config.user, claims: claims })
    });
    if (!response.ok) { throw { code: 13001, name: "UserNotSignedIn", message: "No token for this user." }; }
    return (await response.json()).access_token;
  }

  // ---------------------------------------------------------------- nested app authentication (NAA)
  // The host side of the bridge msal-browser 4.x uses (src/naa/BridgeProxy.ts): the nested app posts JSON request
  // envelopes {messageType: "NestedAppAuthRequest", method, requestId, tokenParams} with `postMessage`; the host
  // answers each with a JSON response envelope {messageType: "NestedAppAuthResponse", requestId, success, ...} to
  // the "message" listeners. Methods: GetInitContext (-> initContext), GetToken (silent) and GetTokenPopup
  // (interactive) (-> token and account, or error {status, code, description}).

  function naaEnabled(config) {
    return Boolean(config.naa) || /[?&]naa=1(&|$)/.test(window.location.search);
  }

  function base64UrlJson(part) {
    var binary = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, function (c) { return c.charCodeAt(0); })));
  }

  function toBase64Url(value) {
    var bytes = new TextEncoder().encode(JSON.stringify(value));
    var binary = "";
    bytes.forEach(function (b) { binary += String.fromCharCode(b); });
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function idTokenFor(claims, clientId) {
    // MSAL reads the account from the id token's claims; nothing verifies it, so the stand-in does not sign it.
    var now = Math.floor(Date.now() / 1000);
    return [toBase64Url({ typ: "JWT", alg: "none" }), toBase64Url({
      aud: clientId, iss: claims.iss, iat: now, nbf: now, exp: claims.exp, tid: claims.tid, oid: claims.oid,
      sub: claims.oid, name: claims.name, preferred_username: claims.preferred_username, ver: "2.0"
    }), "standin"].join(".");
  }

  function bridgeError(status, code, description) {
    return { status: status, code: code, description: description };
  }

  async function bridgeToken(method, params) {
    params = params || {};
    var once = method === "GetToken" ? "naaSilentError" : "naaPopupError";
    if (state.config[once]) {
      var status = state.config[once];
      state.config[once] = null;
      return { error: bridgeError(status, status === "USER_INTERACTION_REQUIRED" ? "interaction_required" : "standin",
        "The Office stand-in was told to answer " + method + " with " + status + ".") };
    }
    if (!/(^|\s)api:\/\/[^\s]+\/access_as_user(\s|$)/.test(params.scope || "")) {
      return { error: bridgeError("PERSISTENT_ERROR", "invalid_scope", "Only the add-in's access_as_user scope.") };
    }
    // As with getAccessToken: a token that satisfies a claims challenge carries MFA in `amr`. The token is for the
    // nested app, so its `azp` is the client id msal-browser asked for.
    var claims = { azp: params.clientId };
    if (params.claims) { claims.amr = ["pwd", "mfa"]; }
    var response = await fetch(TOKEN_URL, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: state.config.user, claims: claims })
    });
    if (!response.ok) { return { error: bridgeError("ACCOUNT_UNAVAILABLE", "no_account", "No token for this user.") }; }
    var accessToken = (await response.json()).access_token;
    var payload = base64UrlJson(accessToken.split(".")[1]);
    return {
      token: {
        access_token: accessToken, expires_in: payload.exp - Math.floor(Date.now() / 1000),
        id_token: idTokenFor(payload, params.clientId), properties: null, scope: params.scope
      },
      account: {
        homeAccountId: payload.oid + "." + payload.tid, environment: "login.microsoftonline.com",
        tenantId: payload.tid, localAccountId: payload.oid, username: payload.preferred_username || state.config.user,
        name: payload.name
      }
    };
  }

  function installBridge() {
    var listeners = [];
    function answer(requestId, body) {
      var envelope = { messageType: "NestedAppAuthResponse", requestId: requestId, success: !body.error };
      Object.keys(body).forEach(function (key) { envelope[key] = body[key]; });
      var text = JSON.stringify(envelope);
      setTimeout(function () { listeners.slice().forEach(function (listener) { listener(text); }); }, 5);
    }
    window.nestedAppAuthBridge = {
      addEventListener: function (name, listener) { if (name === "message") { listeners.push(listener); } },
      removeEventListener: function (name, listener) {
        listeners = listeners.filter(function (l) { return l !== listener; });
      },
      postMessage: function (text) {
        var message = JSON.parse(text);
        if (message.messageType !== "NestedAppAuthRequest") { return; }
        var params = message.tokenParams || {};
        state.bridgeRequests.push({
          method: message.method, clientId: params.clientId || null, scope: params.scope || null,
          claims: params.claims || null, at: Date.now()
        });
        changed();
        if (message.method === "GetInitContext") {
          answer(message.requestId, { initContext: { sdkName: "office-standin", sdkVersion: "1.0.0",
            capabilities: { queryAccount: false } } });
        } else if (message.method === "GetToken" || message.method === "GetTokenPopup") {
          bridgeToken(message.method, params).then(function (body) { answer(message.requestId, body); }, function (e) {
            answer(message.requestId, { error: bridgeError("TRANSIENT_ERROR", "standin", String(e)) });
          });
        } else {
          answer(message.requestId, { error: bridgeError("PERSISTENT_ERROR", "unsupported_method", message.method) });
        }
      }
    };
  }

  function install() {
    state.config = findConfig();
    state.naa = naaEnabled(state.config);
    if (state.naa && !state.config.naaWithoutBridge) { installBridge(); }
    var built = buildItem(state.config);
    state.spec = built.spec;
    state.itemCategories.length = 0;
    (built.spec.categories || []).forEach(function (c) { state.itemCategories.push(c); });
    mailbox.userProfile = { displayName: built.me.displayName, emailAddress: built.me.emailAddress, timeZone: "UTC" };
    mailbox.item = makeItem(built.spec);
    changed();
  }

  var readyPromise = null;

  window.Office = {
    AsyncResultStatus: { Succeeded: SUCCEEDED, Failed: FAILED },
    CoercionType: { Html: "html", Text: "text" },
    HostType: { Outlook: "Outlook" },
    PlatformType: { PC: "PC", OfficeOnline: "OfficeOnline" },
    MailboxEnums: {
      ItemType: { Message: "message", Appointment: "appointment" },
      CategoryColor: PRESETS,
      RestVersion: { v1_0: "v1.0", v2_0: "v2.0", Beta: "beta" }
    },
    context: {
      mailbox: mailbox,
      requirements: {
        isSetSupported: function (name, version) {
          if (name === "NestedAppAuth") { return Boolean(state.naa) && Number(version) <= 1.1; }
          return name === "Mailbox" && Number(version) <= 1.8;
        }
      },
      ui: {}
    },
    auth: { getAccessToken: getAccessToken },
    onReady: function (callback) {
      if (!readyPromise) {
        readyPromise = new Promise(function (resolve) {
          function go() { install(); resolve({ host: "Outlook", platform: "PC" }); }
          if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", go); } else { setTimeout(go, 0); }
        });
      }
      return readyPromise.then(function (info) { if (callback) { callback(info); } return info; });
    }
  };

  window.OfficeStandin = { state: state, samples: SAMPLES.map(function (s) { return { id: s.id, label: s.label }; }), buildItem: buildItem };
})();
