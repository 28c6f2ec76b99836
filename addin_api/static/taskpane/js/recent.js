/* The user's recently used regarding records, kept in the browser's storage per Dynamics user, newest first. */

export function storageKey(userId) {
  return "addin-api:recent-regarding:" + String(userId || "anonymous").toLowerCase();
}

export function remember(list, record, limit) {
  const entry = { table: record.table, id: record.id, name: record.name || null, detail: record.detail || null };
  const rest = (list || []).filter(function (r) {
    return !(r.table === entry.table && String(r.id).toLowerCase() === String(entry.id).toLowerCase());
  });
  return [entry].concat(rest).slice(0, Math.max(0, limit));
}

function valid(record) {
  return record && typeof record.table === "string" && typeof record.id === "string" &&
    (record.name === null || typeof record.name === "string");
}

export function load(storage, userId, limit) {
  try {
    const parsed = JSON.parse(storage.getItem(storageKey(userId)) || "[]");
    return Array.isArray(parsed) ? parsed.filter(valid).slice(0, limit) : [];
  } catch (unreadable) {
    return [];
  }
}

export function save(storage, userId, list) {
  try {
    storage.setItem(storageKey(userId), JSON.stringify(list));
  } catch (full) {
    // Storage may be full or disabled (private windows): recent records are a convenience.
  }
}
