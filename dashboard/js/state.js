// Who is signed in: set by app.js after GET /v1/workspace, read by views.

export const ctx = { workspace: null, role: null };

/** Jobs handed from one page to the next: eval id -> {jobId, title} (e.g. scoring a version just saved). */
export const handoff = new Map();
