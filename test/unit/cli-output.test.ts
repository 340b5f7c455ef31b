import { describe, expect, it } from 'vitest';
import { renderRecord, renderTable } from '../../src/cli/table.js';
import { age, duration, jobColumns, pointColumns } from '../../src/cli/views.js';
import { parseRecord, parseTable } from '../support/cli-output.js';

const NOW = Date.parse('2026-11-29T12:00:00Z');

describe('the CLI tables and records', () => {
  it('a table reads back by its two-space columns, whatever the cells hold', () => {
    const rows = [
      { id: 'a', note: 'two  spaces\nand a newline', n: 7 },
      { id: 'b', note: '', n: 12345 },
    ];
    const lines = renderTable(
      [
        { header: 'ID', cell: (r: (typeof rows)[number]) => r.id },
        { header: 'NOTE', cell: (r) => r.note },
        { header: 'N', cell: (r) => String(r.n), right: true },
      ],
      rows,
    );
    expect(lines).toEqual(['ID  NOTE                          N', 'a   two spaces and a newline      7', 'b   -                         12345']);
    expect(parseTable(lines.join('\n')).rows).toEqual([
      { ID: 'a', NOTE: 'two spaces and a newline', N: '7' },
      { ID: 'b', NOTE: '-', N: '12345' },
    ]);
  });

  it('a record shows nested objects by dotted keys, lists joined, lists of objects as a table under their key', () => {
    const lines = renderRecord({ job_id: 'j1', progress: { bytes_done: 5, phase: null }, targets: ['local', 'dr'], empty: [], disks: [{ target: 'vda', size: 1 }] });
    expect(lines).toEqual([
      'job_id               j1',
      'progress.bytes_done  5',
      'progress.phase       -',
      'targets              local,dr',
      'empty                -',
      '',
      'disks:',
      '  TARGET  SIZE',
      '  vda     1',
    ]);
    expect(parseRecord(lines.join('\n'))).toEqual({ job_id: 'j1', 'progress.bytes_done': '5', 'progress.phase': '-', targets: 'local,dr', empty: '-' });
  });

  it('ages and durations in their largest unit', () => {
    expect(age('2026-11-29T11:59:15Z', NOW)).toBe('45s');
    expect(age('2026-11-29T09:00:00Z', NOW)).toBe('3h');
    expect(age('2026-11-20T12:00:00Z', NOW)).toBe('9d');
    expect(age('not a date', NOW)).toBe('-');
    expect(age(undefined, NOW)).toBe('-');
    expect(duration(61)).toBe('1m');
  });

  it('ls shows id, mode, engine, kind, tier, age, size, freeze ms and targets; wide adds five', () => {
    const point = { backup_id: 'p1', mode: 'full', engine: 'checkpoint', kind: 'scheduled', tier: 'fast', created_at: '2026-11-29T11:58:00Z', bytes: 3 << 20, freeze_ms: 84, targets: ['local', 'dr'] };
    const table = parseTable(renderTable(pointColumns(NOW, false), [point]).join('\n'));
    expect(table.rows).toEqual([{ ID: 'p1', MODE: 'full', ENGINE: 'checkpoint', KIND: 'scheduled', TIER: 'fast', AGE: '2m', SIZE: '3.0 MiB', 'FREEZE MS': '84', TARGETS: 'local,dr' }]);
    expect(pointColumns(NOW, true).map((c) => c.header).slice(9)).toEqual(['QUIESCE', 'PARENT', 'DISKS', 'CREATED', 'REASON']);
  });

  it('jobs show their progress as a percentage, and the class of their error', () => {
    const job = { job_id: 'j', action: 'restore', domain: 'vm', state: 'failed', progress: { bytes_done: 1, bytes_total: 3 }, created_at: '2026-11-29T11:00:00Z', error: { class: 'TargetUnreachable', message: 'm' } };
    const [row] = parseTable(renderTable(jobColumns(NOW, false), [job]).join('\n')).rows;
    expect(row).toMatchObject({ PROGRESS: '33%', AGE: '1h', ERROR: 'TargetUnreachable' });
  });
});
