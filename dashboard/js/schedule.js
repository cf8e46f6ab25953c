// EventBridge Scheduler expressions, as chalicelib/schedules/expressions.py reads them: `rate(5 minutes)`
// and `cron(min hour day-of-month month day-of-week year)` (UTC). Parsed here to say what is wrong
// while typing and to show the next run times; the API validates again on save.

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const UNIT_SECONDS = { minute: 60, hour: 3600, day: 86400 };
const DOW = { SUN: 1, MON: 2, TUE: 3, WED: 4, THU: 5, FRI: 6, SAT: 7 };
const MONTHS = Object.fromEntries(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
  .map((m, i) => [m, i + 1]));
const FIELDS = [["minute", 0, 59, {}], ["hour", 0, 23, {}], ["day-of-month", 1, 31, {}], ["month", 1, 12, MONTHS],
  ["day-of-week", 1, 7, DOW], ["year", 1970, 2199, {}]];
const MIN_RATE_SECONDS = 60;

export class ScheduleError extends Error {}

/** {kind: "rate", seconds} or {kind: "cron", fields: [Set|null × 6]}; throws ScheduleError with the reason. */
export function parseExpression(expression) {
  const text = expression.trim();
  const rate = RATE.exec(text);
  if (rate) {
    const amount = Number(rate[1]);
    const unit = rate[2].replace(/s$/, "");
    if (amount < 1 || (amount !== 1) !== rate[2].endsWith("s")) {
      throw new ScheduleError(`invalid rate expression '${expression}': use e.g. 'rate(1 hour)', 'rate(5 minutes)'`);
    }
    const seconds = amount * UNIT_SECONDS[unit];
    if (seconds < MIN_RATE_SECONDS) throw new ScheduleError("schedules run at most once a minute");
    return { kind: "rate", seconds };
  }
  if (text.startsWith("cron(") && text.endsWith(")")) {
    const parts = text.slice(5, -1).trim().split(/\s+/).filter(Boolean);
    if (parts.length !== 6) {
      throw new ScheduleError(`invalid cron expression '${expression}': it needs 6 fields ` +
        "(minutes hours day-of-month month day-of-week year)");
    }
    const fields = parts.map((part, i) => parseField(part, FIELDS[i]));
    if ((parts[2] === "?") === (parts[4] === "?")) {
      throw new ScheduleError("in a cron expression exactly one of day-of-month and day-of-week must be '?'");
    }
    return { kind: "cron", fields };
  }
  throw new ScheduleError(`invalid schedule expression '${expression}': use 'rate(…)' or 'cron(…)'`);
}

function parseField(part, [name, low, high, aliases]) {
  if (part === "*" || part === "?") return null;
  const values = new Set();
  for (let item of part.split(",")) {
    let step = 1;
    if (item.includes("/")) {
      const at = item.indexOf("/");
      step = number(item.slice(at + 1), name, {}, 1, high);
      item = item.slice(0, at);
    }
    let start;
    let end;
    if (item === "*" || item === "") {
      [start, end] = [low, high];
    } else if (item.includes("-")) {
      const at = item.indexOf("-");
      start = number(item.slice(0, at), name, aliases, low, high);
      end = number(item.slice(at + 1), name, aliases, low, high);
    } else {
      start = number(item, name, aliases, low, high);
      end = step > 1 ? high : start;
    }
    if (start > end) throw new ScheduleError(`invalid ${name} range '${item}' in cron expression`);
    for (let v = start; v <= end; v += step) values.add(v);
  }
  return values;
}

function number(text, name, aliases, low, high) {
  const upper = text.toUpperCase();
  const value = upper in aliases ? aliases[upper] : /^\d+$/.test(text) ? Number(text) : null;
  if (value === null || value < low || value > high) {
    throw new ScheduleError(`invalid ${name} '${text}' in cron expression (allowed ${low}-${high})`);
  }
  return value;
}

const allows = (set, value) => set === null || set.has(value);

/** The next `count` run times (Dates, UTC) after `now`. A rate counts from `since` (the last run, else
 * when the schedule was made), as the scheduler does; a cron matches whole UTC minutes. */
export function nextRuns(parsed, { now = new Date(), since = null, count = 3 } = {}) {
  const runs = [];
  if (parsed.kind === "rate") {
    const step = parsed.seconds * 1000;
    let next = (since ? since.getTime() : now.getTime()) + step;
    if (next <= now.getTime()) next += Math.ceil((now.getTime() - next + 1) / step) * step;
    for (let i = 0; i < count; i++) runs.push(new Date(next + i * step));
    return runs;
  }
  const [minutes, hours, days, months, weekdays, years] = parsed.fields;
  const start = new Date(Math.floor(now.getTime() / 60000) * 60000 + 60000);
  const day = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate()));
  // Walk days, then the allowed hours and minutes of a matching day: about ten years of days (leap days).
  for (let d = 0; d < 3700 && runs.length < count; d++, day.setUTCDate(day.getUTCDate() + 1)) {
    if (!(allows(years, day.getUTCFullYear()) && allows(months, day.getUTCMonth() + 1) &&
          allows(days, day.getUTCDate()) && allows(weekdays, day.getUTCDay() + 1))) continue;
    for (let hour = 0; hour < 24 && runs.length < count; hour++) {
      if (!allows(hours, hour)) continue;
      for (let minute = 0; minute < 60 && runs.length < count; minute++) {
        if (!allows(minutes, minute)) continue;
        const at = new Date(day.getTime() + (hour * 60 + minute) * 60000);
        if (at >= start) runs.push(at);
      }
    }
  }
  return runs;
}

/** "Mon 7 Dec 2026, 06:00 UTC". */
export function fmtUtc(date) {
  return date.toLocaleString("en-GB", { weekday: "short", day: "numeric", month: "short", year: "numeric",
    hour: "2-digit", minute: "2-digit", timeZone: "UTC", hour12: false }).replace(/ at /, ", ") + " UTC";
}
