import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Runs the first ```ts block of a package README as written (STYLE.md: every README's first
 * example runs). The code is written next to the README, so its imports resolve like a user's
 * would inside that package, then imported; console output is returned for assertions.
 */
export async function runReadmeExample(readmePath: string): Promise<string[]> {
  const md = readFileSync(readmePath, 'utf8');
  const match = /```ts\n([\s\S]*?)```/.exec(md);
  if (!match) throw new Error(`${readmePath} has no \`\`\`ts example`);
  const dir = join(dirname(readmePath), 'test', '.readme');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `example-${process.pid}-${Date.now()}.ts`);
  writeFileSync(file, match[1]!);
  const lines: string[] = [];
  const original = console.log;
  console.log = (...args: unknown[]) => {
    lines.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
  };
  try {
    await import(/* @vite-ignore */ file);
  } finally {
    console.log = original;
    rmSync(file, { force: true });
  }
  return lines;
}
