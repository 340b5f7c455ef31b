import { ratioOf, type BenchReport, type Figure } from '../model.js';

/** bench/results/latest.md: the machine, then one table of figures against their baselines. */
export function renderMarkdown(report: BenchReport): string {
  const { machine } = report;
  const command = report.mode === 'full' ? report.command : `${report.command} (smoke sizes: not figures to quote)`;
  const lines = [
    '# virt-dr-agent benchmarks',
    '',
    `Produced by ${command} on ${machine.date}, in ${formatNumber(report.seconds / 60)} minutes.`,
    'Every baseline ran in the same run, on the same machine, on the same files.',
    '',
    '| machine | |',
    '|---|---|',
    row(['date', machine.date]),
    row(['CPU', `${machine.cpu}, ${machine.cores} cores`]),
    row(['memory', `${formatNumber(machine.memoryGiB)} GiB`]),
    row(['disk', machine.disk]),
    row(['kernel', machine.kernel]),
    ...Object.entries(machine.versions).map(([name, version]) => row([name, version])),
    '',
    'ratio = figure ÷ baseline. Whether above 1 is good depends on the "better" column.',
    '',
    '| section | figure | value | baseline | baseline value | ratio | better |',
    '|---|---|---|---|---|---|---|',
    ...report.figures.map(figureRow),
  ];
  const notes = report.figures.filter((f) => f.note);
  if (notes.length) {
    lines.push('', 'Notes:', '');
    const seen = new Set<string>();
    for (const f of notes) {
      if (seen.has(f.note!)) continue;
      seen.add(f.note!);
      lines.push(`- ${f.section}, ${f.name}: ${f.note}`);
    }
  }
  if (report.pending.length) lines.push('', 'Not measured yet:', '', ...report.pending.map((p) => `- ${p}`));
  return `${lines.join('\n')}\n`;
}

function figureRow(f: Figure): string {
  return row([
    f.section,
    f.name,
    `${formatNumber(f.value)} ${f.unit}`,
    f.baseline.name,
    `${formatNumber(f.baseline.value)} ${f.unit}`,
    formatRatio(ratioOf(f)),
    f.better,
  ]);
}

function row(cells: string[]): string {
  return `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
}

/** Three significant digits, at most; thousands separated. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  const decimals = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 1 ? 2 : 3;
  return value.toLocaleString('en-US', { minimumFractionDigits: 0, maximumFractionDigits: decimals });
}

export function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return String(ratio);
  return Math.abs(ratio) < 0.1 ? ratio.toPrecision(3) : ratio.toFixed(2);
}
