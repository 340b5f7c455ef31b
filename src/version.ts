import { readFileSync } from 'node:fs';

/**
 * The package version, read from package.json at the project root. The walk upwards
 * finds it both from src/ (tests) and from dist/src/ (the built agent).
 */
function readVersion(): string {
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'virt-dr-agent' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return '0.0.0';
}

export const VERSION = readVersion();
