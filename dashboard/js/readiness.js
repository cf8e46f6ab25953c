// How far an eval set is from `ready`: thresholds {min_rated, min_positive, min_negative}
// (chalicelib/evalsets/readiness.py); neutral ratings do not count toward them.

const DEFAULTS = { min_rated: 5, min_positive: 1, min_negative: 1 };

/** What an eval set still needs, as chalicelib/evalsets/readiness.py words it (for optimistic counts). */
function missingFor(counts, t) {
  const labeled = counts.positive + counts.negative;
  const missing = [];
  if (labeled < t.min_rated) missing.push(`${t.min_rated - labeled} more good or bad rating(s)`);
  if (counts.positive < t.min_positive) missing.push(`${t.min_positive - counts.positive} more good`);
  if (counts.negative < t.min_negative) missing.push(`${t.min_negative - counts.negative} more bad`);
  return missing;
}

/** {have, target, rated, ready, counts, label, balance, detail} from an eval set's counts and thresholds.
 * `label` says how many traces are rated and the minimum; `balance` the good/bad/unsure split;
 * `have`/`target` fill a progress bar toward the minimum. */
export function readiness(set) {
  const counts = { positive: 0, negative: 0, neutral: 0, ...(set.counts || {}) };
  const t = { ...DEFAULTS, ...(set.thresholds || {}) };
  const perSide = t.min_positive + t.min_negative;
  const target = Math.max(t.min_rated, perSide);
  const credited = Math.min(counts.positive, t.min_positive) + Math.min(counts.negative, t.min_negative);
  const surplus = counts.positive + counts.negative - credited;
  const have = Math.min(target, credited + Math.min(surplus, target - perSide));
  const missing = set.ready === undefined ? missingFor(counts, t) : (set.missing || []);
  const ready = set.ready ?? !missing.length;
  const rated = counts.positive + counts.negative + counts.neutral;
  const balance = `${counts.positive} good · ${counts.negative} bad · ${counts.neutral} unsure`;
  return {
    have, target, rated, ready, counts, balance,
    label: `${rated} rated · minimum ${target}`,
    detail: missing.length && !ready ? `${balance}. Still needed: ${missing.join("; ")}.` : `${balance}.`,
  };
}
