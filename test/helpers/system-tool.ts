/** Tests that need a program from a Debian package: run them where it is installed, else skip with a reason (fail under CI=true). */
import { existsSync } from 'node:fs';
import { it } from 'vitest';
import { IN_CI } from '../stores/services.js';

/**
 * Registers `body`'s tests when `path` exists; otherwise one test that fails under `CI=true` (where .ci/run installs
 * the package) or is skipped with the reason and the fix.
 */
export function withSystemTool(path: string, debianPackage: string, body: () => void): void {
  if (existsSync(path)) {
    body();
  } else if (IN_CI) {
    it(`needs ${path}`, () => {
      throw new Error(`${path} is missing (CI=true: install the Debian "${debianPackage}" package)`);
    });
  } else {
    it.skip(`[skipped: ${path} is missing; apt-get install ${debianPackage}, or set CI=true to fail instead]`, () => {});
  }
}
