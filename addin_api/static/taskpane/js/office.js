/* Everything the pane asks Outlook, through Office.js: the item's fields, its key, attachments, categories.
   The one module that touches `Office`. */

export const TRACKED_CATEGORY = "Tracked to Dynamics 365";
export const UNDELIVERABLE_CATEGORY = "Tracked to Dynamics 365 (Undeliverable)";
// The service's check, so an address Outlook gives us that Dataverse cannot hold is left out, not refused.
const ADDRESS = /^[^@\s<>"',;()[\]\\]{1,64}@[^@\s<>"',;()[\]\\]{1,255}$/;

/** Office.js ready, or null when it did not load (blocked, offline) or does not get ready within `timeoutMs`
    (opened outside an Office host). Office.js is a classic script before this module, so it has run or failed. */
export function waitForOffice(timeoutMs) {
  if (!window.Office || typeof window.Office.onReady !== "function") { return Promise.resolve(null); }
  return new Promise(function (resolve) {
    const timer = setTimeout(function () { resolve(null); }, timeoutMs);
    window.Office.onReady(function (info) { clearTimeout(timer); resolve(info || {}); });
  });
}

export function mailbox() {
  return (window.Office && Office.context && Office.context.mailbox) || null;
}

export function onItemChanged(handler) {
  const box = mailbox();
  if (box && typeof box.addHandlerAsync === "function" && Office.EventType) {
    box.addHandlerAsync(Office.EventType.ItemChanged, handler);
  }
}

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
  if (value && typeof value.getAsync === "function") { return officeCall(function (cb) { value.getAsync(cb); }); }
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
  const date = value instanceof Date ? value : new Date(value);
  return isNaN(date.getTime()) ? new Date().toISOString() : date.toISOString();
}

export function messageIdFromHeaders(headers) {
  const match = /^message-id:\s*(<[^>\r\n]+>)/im.exec(headers || "");
  return match ? match[1] : null;
}

export function myAddress() {
  const profile = (mailbox() && mailbox().userProfile) || {};
  return (profile.emailAddress || "").toLowerCase();
}

/** What kind of item is open and whether it is being written. */
export function describeItem(item) {
  const appointment = item.itemType === "appointment" ||
    (Office.MailboxEnums && item.itemType === Office.MailboxEnums.ItemType.Appointment);
  return { kind: appointment ? "appointment" : "email", compose: typeof item.subject !== "string" };
}

export async function itemKey(item, kind, compose) {
  if (kind === "email") {
    if (compose) { return null; }  // Outlook assigns the Message-ID when the message is sent.
    if (item.internetMessageId) { return item.internetMessageId; }
    if (typeof item.getAllInternetHeadersAsync === "function") {
      return messageIdFromHeaders(await officeCall(function (cb) { item.getAllInternetHeadersAsync(cb); }));
    }
    return null;
  }
  // Appointments: Office.js offers the item id (getItemIdAsync in compose, itemId in read); the REST form of it is
  // stable for the mailbox, which is what Dataverse's globalobjectid is compared against here.
  let id = item.itemId;
  if (!id && typeof item.getItemIdAsync === "function") {
    try {
      id = await officeCall(function (cb) { item.getItemIdAsync(cb); });
    } catch (notSaved) {
      id = await officeCall(function (cb) { item.saveAsync(cb); });
    }
  }
  const box = mailbox();
  if (id && typeof box.convertToRestId === "function" && Office.MailboxEnums && Office.MailboxEnums.RestVersion) {
    id = box.convertToRestId(id, Office.MailboxEnums.RestVersion.v2_0);
  }
  return id || null;
}

export async function readBasics(item, kind, compose) {
  const subject = (await getField(item.subject)) || "";
  if (kind === "email") {
    const from = compose && item.from && item.from.getAsync
      ? await getField(item.from)
      : item.from || (compose ? { emailAddress: myAddress(), displayName: "" } : null);
    return {
      subject: subject, from: addressOf(from), to: addresses(await getField(item.to)),
      cc: addresses(await getField(item.cc)), bcc: compose && item.bcc ? addresses(await getField(item.bcc)) : [],
      sentAt: toIso(item.dateTimeCreated || new Date())
    };
  }
  return {
    subject: subject,
    organizer: addressOf(await getField(item.organizer)),
    requiredAttendees: addresses(await getField(item.requiredAttendees)),
    optionalAttendees: addresses(await getField(item.optionalAttendees)),
    start: toIso(await getField(item.start)),
    end: toIso(await getField(item.end)),
    location: (await getField(item.location)) || null,
    isAllDay: Boolean(item.isAllDayEvent !== undefined ? await getField(item.isAllDayEvent) : false)
  };
}

