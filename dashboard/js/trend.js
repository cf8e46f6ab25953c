// An eval version's trend (GET /v1/evals/{id}/trend): the pass-rate chart on the eval page and the
// sparkline of each set's active version in the eval set list. Inline SVG, no chart library.
// Points carry `drop` (the API marks a pass rate that fell more than `drop_threshold` below the
// previous point or the trailing mean); both drawings mark them.

import { api } from "./api.js";
import { fmtPct } from "./metrics.js";
import { h } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

export function loadTrend(evalId, bucket = "day") {
  return api.get(`/evals/${encodeURIComponent(evalId)}/trend`, { bucket });
}

function periodLabel(iso, bucket) {
  const d = new Date(iso);
  const day = d.toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
  return bucket === "hour" ? `${day} ${String(d.getUTCHours()).padStart(2, "0")}:00 UTC` : day;
}

function pointText(p, bucket) {
  return `${periodLabel(p.start, bucket)}: ${fmtPct(p.pass_rate)} pass of ${p.executed} (${p.pass} pass, ${p.fail} fail, `
    + `${p.error} error, ${p.timeout} timeout)${p.drop ? ` — drop from ${fmtPct(p.baseline)}` : ""}`;
}

/** x positions from the first to the last period with runs (time-proportional, so gaps between periods
 * show as gaps), half a slot in from each edge; a single point sits in the middle. */
function xScale(points, left, width) {
  if (points.length < 2) return () => left + width / 2;
  const first = Date.parse(points[0].start);
  const span = Math.max(1, Date.parse(points[points.length - 1].start) - first);
  const inset = Math.min(24, width / (points.length * 2));
  return (iso) => left + inset + ((Date.parse(iso) - first) / span) * (width - 2 * inset);
}

/** The chart: pass rate per period (line and dots), executions as bars behind, drops marked in red. */
export function trendChart(trend, { width = 720, height = 220 } = {}) {
  const points = (trend.points || []).filter((p) => p.pass_rate !== null && p.pass_rate !== undefined);
  const pad = { left: 44, right: 12, top: 14, bottom: 30 };
  const w = width - pad.left - pad.right;
  const ht = height - pad.top - pad.bottom;
  const x = xScale(points, pad.left, w);
  const y = (rate) => pad.top + (1 - rate) * ht;
  const maxExecuted = Math.max(1, ...points.map((p) => p.executed));
  const slot = Math.max(3, Math.min(28, w / Math.max(points.length * 2, 8)));
  const drops = points.filter((p) => p.drop);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "trend-chart", role: "img",
    "aria-label": `Pass rate per ${trend.bucket}: ${points.length} periods with runs${drops.length ? `, ${drops.length} drop(s)` : ""}` });
  for (const rate of [0, 0.5, 1]) {
    svg.append(s("line", { x1: pad.left, x2: width - pad.right, y1: y(rate), y2: y(rate), class: "trend-grid" }),
      s("text", { x: pad.left - 6, y: y(rate) + 4, "text-anchor": "end", class: "trend-axis" }, fmtPct(rate)));
  }
  const ends = points.length > 1 ? [points[0], points[points.length - 1]] : points;
  ends.forEach((p, i) => svg.append(s("text", { x: x(p.start), y: height - 8, class: "trend-axis",
    "text-anchor": ends.length === 1 ? "middle" : i ? "end" : "start" }, periodLabel(p.start, trend.bucket))));
  for (const p of points) {
    const bh = (p.executed / maxExecuted) * ht * 0.35;
    svg.append(s("rect", { x: x(p.start) - slot / 2, y: pad.top + ht - bh, width: slot, height: bh, class: "trend-bar" },
      s("title", {}, `${p.executed} executions`)));
  }
  if (points.length > 1) {
    svg.append(s("polyline", { class: "trend-line", fill: "none",
      points: points.map((p) => `${x(p.start).toFixed(1)},${y(p.pass_rate).toFixed(1)}`).join(" ") }));
  }
  for (const p of points) {
    const dot = s("circle", { cx: x(p.start), cy: y(p.pass_rate), r: p.drop ? 6 : 3.5,
      class: p.drop ? "trend-point trend-drop" : "trend-point", "data-start": p.start },
    s("title", {}, pointText(p, trend.bucket)));
    svg.append(dot);
    if (p.drop) {
      svg.append(s("text", { x: x(p.start), y: Math.min(height - pad.bottom - 4, y(p.pass_rate) + 20), "text-anchor": "middle",
        class: "trend-drop-label" }, "▼ drop"));
    }
  }
  return svg;
}

