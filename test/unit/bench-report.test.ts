import { describe, expect, it } from 'vitest';
import type { BenchReport } from '../../bench/model.js';
import { formatNumber, formatRatio, renderMarkdown } from '../../bench/report/markdown.js';
import { cdfTable, gnuplotString, plotScript, rpoTable, throughputTable } from '../../bench/report/plot.js';

const report: BenchReport = {
  mode: 'full',
  command: '`npm run bench`',
  seconds: 900,
  machine: {
    date: '2026-11-25T03:00:00.000Z',
    cpu: 'AMD EPYC',
    cores: 2,
    memoryGiB: 23.5,
    disk: '/dev/vda ext4 252G',
    kernel: '6.1.0',
    versions: { libvirt: '9.0.0', qemu: '7.2.22' },
  },
  figures: [
    {
      section: '1. Freeze window',
      name: 'median over 20 backups',
      value: 92,
      unit: 'ms',
      baseline: { name: 'virsh snapshot | blockcommit', value: 80 },
      better: 'lower',
      note: 'from the fsfreeze reply',
    },
    {
      section: '2. Full-backup throughput',
      name: '1 GiB disk',
      value: 290.4,
      unit: 'MiB/s',
      baseline: { name: 'cp', value: 5000 },
      better: 'higher',
    },
  ],
  throughput: [],
  freeze: [],
  rpo: [],
  pending: ['6. Restore: once restore has landed'],
};

describe('renderMarkdown', () => {
  const markdown = renderMarkdown(report);

  it('gives every figure with its baseline, ratio and direction', () => {
    expect(markdown).toContain('| 1. Freeze window | median over 20 backups | 92 ms | virsh snapshot \\| blockcommit | 80 ms | 1.15 | lower |');
    expect(markdown).toContain('| 290 MiB/s | cp | 5,000 MiB/s | 0.0581 | higher |');
  });

  it('records the machine, the versions and how the run was made', () => {
    expect(markdown).toContain('| CPU | AMD EPYC, 2 cores |');
    expect(markdown).toContain('| libvirt | 9.0.0 |');
    expect(markdown).toContain('`npm run bench` on 2026-11-25T03:00:00.000Z, in 15 minutes');
    expect(markdown).toContain('- 1. Freeze window, median over 20 backups: from the fsfreeze reply');
    expect(markdown).toContain('Not measured yet:\n\n- 6. Restore: once restore has landed');
    expect(renderMarkdown({ ...report, mode: 'quick', command: '`npm run bench -- --quick`' })).toContain('`npm run bench -- --quick` (smoke sizes');
    expect(renderMarkdown({ ...report, command: '`npm run bench -- --only restore`' })).toContain('Produced by `npm run bench -- --only restore` on');
  });

  it('formats numbers to about three significant digits', () => {
    expect(formatNumber(1523.4)).toBe('1,523');
    expect(formatNumber(61.54)).toBe('61.5');
    expect(formatNumber(0.12345)).toBe('0.123');
    expect(formatRatio(0.0581)).toBe('0.0581');
    expect(formatRatio(1.156)).toBe('1.16');
  });
});

describe('plot data', () => {
  it('keeps quotes in labels from breaking the gnuplot script or its data files', () => {
    expect(gnuplotString("virsh's --quiesce")).toBe("'virsh''s --quiesce'");
    const table = throughputTable([
      { workload: '1 GiB "first"', tool: 'virt-dr', mibPerSecond: 290 },
      { workload: '1 GiB "first"', tool: 'cp + sync', mibPerSecond: 900.04 },
      { workload: 'chain', tool: 'virt-dr', mibPerSecond: 250 },
    ]);
    expect(table).toBe('"workload" "virt-dr" "cp + sync"\n"1 GiB  first " 290.0 900.0\n"chain" 250.0 ?\n');
  });

  it('draws the freeze windows as an empirical CDF', () => {
    expect(cdfTable({ tool: 't', ms: [90, 70, 80, 100] })).toBe('70 0.2500\n80 0.5000\n90 0.7500\n100 1.0000\n');
  });

  it('adds the RPO over the run as a third panel only when the run measured it', () => {
    expect(rpoTable({ label: 'virt-dr', points: [{ atS: 0.04, rpoS: 12.34 }, { atS: 1.02, rpoS: 13.3 }] })).toBe('0.0 12.3\n1.0 13.3\n');
    const twoPanels = plotScript(report, '/tmp/x.png', '/tmp/t.dat', []);
    expect(twoPanels).toContain('set multiplot layout 1,2');
    expect(twoPanels).not.toContain('RPO');
    const withRpo = { ...report, rpo: [{ label: "the agent's RPO", points: [] }] };
    const threePanels = plotScript(withRpo, '/tmp/x.png', '/tmp/t.dat', [], ['/tmp/rpo-0.dat']);
    expect(threePanels).toContain('set terminal pngcairo size 2100,600');
    expect(threePanels).toContain('set multiplot layout 1,3');
    expect(threePanels).toContain("plot '/tmp/rpo-0.dat' using 1:2 with steps linewidth 2 title 'the agent''s RPO'");
  });
});
