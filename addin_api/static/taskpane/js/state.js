/* The pane's state and the only code that changes it: `reduce` is a pure function of (state, action), the store
   applies it and tells the renderers. Every other module reads `store.get()` and calls `store.dispatch(action)`. */

export const INITIAL = Object.freeze({
  phase: "loading",          // loading | ready | office_missing | no_item | failed
  kind: "email",             // or "appointment"
  compose: false,
  key: null,                 // internetMessageId or globalObjectId
  basics: null,              // subject and parties, read once
  me: null,                  // GET /api/v1/me
  mailbox: null,             // GET /api/v1/mailbox (null until read, or when it could not be)
  tracked: null,             // the service's tracked view, or {tracked: false}
  chosen: null,              // regarding picked before tracking
  pending: null,             // a message being written, marked to be tracked once sent: {regarding}
  people: [],                // [{address, name, role, card, loading}]
  busy: false,
  canWrite: true,
  writeBlock: null,          // why writes are off: add_in_not_allowed | read_only
  steppedUp: false,
  message: null,             // {kind, text, retry, action}
  countdown: null,           // seconds left before the throttled retry
  confirmUntrack: false,
  lookup: { open: false, filter: "all", query: "", results: [], groups: [], hint: null, loading: false },
  create: null               // {table, values, errors, then}
});

function patch(state, changes) {
  return Object.freeze(Object.assign({}, state, changes));
}

function setPerson(people, address, changes) {
  return people.map(function (p) {
    return p.address.toLowerCase() === address.toLowerCase() ? Object.assign({}, p, changes) : p;
  });
}

export function reduce(state, action) {
  switch (action.type) {
  case "item-read":
    return patch(state, { kind: action.kind, compose: action.compose, key: action.key, basics: action.basics,
      people: action.people.map(function (p) { return Object.assign({ card: null, loading: true }, p); }) });
  case "office-missing": return patch(state, { phase: "office_missing", busy: false });
  case "no-item": return patch(state, { phase: "no_item", busy: false });
  case "me": {
    const features = (action.me && action.me.features) || {};
    const allowed = Boolean(action.me && action.me.canUseAddIn);
    const writes = allowed && features.track !== false;
    return patch(state, { me: action.me, canWrite: state.canWrite && writes,
      writeBlock: state.writeBlock || (!allowed ? "add_in_not_allowed" : !writes ? "read_only" : null) });
  }
  case "status": return patch(state, { tracked: action.tracked, phase: "ready" });
  case "mailbox": return patch(state, { mailbox: action.mailbox });
  case "compose-pending": return patch(state, { pending: { regarding: action.regarding || null } });
  case "failed":
    return patch(state, { phase: state.phase === "loading" ? "failed" : state.phase,
      people: state.people.map(function (p) { return p.loading ? Object.assign({}, p, { loading: false }) : p; }) });
  case "busy": return patch(state, { busy: action.busy });
  case "say": return patch(state, { message: action.message, countdown: null });
  case "clear-message": return patch(state, { message: null, countdown: null });
  case "countdown": return patch(state, { countdown: action.seconds });
  case "writes-off": return patch(state, { canWrite: false, writeBlock: state.writeBlock || action.reason,
    lookup: Object.assign({}, state.lookup, { open: false }), create: null, confirmUntrack: false });
  case "stepped-up": return patch(state, { steppedUp: true });
  case "choose": return patch(state, { chosen: action.record });
  case "tracked":
    return patch(state, { tracked: action.view, chosen: null, confirmUntrack: false,
      lookup: Object.assign({}, state.lookup, { open: false, query: "", results: [], groups: [], hint: null }) });
  case "regarding-set":
    return patch(state, { tracked: Object.assign({}, state.tracked, { regarding: action.regarding,
      url: action.url || state.tracked.url }),
    lookup: Object.assign({}, state.lookup, { open: false, query: "", results: [], groups: [], hint: null }) });
  case "untracked": return patch(state, { tracked: { tracked: false }, confirmUntrack: false });
  case "confirm-untrack": return patch(state, { confirmUntrack: action.open });
  case "lookup": return patch(state, { lookup: Object.assign({}, state.lookup, action.changes) });
  case "person-loading": return patch(state, { people: setPerson(state.people, action.address, { loading: true }) });
  case "person-card":
    return patch(state, { people: setPerson(state.people, action.address, { card: action.card, loading: false }) });
  case "create-open": return patch(state, { create: { table: action.table, values: action.values, errors: null,
    person: action.person || null } });
  case "create-errors": return patch(state, { create: state.create && Object.assign({}, state.create,
    { errors: action.errors }) });
  case "create-close": return patch(state, { create: null });
  default:
    throw new Error("unknown action " + action.type);
  }
}

export function createStore(initial) {
  let current = initial || INITIAL;
  const listeners = [];
  return {
    get: function () { return current; },
    dispatch: function (action) {
      const before = current;
      current = reduce(current, action);
      listeners.forEach(function (listener) { listener(current, before); });
      return current;
    },
    subscribe: function (listener) { listeners.push(listener); }
  };
}
