import { execFile } from 'node:child_process';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { BenchReport, FreezeSamples, RpoSeries, ThroughputSample } from '../model.js';

const execFileP = promisify(execFile);

/**
 * bench/results/latest.png: throughput as grouped bars (one group per workload, one bar
 * per tool) beside the freeze windows as one empirical CDF per tool, and, when the run
 * measured it, the RPO over time beside its floor. gnuplot draws it from data files in a
 * temporary folder; the PNG replaces the old one only once it is whole.
 */
export async function renderPlot(report: BenchReport, pngPath: string): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'virt-dr-plot-'));
  try {
    const throughputFile = path.join(dir, 'throughput.dat');
    await writeFile(throughputFile, throughputTable(report.throughput));
    const freezeFiles = await Promise.all(
      report.freeze.map(async (samples, i) => {
        const file = path.join(dir, `freeze-${i}.dat`);
        await writeFile(file, cdfTable(samples));
        return file;
      }),
    );
    const rpoFiles = await Promise.all(
      report.rpo.map(async (series, i) => {
        const file = path.join(dir, `rpo-${i}.dat`);
        await writeFile(file, rpoTable(series));
        return file;
      }),
    );
    const script = path.join(dir, 'plot.gp');
    await writeFile(script, plotScript(report, `${pngPath}.tmp`, throughputFile, freezeFiles, rpoFiles));
    try {
      await execFileP('gnuplot', [script], { timeout: 60_000 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new Error('gnuplot is missing: run `bash deploy/prepare-host.sh --with-bench-tools`');
      }
      throw new Error(`gnuplot failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
    }
    await rename(`${pngPath}.tmp`, pngPath);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(`${pngPath}.tmp`, { force: true });
  }
}

/** Rows are workloads, columns tools; "?" where a tool did not run that workload. */
export function throughputTable(samples: ThroughputSample[]): string {
  const workloads = unique(samples.map((s) => s.workload));
  const tools = unique(samples.map((s) => s.tool));
  const value = (w: string, t: string) => samples.find((s) => s.workload === w && s.tool === t)?.mibPerSecond;
  const lines = [[dataString('workload'), ...tools.map(dataString)].join(' ')];
  for (const w of workloads) {
    lines.push([dataString(w), ...tools.map((t) => value(w, t)?.toFixed(1) ?? '?')].join(' '));
  }
  return `${lines.join('\n')}\n`;
}

/** Sorted samples against the share of backups at or below each. */
export function cdfTable(samples: FreezeSamples): string {
  const sorted = [...samples.ms].sort((a, b) => a - b);
  return sorted.map((ms, i) => `${ms} ${((i + 1) / sorted.length).toFixed(4)}`).join('\n') + '\n';
}

/** Seconds into the run against the RPO then, one sample a line. */
export function rpoTable(series: RpoSeries): string {
  return series.points.map((p) => `${p.atS.toFixed(1)} ${p.rpoS.toFixed(1)}`).join('\n') + '\n';
}

export function plotScript(report: BenchReport, pngPath: string, throughputFile: string, freezeFiles: string[], rpoFiles: string[] = []): string {
  const toolCount = unique(report.throughput.map((s) => s.tool)).length;
  const title = `virt-dr-agent benchmarks (${report.mode}), ${report.machine.date.slice(0, 10)}, ${report.machine.cores} cores`;
  const panels = rpoFiles.length > 0 ? 3 : 2;
  const lines = [
    `set terminal pngcairo size ${700 * panels},600 font 'sans,10'`,
    `set output ${gnuplotString(pngPath)}`,
    `set multiplot layout 1,${panels} title ${gnuplotString(title)}`,
    `set datafile missing '?'`,
    // Left: throughput.
    `set title 'Throughput in MiB/s, higher is better (backup: bytes stored; restore: virtual size; prune: merged bytes)'`,
    `set style data histograms`,
    `set style histogram clustered gap 1`,
    `set style fill solid 0.85 border -1`,
    `set ylabel 'MiB/s'`,
    // Head room above the tallest bar for the key inside the panel.
    `set yrange [0:${Math.max(1, ...report.throughput.map((t) => t.mibPerSecond)) * 1.3}]`,
    `set xtics rotate by -15 scale 0`,
    `set key inside top right vertical`,
    `set grid ytics`,
  ];
  if (report.throughput.length === 0 || toolCount === 0) {
    lines.push(`set label 1 'no samples' at graph 0.5,0.5 center`, `plot 2 notitle`, `unset label 1`);
  } else {
    const bars = Array.from({ length: toolCount }, (_, i) =>
      i === 0 ? `${gnuplotString(throughputFile)} using 2:xtic(1) title columnheader(2)` : `'' using ${i + 2} title columnheader(${i + 2})`,
    );
    lines.push(`plot ${bars.join(', ')}`);
  }
  // Right: the freeze-window distributions.
  lines.push(
    `set title 'Freeze window per backup (lower is better)'`,
    `set style data steps`,
    `set xlabel 'ms, from the fsfreeze reply to the fsthaw reply'`,
    `set ylabel 'share of backups'`,
    `set yrange [0:1.05]`,
    `set xrange [0:*]`,
    `set xtics norotate scale 1`,
    `set key inside bottom right`,
  );
  if (freezeFiles.length === 0) {
    lines.push(`set label 1 'no samples' at graph 0.5,0.5 center`, `plot 2 notitle`, `unset label 1`);
  } else {
    const curves = freezeFiles.map(
      (file, i) => `${gnuplotString(file)} using 1:2 with linespoints linewidth 2 pointtype 7 pointsize 0.6 title ${gnuplotString(report.freeze[i]!.tool)}`,
    );
    lines.push(`plot ${curves.join(', ')}`);
  }
  if (rpoFiles.length > 0) {
    // Third: the RPO over the run, a sawtooth that drops as each point reaches the DR node.
    const curves = rpoFiles.map(
      (file, i) => `${gnuplotString(file)} using 1:2 with steps linewidth 2 title ${gnuplotString(report.rpo[i]!.label)}`,
    );
    lines.push(
      `set title 'RPO over the run, sampled once a second (lower is better)'`,
      `set xlabel 's into the run'`,
      `set ylabel 'RPO, s'`,
      // Head room above the sawtooth for the key.
      `set yrange [0:${Math.max(1, ...report.rpo.flatMap((r) => r.points.map((p) => p.rpoS))) * 1.3}]`,
      `set key inside top left`,
      `plot ${curves.join(', ')}`,
    );
  }
  lines.push('unset multiplot', '');
  return lines.join('\n');
}

/** A gnuplot single-quoted string: only the quote itself needs doubling. */
export function gnuplotString(text: string): string {
  return `'${text.replace(/'/g, "''").replace(/[\r\n]/g, ' ')}'`;
}

/** A whitespace-separated data file's string cell: double-quoted, no quotes inside. */
function dataString(text: string): string {
  return `"${text.replace(/["\r\n]/g, ' ')}"`;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