async function readAttachments(item, compose, maxBytes) {
  const list = compose ? await officeCall(function (cb) { item.getAttachmentsAsync(cb); }) : item.attachments || [];
  const files = list.filter(function (a) {
    return a.attachmentType === "file" && !a.isInline && (!a.size || a.size <= maxBytes);
  });
  const found = [];
  for (const file of files) {
    const content = await officeCall(function (cb) { item.getAttachmentContentAsync(file.id, cb); });
    if (content && content.format === "base64") {
      found.push({ name: file.name, contentType: file.contentType || "application/octet-stream",
        contentBase64: content.content });
    }
  }
  return found;
}

/** The body of POST /api/v1/emails or /appointments for the open item. */
export async function trackBody(item, state, config) {
  const b = state.basics;
  const body = await officeCall(function (cb) { item.body.getAsync(Office.CoercionType.Html, cb); });
  const email = state.kind === "email";
  const payload = {
    subject: b.subject.slice(0, email ? config.maxSubjectLength : config.maxAppointmentSubjectLength),
    body: body || "", bodyType: "html",
    attachments: await readAttachments(item, state.compose, config.maxAttachmentBytes)
  };
  if (email) {
    return Object.assign(payload, { internetMessageId: state.key, from: b.from, to: b.to, cc: b.cc, bcc: b.bcc,
      sentAt: b.sentAt });
  }
  return Object.assign(payload, { globalObjectId: state.key, start: b.start, end: b.end, isAllDay: b.isAllDay,
    location: b.location ? b.location.slice(0, 200) : null, organizer: b.organizer,
    requiredAttendees: b.requiredAttendees, optionalAttendees: b.optionalAttendees });
}

async function ensureMasterCategory(name, color) {
  const master = mailbox().masterCategories;
  if (!master) { return; }
  const list = (await officeCall(function (cb) { master.getAsync(cb); })) || [];
  if (list.some(function (c) { return c.displayName === name; })) { return; }
  try {
    await officeCall(function (cb) { master.addAsync([{ displayName: name, color: color }], cb); });
  } catch (error) {
    if (!error || error.name !== "DuplicateCategory") { throw error; }
  }
}

function presetColor(name) {
  const colors = Office.MailboxEnums && Office.MailboxEnums.CategoryColor;
  return (colors && colors[name]) || name;
}

export async function hasCategory(item, name) {
  if (!item.categories) { return false; }
  try {
    const applied = (await officeCall(function (cb) { item.categories.getAsync(cb); })) || [];
    return applied.some(function (c) { return c.displayName === name; });
  } catch (error) {
    return false;
  }
}

export async function addCategory(item, name, color) {
  if (!item.categories) { return; }
  try {
    await ensureMasterCategory(name, presetColor(color));
    await officeCall(function (cb) { item.categories.addAsync([name], cb); });
  } catch (error) {
    // Categories are a convenience; a mailbox that refuses them must not undo a successful track.
    console.warn("could not add the category", name, error && error.name);
  }
}

export async function removeCategory(item, name) {
  if (!(await hasCategory(item, name))) { return; }
  try {
    await officeCall(function (cb) { item.categories.removeAsync([name], cb); });
  } catch (error) {
    console.warn("could not remove the category", name, error && error.name);
  }
}

/** Write an Internet header into the message being written (Mailbox 1.8); false when Outlook cannot.
    https://learn.microsoft.com/en-us/office/dev/add-ins/outlook/internet-headers */
export async function setHeader(item, name, value) {
  if (!item.internetHeaders) { return false; }
  const headers = {};
  headers[name] = value;
  await officeCall(function (cb) { item.internetHeaders.setAsync(headers, cb); });
  return true;
}

/** Office's SSO token (getAccessToken), for the auth module. */
export function officeToken(options) {
  return Office.auth.getAccessToken(options);
}

export function naaSupported() {
  const requirements = window.Office && Office.context && Office.context.requirements;
  try {
    return Boolean(requirements && requirements.isSetSupported("NestedAppAuth", "1.1"));
  } catch (notAvailable) {
    return false;
  }
}
