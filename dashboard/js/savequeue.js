// Ratings saved in the background: one ordered chain per trace, retries with backoff, and every
// unsaved rating kept in localStorage until the API accepts it, so a failed save is never lost.

import { api, withRetries } from "./api.js";

/** Background writer of one eval set's feedback (PUT to rate, DELETE to undo). */
export class SaveQueue {
  constructor(evalSetId, { onChange, onSaved, attempts = 5, baseMs = 400 } = {}) {
    this.evalSetId = evalSetId;
    this.storageKey = `iofold.pending.${evalSetId}`;
    this.onChange = onChange || (() => {});
    this.onSaved = onSaved || (() => {});
    this.attempts = attempts;
    this.baseMs = baseMs;
    this.chains = new Map();
    this.entries = this.load();
    this.version = 0;
  }

  load() {
    try {
      return JSON.parse(localStorage.getItem(this.storageKey) || "{}");
    } catch {
      return {};
    }
  }

  persist() {
    if (Object.keys(this.entries).length) localStorage.setItem(this.storageKey, JSON.stringify(this.entries));
    else localStorage.removeItem(this.storageKey);
    this.onChange(this.status());
  }

  /** {saving, failed: [{traceId, rating, error}]} */
  status() {
    const list = Object.entries(this.entries).map(([traceId, e]) => ({ traceId, ...e }));
    return { saving: list.filter((e) => e.state === "saving").length, failed: list.filter((e) => e.state === "failed") };
  }

  /** Trace ids with a rating not yet confirmed by the API. */
  pendingIds() {
    return new Set(Object.entries(this.entries).filter(([, e]) => e.op === "put").map(([id]) => id));
  }

  /** Resubmit whatever a previous visit left unsaved. */
  resume() {
    for (const [traceId, entry] of Object.entries(this.entries)) this.submit(traceId, entry.op, entry.rating, entry.notes);
  }

  rate(traceId, rating, notes = "") {
    return this.submit(traceId, "put", rating, notes);
  }

  unrate(traceId) {
    return this.submit(traceId, "delete", null, "");
  }

  retryFailed() {
    for (const e of this.status().failed) this.submit(e.traceId, e.op, e.rating, e.notes);
  }

  /** Queue a write; resolves true once saved, false once it failed for good. */
  submit(traceId, op, rating, notes) {
    const version = ++this.version;
    this.entries[traceId] = { op, rating, notes, state: "saving", version };
    this.persist();
    const path = `/eval-sets/${encodeURIComponent(this.evalSetId)}/feedback/${encodeURIComponent(traceId)}`;
    const send = () => (op === "put" ? api.put(path, { rating, notes }) : api.del(path).catch((err) => {
      if (err.status === 404) return null; // already gone: the undo's goal holds
      throw err;
    }));
    const previous = this.chains.get(traceId) || Promise.resolve();
    const next = previous.catch(() => {}).then(() => withRetries(send, { attempts: this.attempts, baseMs: this.baseMs }))
      .then(() => {
        if (this.entries[traceId]?.version === version) delete this.entries[traceId];
        this.persist();
        this.onSaved({ traceId, op, rating });
      }, (err) => {
        if (this.entries[traceId]?.version === version) {
          this.entries[traceId] = { ...this.entries[traceId], state: "failed", error: err.message };
        }
        this.persist();
        throw err;
      });
    this.chains.set(traceId, next);
    const settled = next.then(() => true, () => false);
    settled.finally(() => {
      if (this.chains.get(traceId) === next) this.chains.delete(traceId);
    });
    return settled;
  }

  /** Resolves when every chain has settled. */
  async idle() {
    while (this.chains.size) await Promise.allSettled([...this.chains.values()]);
  }
}
