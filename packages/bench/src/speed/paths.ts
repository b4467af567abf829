import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This package's folder (src/speed/… when run from source, dist/… when built). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const name = (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name;
      if (name === '@dqa/bench') return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('@dqa/bench: cannot find its own package.json');
    dir = parent;
  }
}

export const benchRoot = packageRoot();

/** Whether this module runs from the TypeScript sources (tests, tsx) rather than the build. */
export const runningFromSource = fileURLToPath(import.meta.url).endsWith('.ts');
