/**
 * Plain-text tables and records for the CLI (pure). Columns are separated by at least two
 * spaces and no cell holds two spaces in a row, so `split(/ {2,}/)` reads a row back.
 */
export interface Column<Row> {
  header: string;
  cell: (row: Row) => string;
  /** Right-aligned (numbers, sizes, ages). */
  right?: boolean;
}

const EMPTY = '-';

export function renderTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string[] {
  const cells = rows.map((row) => columns.map((column) => tidy(column.cell(row))));
  const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: readonly string[]) =>
    values
      .map((value, i) => (columns[i]!.right ? value.padStart(widths[i]!) : value.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((column) => column.header)), ...cells.map(line)];
}

/**
 * An answer object as `key  value` lines: nested objects by dotted keys, lists of plain
 * values joined by commas, and lists of objects as a table under their key.
 */
export function renderRecord(value: Record<string, unknown>): string[] {
  const fields: [string, string][] = [];
  const tables: string[] = [];
  const walk = (object: Record<string, unknown>, prefix: string) => {
    for (const [key, item] of Object.entries(object)) {
      const name = prefix + key;
      if (Array.isArray(item) && item.length > 0 && item.every(isPlainObject)) {
        tables.push('', `${name}:`, ...tableOfObjects(item as Record<string, unknown>[]).map((line) => `  ${line}`));
      } else if (isPlainObject(item) && Object.keys(item).length > 0) {
        walk(item, `${name}.`);
      } else {
        fields.push([name, tidy(plain(item))]);
      }
    }
  };
  walk(value, '');
  const width = Math.max(0, ...fields.map(([key]) => key.length));
  return [...fields.map(([key, item]) => `${key.padEnd(width)}  ${item}`.trimEnd()), ...tables];
}

/** A list of objects as a table of their plain fields, in the first one's key order. */
function tableOfObjects(rows: readonly Record<string, unknown>[]): string[] {
  const keys = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  return renderTable(
    keys.map((key) => ({ header: key.toUpperCase(), cell: (row: Record<string, unknown>) => plain(row[key]) })),
    rows,
  );
}

/** A value as one cell: lists joined, objects as compact JSON, nothing as '-'. */
export function plain(value: unknown): string {
  if (value === null || value === undefined || value === '') return EMPTY;
  if (Array.isArray(value)) return value.length === 0 ? EMPTY : value.map(plain).join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** One line, no runs of spaces: a cell must never look like a column break. */
function tidy(cell: string): string {
  const text = cell.replace(/\s+/g, ' ').trim();
  return text === '' ? EMPTY : text;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