/** A tiny pass-rate line for a list; the last point's rate next to it; drops as red dots. */
export function sparkline(trend, { width = 120, height = 28 } = {}) {
  const points = (trend.points || []).filter((p) => p.pass_rate !== null && p.pass_rate !== undefined);
  const x = xScale(points, 3, width - 6);
  const y = (rate) => 3 + (1 - rate) * (height - 6);
  const last = points[points.length - 1];
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "sparkline", role: "img",
    "aria-label": last ? `Pass rate per ${trend.bucket}, latest ${fmtPct(last.pass_rate)}` : "No runs yet" });
  if (points.length > 1) {
    svg.append(s("polyline", { class: "trend-line", fill: "none",
      points: points.map((p) => `${x(p.start).toFixed(1)},${y(p.pass_rate).toFixed(1)}`).join(" ") }));
  }
  for (const p of points) {
    if (p.drop || p === last || points.length === 1) {
      svg.append(s("circle", { cx: x(p.start), cy: y(p.pass_rate), r: p.drop ? 3 : 2,
        class: p.drop ? "trend-point trend-drop" : "trend-point" }, s("title", {}, pointText(p, trend.bucket))));
    }
  }
  return svg;
}

/** The eval page's trend card: bucket toggle, chart, a line about the latest period, drops listed. */
export function trendSection(evalId) {
  const body = h("div", { class: "trend-body" }, h("p", { class: "muted" }, "Loading the trend…"));
  let bucket = "day";
  const buttons = ["day", "hour"].map((b) => h("button", { type: "button", class: "btn btn-sm trend-bucket",
    "data-bucket": b, "aria-pressed": String(b === bucket), onclick: () => show(b) }, b === "day" ? "Per day" : "Per hour"));
  const section = h("section", { class: "card trend-section", "aria-label": "Trend" },
    h("div", { class: "set-card-head" }, h("h2", {}, "Trend"), h("div", { class: "actions" }, buttons)), body);

  async function show(next) {
    bucket = next;
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.bucket === bucket));
    try {
      const trend = await loadTrend(evalId, bucket);
      if (bucket !== next) return;
      section.dataset.points = String(trend.points.length);
      if (!trend.points.length) {
        body.replaceChildren(h("p", { class: "muted trend-empty" },
          "No runs in this range yet. Run this version, or schedule an import with “run active evals”."));
        return;
      }
      const last = trend.points[trend.points.length - 1];
      const drops = trend.points.filter((p) => p.drop);
      body.replaceChildren(trendChart(trend),
        h("p", { class: "hint" }, `Pass rate of every execution per ${bucket} (a trace run again counts again). `,
          `Latest: ${pointText(last, bucket)}. A fall of more than ${fmtPct(trend.drop_threshold)} below the previous `,
          `${bucket} or the recent mean is marked as a drop.`),
        drops.length ? h("ul", { class: "warnings trend-drops" }, drops.map((p) =>
          h("li", {}, h("span", { "aria-hidden": "true" }, "▼ "), pointText(p, bucket)))) : null);
    } catch (err) {
      body.replaceChildren(h("p", { class: "error-text" }, `Could not load the trend: ${err.message}`));
    }
  }
  section.ready = show(bucket);
  return section;
}
