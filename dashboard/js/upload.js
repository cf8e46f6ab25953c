// Trace files to the API with upload progress: small files in the body of POST /v1/traces/upload, larger
// ones (past API Gateway's 6 MB request limit) straight to S3 through a presigned PUT, then
// POST /v1/traces/uploads/{id}/import. Both end in an import job ({job_id}).

import { ApiError, answer, api, buildUrl, session } from "./api.js";

/** Files above this go through the presigned S3 upload (the API takes at most 6 MB per request). */
export const PRESIGN_ABOVE_BYTES = 5 * 1024 * 1024;

export const isGzip = (file) => /\.gz$/i.test(file.name) || file.type === "application/gzip";

/** Send `body` with XMLHttpRequest (fetch reports no upload progress); resolves {status, text}. */
function send(method, url, body, headers, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress?.(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => resolve({ status: xhr.status, text: xhr.responseText }));
    xhr.addEventListener("error", () => reject(new ApiError(0, "NETWORK", `Could not send the file to ${new URL(url).host}.`)));
    xhr.addEventListener("abort", () => reject(new DOMException("upload aborted", "AbortError")));
    xhr.send(body);
  });
}

/** Upload a JSON Lines file (plain or .gz) of traces in `format`; resolves with {job_id, via}. */
export async function uploadTraces(file, format, { onProgress } = {}) {
  const gzip = isGzip(file);
  if (file.size > PRESIGN_ABOVE_BYTES) {
    const ticket = await api.post("/traces/uploads", { format, filename: file.name, content_encoding: gzip ? "gzip" : "identity" });
    if (file.size > ticket.max_bytes) {
      throw new ApiError(413, "PAYLOAD_TOO_LARGE", `${file.name} is larger than the ${ticket.max_bytes} bytes accepted.`);
    }
    const put = await send("PUT", ticket.put_url, file, ticket.headers || {}, onProgress);
    if (put.status < 200 || put.status >= 300) {
      throw new ApiError(put.status, "UPLOAD_FAILED", `The storage refused the file (HTTP ${put.status}).`);
    }
    const accepted = await api.post(`/traces/uploads/${encodeURIComponent(ticket.upload_id)}/import`);
    return { ...accepted, via: "presigned" };
  }
  const headers = { "Content-Type": gzip ? "application/gzip" : "application/x-ndjson" };
  if (session.key) headers.Authorization = `Bearer ${session.key}`;
  const path = "/traces/upload";
  const sent = await send("POST", buildUrl(path, { format }).toString(), file, headers, onProgress);
  return { ...answer(sent.status, sent.text, path), via: "direct" };
}
