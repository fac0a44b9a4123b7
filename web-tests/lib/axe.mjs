// Accessibility checks: axe-core (through @axe-core/playwright) against the WCAG 2.0, 2.1 and
// 2.2 A and AA rules, the public-sector bar. `checkPage` returns the violations, each with the
// nodes it was found on, so a failing test says what to fix.
import AxeBuilder from '@axe-core/playwright';

export const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22a', 'wcag22aa'];

/** Runs axe on the page as it is now; returns [{id, impact, help, nodes: [selector…]}]. */
export async function checkPage(page) {
  const results = await new AxeBuilder({ page }).withTags(WCAG_TAGS).analyze();
  return results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary?.split('\n').slice(1).join(' ').trim()}`),
  }));
}

/** A readable report of violations, one line per node. */
export function report(url, violations) {
  return violations.map((v) => `${url}: ${v.id} (${v.impact}) ${v.help}\n    ${v.nodes.join('\n    ')}`).join('\n');
}
