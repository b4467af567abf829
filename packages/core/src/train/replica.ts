/**
 * The URL a worker thread imports to reach a built module of a package, given the
 * `import.meta.url` of a file of that package. Published packages run from `dist/`, where every
 * entry and chunk lies side by side, so the entry is the sibling `entry` of the calling file. In
 * a source checkout run through a TypeScript loader (tests), the calling file is under `src/`; a
 * plain Node worker cannot import TypeScript, so the package's built `dist/<entry>` is used
 * (build the package first).
 */
export function builtModuleUrl(importMetaUrl: string, entry = 'index.js'): string {
  const url = new URL(importMetaUrl);
  if (/\.[cm]?tsx?$/.test(url.pathname)) {
    const at = url.pathname.lastIndexOf('/src/');
    if (at < 0) {
      throw new Error(
        `builtModuleUrl: ${importMetaUrl} is a TypeScript file outside a src/ folder`,
      );
    }
    url.pathname = `${url.pathname.slice(0, at)}/dist/${entry}`;
    return url.href;
  }
  return new URL(entry, url).href;
}
