/**
 * Reads virt-dr's human output back (its columns are two or more spaces apart, and no
 * cell holds two spaces), so tests check what a person sees, not just that it printed.
 */
export interface ParsedTable {
  header: string[];
  rows: Record<string, string>[];
}

export function parseTable(stdout: string): ParsedTable {
  const [headerLine, ...lines] = stdout.trimEnd().split('\n');
  const header = cells(headerLine ?? '');
  const rows = lines.map((line) => {
    const values = cells(line);
    if (values.length !== header.length) throw new Error(`a row with ${values.length} cells under ${header.length} headers: ${line}`);
    return Object.fromEntries(header.map((name, i) => [name, values[i]!]));
  });
  return { header, rows };
}

/** `key  value` lines up to the first blank line (the tables of a record follow it). */
export function parseRecord(stdout: string): Record<string, string> {
  const fields = stdout.split('\n\n')[0]!.trimEnd().split('\n');
  return Object.fromEntries(
    fields.map((line) => {
      const match = /^(\S+) {2,}(.*)$/.exec(line);
      if (!match) throw new Error(`not a "key  value" line: ${line}`);
      return [match[1]!, match[2]!];
    }),
  );
}

function cells(line: string): string[] {
  return line.trim().split(/ {2,}/);
}
