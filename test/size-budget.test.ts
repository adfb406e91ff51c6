/** The size budget's line counter: code lines exclude blanks and comments of both kinds. */
import { codeLines } from '../scripts/size-budget';

test('codeLines counts statements, not blank lines or comments', () => {
  const text = [
    '/**',
    ' * doc',
    ' */',
    'import x from "y";',
    '',
    '// note',
    'const a = 1; /* trailing */',
    '/* one-line */',
    'f(a);',
    '',
  ].join('\n');
  expect(codeLines(text)).toBe(3);
});
