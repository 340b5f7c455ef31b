/**
 * What a terminal shows after some output: a small emulator of the sequences a progress
 * bar uses (CR, LF, CSI n A/B/C/D/G, K, J and the ?25 / ?7 modes), so that a test can
 * read the final screen instead of guessing from bytes. Anything else fails loudly,
 * because an unknown sequence would make the reading wrong.
 */
export interface Screen {
  /** The rows written, trailing blanks trimmed, trailing empty rows dropped. */
  rows: string[];
  /** Where the cursor ended (0-based). */
  cursor: { row: number; column: number };
  cursorVisible: boolean;
  /** How often the cursor was moved back to a line's start or up a row: redraws in place. */
  returns: number;
  newlines: number;
}

export function renderScreen(output: string, columns = 80): Screen {
  const rows: string[][] = [[]];
  let row = 0;
  let column = 0;
  let cursorVisible = true;
  let returns = 0;
  let newlines = 0;
  const line = () => (rows[row] ??= []);
  const chars = [...output];
  for (let i = 0; i < chars.length; i++) {
    const char = chars[i]!;
    if (char === '\r') {
      column = 0;
      returns++;
    } else if (char === '\n') {
      // As a tty's line discipline does by default (onlcr): LF goes to the next line's start.
      row++;
      column = 0;
      newlines++;
    } else if (char === '\x1b') {
      const match = /^\[(\??)(\d*)([A-Za-z])/.exec(chars.slice(i + 1, i + 12).join(''));
      if (match === null) throw new Error(`unknown escape sequence ${JSON.stringify(chars.slice(i, i + 8).join(''))}`);
      i += match[0].length;
      const [, privateMode, digits, final] = match;
      const n = digits === '' ? null : Number(digits);
      if (privateMode === '?') {
        if (n === 25) cursorVisible = final === 'h';
        else if (n !== 7) throw new Error(`unknown mode ?${n}${final}`);
        continue;
      }
      switch (final) {
        case 'A':
          row = Math.max(0, row - (n ?? 1));
          returns++;
          break;
        case 'B':
          row += n ?? 1;
          break;
        case 'C':
          column += n ?? 1;
          break;
        case 'D':
          column = Math.max(0, column - (n ?? 1));
          break;
        case 'G':
          column = (n ?? 1) - 1;
          if (column === 0) returns++;
          break;
        case 'K':
          if ((n ?? 0) === 0) line().length = Math.min(line().length, column);
          else if (n === 2) rows[row] = [];
          else line().fill(' ', 0, column);
          break;
        case 'J':
          line().length = Math.min(line().length, column);
          rows.length = Math.min(rows.length, row + 1);
          break;
        default:
          throw new Error(`unknown escape sequence ESC[${digits}${final}`);
      }
    } else {
      if (column >= columns) throw new Error(`row ${row} runs past ${columns} columns: ${JSON.stringify(line().join(''))}`);
      const current = line();
      while (current.length < column) current.push(' ');
      current[column++] = char;
    }
  }
  const text = Array.from({ length: rows.length }, (_, i) => (rows[i] ?? []).join('').trimEnd());
  while (text.length > 0 && text.at(-1) === '') text.pop();
  return { rows: text, cursor: { row, column }, cursorVisible, returns, newlines };
}
