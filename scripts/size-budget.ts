/**
 * The size budget CI enforces (as tinygrad's sz.py does): no source file over 300 lines, and the
 * coordinator's fit loop (coordinator/fit.ts) under 80 lines of code. Prints the largest files
 * and exits 1 naming every file over its budget.
 */
import { readFileSync } from 'fs';
import { execFileSync } from 'child_process';

const SOURCE_DIRS = ['cli', 'coordinator', 'worker', 'shared', 'scripts'];
const FILE_BUDGET = 300;
/** Budgets in lines of code (no blank or comment-only lines) for files that hold one loop. */
const CODE_BUDGETS: Record<string, number> = { 'coordinator/fit.ts': 80 };

/** Lines that are neither blank nor only a comment. */
export function codeLines(text: string): number {
  let inBlock = false;
  let n = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (inBlock) {
      if (line.includes('*/')) inBlock = false;
      continue;
    }
    if (line === '' || line.startsWith('//')) continue;
    if (line.startsWith('/*')) {
      inBlock = !line.includes('*/');
      continue;
    }
    n++;
  }
  return n;
}

function main(): void {
  const files = execFileSync('git', ['ls-files', ...SOURCE_DIRS.map((d) => `${d}/*.ts`)], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  const rows = files.map((file) => {
    const text = readFileSync(file, 'utf8');
    return { file, lines: text.split('\n').length - (text.endsWith('\n') ? 1 : 0), code: codeLines(text) };
  });
  const over = [
    ...rows.filter((r) => r.lines > FILE_BUDGET).map((r) => `${r.file}: ${r.lines} lines (budget ${FILE_BUDGET})`),
    ...Object.entries(CODE_BUDGETS).flatMap(([file, budget]) => {
      const r = rows.find((x) => x.file === file);
      return r && r.code > budget ? [`${file}: ${r.code} lines of code (budget ${budget})`] : [];
    }),
  ];
  rows.sort((a, b) => b.lines - a.lines);
  console.log('file                                         lines  code');
  for (const r of rows.slice(0, 8)) console.log(`${r.file.padEnd(44)} ${String(r.lines).padStart(5)} ${String(r.code).padStart(5)}`);
  const total = rows.reduce((a, r) => a + r.code, 0);
  console.log(`${rows.length} source files, ${total} lines of code`);
  if (over.length > 0) {
    console.error(`size budget exceeded:\n  ${over.join('\n  ')}`);
    process.exit(1);
  }
}

if (require.main === module) main();
