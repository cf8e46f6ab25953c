// Who is signed in: set by app.js after GET /v1/workspace, read by views.

export const ctx = { workspace: null, role: null };
