/** What the CLIs print at the end of a run: one text row per file, columns aligned. */
export type Alignment = 'left' | 'right';

/**
 * `rows` as lines of columns two spaces apart, each as wide as its widest cell and aligned as
 * `align` says (text left, numbers right); no line ends in spaces.
 */
export function textTable(rows: readonly (readonly string[])[], align: readonly Alignment[]): string[] {
  const widths = align.map((_, column) => Math.max(0, ...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row) =>
    align
      .map((side, column) => {
        const cell = row[column] ?? '';
        return side === 'left' ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!);
      })
      .join('  ')
      .trimEnd(),
  );
}
