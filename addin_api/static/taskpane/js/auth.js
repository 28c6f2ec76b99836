/* The user's token for this service: MSAL nested app authentication (NAA) where the host offers it, Office's
   getAccessToken SSO otherwise. Both give a token for the API's access_as_user scope; the service validates them
   alike (only `azp` differs).
   https://learn.microsoft.com/office/dev/add-ins/develop/enable-nested-app-authentication-in-your-add-in */
import { naaSupported, officeToken } from "./office.js";

const MSAL_URL = "/taskpane/vendor/msal-browser.min.js";
const NAA_AUTHORITY = "https://login.microsoftonline.com/common";

export class AuthError extends Error {
  constructor(detail) {
    super("sign-in failed: " + detail);
    this.code = "sso_failed";
    this.status = 0;
    this.detail = detail;
  }
}

function loadScript(src) {
  return new Promise(function (resolve, reject) {
    const script = document.createElement("script");
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
  const context = pca && pca.controller && pca.controller.operatingContext;
  return !(context && typeof context.getId === "function") || context.getId() === "NestedAppOperatingContext";
}

function isAuthRefusal(error) {
  // The user closed the sign-in prompt, or it could not satisfy the directory: Office SSO would fare no better.
  const msal = window.msal;
  return Boolean(error && (error.errorCode === "user_canceled" ||
    (msal && msal.InteractionRequiredAuthError && error instanceof msal.InteractionRequiredAuthError)));
}

/** A token source for `config` (clientId, apiScope, naaClientId from /taskpane/config.json). */
export function createAuth(config) {
  let nestedApp = null;  // a promise of {pca, scopes}, or of null once NAA is known to be unusable here
  let token = null;

  async function startNestedApp() {
    if (!config.naaClientId || !config.apiScope) { throw new Error("no pane configuration for MSAL"); }
    if (!window.msal) { await loadScript(MSAL_URL); }
    const pca = await window.msal.createNestablePublicClientApplication({
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

  async function nestedAppToken(app, options) {
    const request = { scopes: app.scopes };
    if (options.claims) { request.claims = options.claims; }
    if (options.forceRefresh) { request.forceRefresh = true; }
    if (!options.interactive) {
      try {
        return (await app.pca.acquireTokenSilent(request)).accessToken;
      } catch (error) {
        if (!(error instanceof window.msal.InteractionRequiredAuthError)) { throw error; }
      }
    }
    // Consent, a fresh sign-in or the claims need the user: the host shows its own prompt.
    const popup = { scopes: request.scopes, claims: request.claims };
    if (options.interactive) { popup.prompt = "consent"; }
    return (await app.pca.acquireTokenPopup(popup)).accessToken;
  }

  /** A token; `claims` answers a claims challenge, `interactive` asks the user again (e.g. to give consent). */
  async function getToken(options) {
    options = options || {};
    if (token && !options.claims && !options.forceRefresh && !options.interactive) { return token; }
    const app = await nestedAppClient();
    if (app) {
      try {
        token = await nestedAppToken(app, options);
        return token;
      } catch (error) {
        if (isAuthRefusal(error)) { throw new AuthError(error.errorCode || "interaction_required"); }
        console.warn("nested app authentication failed; using Office SSO", error && (error.errorCode || error.name));
        nestedApp = Promise.resolve(null);
      }
    }
    const sso = { allowSignInPrompt: true, allowConsentPrompt: true, forMSGraphAccess: false };
    if (options.claims) { sso.authChallenge = options.claims; }
    try {
      token = await officeToken(sso);
    } catch (error) {
      throw new AuthError((error && (error.code || error.name)) || "unknown");
    }
    return token;
  }

  return {
    getToken: getToken,
    forget: function () { token = null; },
    current: function () { return token; }
  };
}
