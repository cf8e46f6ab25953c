// Starting eval generation; until the engine lands the route may be missing: say so plainly.

import { api } from "./api.js";

export const ENGINE_PENDING = "Generation arrives with the engine: this API does not serve POST /v1/eval-sets/{id}/generate yet.";

/** POST generate; resolves {jobId} or {pending: message}; other API errors are thrown. */
export async function startGenerate(evalSetId) {
  try {
    const accepted = await api.post(`/eval-sets/${encodeURIComponent(evalSetId)}/generate`, { generator: "auto" });
    return { jobId: accepted.job_id };
  } catch (err) {
    if (err.missingRoute || (err.status === 404 && !/eval set/i.test(err.message))) return { pending: ENGINE_PENDING };
    throw err;
  }
}
