/**
 * What the tests check of deploy/grafana/virt-dr.json without a Grafana server (none can be
 * installed from the package registries this project uses): the parts of Grafana's
 * dashboard model that an import needs, and the metric names each PromQL query reads.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { projectRoot } from './project-root.js';

export const DASHBOARD_PATH = path.join(projectRoot(import.meta.url), 'deploy', 'grafana', 'virt-dr.json');

export interface Query {
  panel: string;
  refId: string;
  expr: string;
}

export async function readDashboard(): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(DASHBOARD_PATH, 'utf8')) as Record<string, unknown>;
}

/** Every query of the dashboard: the panels' targets and the query variables'. */
export function queriesOf(dashboard: Record<string, unknown>): Query[] {
  const panels = list(dashboard.panels).map(record);
  const fromPanels = panels.flatMap((p) => list(p.targets).map((t) => ({ panel: String(p.title), refId: String(record(t).refId), expr: String(record(t).expr) })));
  const variables = list(record(dashboard.templating).list).map(record).filter((v) => v.type === 'query');
  return [...fromPanels, ...variables.map((v) => ({ panel: `$${String(v.name)}`, refId: 'var', expr: seriesOfVariable(String(record(v.query).query ?? v.query)) }))];
}

/** A query variable's `label_values(SERIES, label)` is Grafana's, not PromQL: its series is the query. */
function seriesOfVariable(query: string): string {
  return /^\s*label_values\((.*),\s*\w+\s*\)\s*$/.exec(query)?.[1] ?? query;
}

/** Why Grafana would refuse the dashboard or show a panel without data source or query; empty when none. */
export function dashboardProblems(dashboard: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const need = (ok: boolean, problem: string) => void (ok || problems.push(problem));
  need(typeof dashboard.uid === 'string' && /^[a-zA-Z0-9_-]{1,40}$/.test(dashboard.uid), 'uid: 1 to 40 letters, digits, - or _');
  need(typeof dashboard.title === 'string' && dashboard.title !== '', 'title: a non-empty string');
  need(Number.isInteger(dashboard.schemaVersion) && (dashboard.schemaVersion as number) >= 36, 'schemaVersion: 36 or later (data sources by uid)');
  need(dashboard.id === undefined || dashboard.id === null, 'id: none (an import would overwrite that dashboard)');
  const variables = list(record(dashboard.templating).list).map(record);
  const names = new Set(variables.map((v) => v.name));
  need(variables.some((v) => v.name === 'DS_PROMETHEUS' && v.type === 'datasource' && v.query === 'prometheus'), 'templating: a datasource variable DS_PROMETHEUS of type prometheus');
  const ids = new Set<unknown>();
  for (const panel of list(dashboard.panels).map(record)) {
    const label = `panel ${String(panel.id)} (${String(panel.title)})`;
    need(Number.isInteger(panel.id) && !ids.has(panel.id), `${label}: a unique integer id`);
    ids.add(panel.id);
    need(typeof panel.type === 'string' && typeof panel.title === 'string', `${label}: a type and a title`);
    const grid = record(panel.gridPos);
    const inGrid = ['h', 'w', 'x', 'y'].every((k) => Number.isInteger(grid[k])) && (grid.x as number) + (grid.w as number) <= 24;
    need(inGrid, `${label}: gridPos h, w, x, y within 24 columns`);
    if (panel.type === 'row') continue;
    need(record(panel.datasource).uid === '${DS_PROMETHEUS}', `${label}: datasource uid \${DS_PROMETHEUS}`);
    const targets = list(panel.targets).map(record);
    need(targets.length > 0, `${label}: at least one query`);
    for (const t of targets) {
      need(typeof t.refId === 'string' && typeof t.expr === 'string' && t.expr !== '', `${label}: each target a refId and an expr`);
      need(record(t.datasource).uid === '${DS_PROMETHEUS}', `${label} ${String(t.refId)}: datasource uid \${DS_PROMETHEUS}`);
    }
  }
  for (const { panel, expr } of queriesOf(dashboard)) {
    for (const [, name] of expr.matchAll(/\$\{?(\w+)/g)) need(names.has(name) || GRAFANA_VARIABLES.has(name!), `${panel}: $${name} is no variable of the dashboard`);
  }
  return problems;
}

/** Grafana's own variables, which a query may name without defining. */
const GRAFANA_VARIABLES = new Set(['__rate_interval', '__interval', '__range', '__range_s']);

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan', 'atan2']);

/**
 * The metric names a PromQL expression selects: every identifier that is not a function or
 * an aggregation (followed by `(`), a keyword, a label in a `by`/`on`/`group_left` list or
 * a matcher, a duration or a Grafana variable. Histogram suffixes are kept: the caller
 * knows which families are histograms.
 */
export function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings
    .replace(/\$\{\w+(?::\w+)?\}|\$\w+/g, ' ') // Grafana variables
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const names = new Set<string>();
  for (const match of bare.matchAll(/(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()/g)) {
    if (!KEYWORDS.has(match[1]!.toLowerCase())) names.add(match[1]!);
  }
  return [...names];
}

/** The family `name` belongs to among the scraped ones: itself, or the histogram it is a `_bucket`, `_sum` or `_count` of. */
export function familyOf(name: string, types: ReadonlyMap<string, string>): string | null {
  if (types.has(name)) return name;
  const histogram = /^(.*)_(?:bucket|sum|count)$/.exec(name)?.[1];
  return histogram !== undefined && types.get(histogram) === 'histogram' ? histogram : null;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
