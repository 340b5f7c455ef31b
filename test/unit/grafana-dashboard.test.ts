import { describe, expect, it } from 'vitest';
import { dashboardProblems, familyOf, metricNamesIn, queriesOf, readDashboard } from '../support/grafana-dashboard.js';

describe('the metric names of a PromQL query', () => {
  it('are the selected series, not functions, keywords, labels, durations, strings or variables', () => {
    const expr =
      'histogram_quantile(0.9, sum by (host, le) (rate(virt_dr_freeze_seconds_bucket{quiesce!="none"}[$window])' +
      ' * on(job, instance) group_left(host) virt_dr_agent_info{host=~"$host"}))';
    expect(metricNamesIn(expr)).toEqual(['virt_dr_freeze_seconds_bucket', 'virt_dr_agent_info']);
    expect(metricNamesIn('sum(increase(a_total[5m] offset 1h)) or vector(0)')).toEqual(['a_total']);
    expect(metricNamesIn('x / ignoring(le) y > bool 0 unless z{label="sum(w)"}')).toEqual(['x', 'y', 'z']);
    expect(metricNamesIn('max_over_time(up[1h:5m]) and on() ${DS_PROMETHEUS}')).toEqual(['up']);
  });

  it('belong to a scraped family, a histogram\'s series to the histogram', () => {
    const types = new Map([
      ['virt_dr_freeze_seconds', 'histogram'],
      ['virt_dr_jobs_total', 'counter'],
    ]);
    expect(familyOf('virt_dr_freeze_seconds_bucket', types)).toBe('virt_dr_freeze_seconds');
    expect(familyOf('virt_dr_jobs_total', types)).toBe('virt_dr_jobs_total');
    expect(familyOf('virt_dr_jobs_total_count', types)).toBeNull();
    expect(familyOf('virt_dr_freeze_seconds_total', types)).toBeNull();
  });
});

describe('deploy/grafana/virt-dr.json', () => {
  it('holds what a Grafana import needs: uid, title, schema, unique panel ids in the grid, one templated Prometheus', async () => {
    const dashboard = await readDashboard();
    expect(dashboardProblems(dashboard)).toEqual([]);
    const queries = queriesOf(dashboard);
    expect(queries.length).toBeGreaterThan(10);
    // The variables' label_values(SERIES, label) give their series, as Grafana asks Prometheus for it.
    expect(queries.filter((q) => q.refId === 'var').map((q) => [q.panel, q.expr])).toEqual([
      ['$host', 'virt_dr_agent_info'],
      ['$domain', 'virt_dr_rpo_seconds'],
    ]);
  });

  it('is refused by the check when a panel repeats an id, loses its data source or names an unknown variable', async () => {
    const dashboard = await readDashboard();
    const panels = structuredClone(dashboard.panels) as Record<string, unknown>[];
    const [first, second] = panels.filter((p) => p.type !== 'row') as Record<string, unknown>[];
    second!.id = first!.id;
    first!.datasource = { type: 'prometheus', uid: 'my-prometheus' };
    (first!.targets as { expr: string }[])[0]!.expr += ' + on() $nowhere';
    const problems = dashboardProblems({ ...dashboard, panels, id: 7 });
    expect(problems).toEqual([
      'id: none (an import would overwrite that dashboard)',
      `panel ${String(first!.id)} (${String(first!.title)}): datasource uid \${DS_PROMETHEUS}`,
      `panel ${String(first!.id)} (${String(second!.title)}): a unique integer id`,
      `${String(first!.title)}: $nowhere is no variable of the dashboard`,
    ]);
  });
});
