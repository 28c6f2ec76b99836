/* The pane's settings: what `/taskpane/config.json` says, over defaults that match the service's own. */
import { DEFAULT_TEXTS } from "./text.js";

export const DEFAULTS = Object.freeze({
  clientId: null,
  apiScope: null,
  naaClientId: null,
  // Dataverse's default "Maximum file size for attachments" (5 MB).
  // https://learn.microsoft.com/en-us/power-platform/admin/settings-email
  maxAttachmentBytes: 5 * 1024 * 1024,
  maxSubjectLength: 800,
  maxAppointmentSubjectLength: 200,
  officeLoadTimeoutMs: 5000,
  searchDelayMs: 300,
  searchTop: 10,
  recentLimit: 5,
  maxPeople: 10,
  texts: DEFAULT_TEXTS
});

/** Defaults overlaid with the valid values of `raw`; a wrong type keeps the default. */
export function mergeConfig(raw) {
  const source = raw && typeof raw === "object" ? raw : {};
  const merged = {};
  Object.keys(DEFAULTS).forEach(function (key) {
    const fallback = DEFAULTS[key];
    const value = source[key];
    if (key === "texts") {
      const texts = Object.assign({}, DEFAULT_TEXTS);
      if (value && typeof value === "object") {
        Object.keys(value).forEach(function (name) {
          if (typeof value[name] === "string" && value[name].trim()) { texts[name] = value[name]; }
        });
      }
      merged.texts = Object.freeze(texts);
    } else if (typeof fallback === "number") {
      merged[key] = Number.isFinite(value) && value >= 0 ? value : fallback;
    } else {
      merged[key] = typeof value === "string" && value ? value : fallback;
    }
  });
  return Object.freeze(merged);
}

export async function loadConfig(fetchImpl) {
  try {
    const response = await fetchImpl("/taskpane/config.json", { credentials: "omit", cache: "no-store" });
    return mergeConfig(response.ok ? await response.json() : {});
  } catch (unreachable) {
    return mergeConfig({});
  }
}
