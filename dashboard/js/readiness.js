// How far an eval set is from `ready`: thresholds {min_rated, min_positive, min_negative}
// (chalicelib/evalsets/models.py); neutral ratings do not count toward them.

const DEFAULTS = { min_rated: 5, min_positive: 1, min_negative: 1 };

/** {have, target, label, detail, ready, counts} from an eval set's counts and thresholds. */
export function readiness(set) {
  const counts = { positive: 0, negative: 0, neutral: 0, ...(set.counts || {}) };
  const t = { ...DEFAULTS, ...(set.thresholds || {}) };
  const perSide = t.min_positive + t.min_negative;
  const target = Math.max(t.min_rated, perSide);
  const credited = Math.min(counts.positive, t.min_positive) + Math.min(counts.negative, t.min_negative);
  const surplus = counts.positive + counts.negative - credited;
  const have = Math.min(target, credited + Math.min(surplus, target - perSide));
  const ready = set.ready ?? have >= target;
  const tally = `${counts.positive} good · ${counts.negative} bad · ${counts.neutral} unsure`;
  const missing = set.ready === undefined ? [] : set.missing || [];
  return {
    have, target, ready, counts,
    label: `${have} of ${target} examples`,
    detail: missing.length ? `${tally}. Still needed: ${missing.join("; ")}.` : tally,
  };
}
