/**
 * Temporary directories for tests, under the OS temporary directory and removed with all they hold:
 * `tempDir` makes one that the test removes itself; `useTempDir` gives every test of a file (or of
 * a describe block) a fresh one, or all of them one, through the test hooks.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';

export interface TempDir {
  dir: string;
  /** Removes the directory and everything in it. */
  cleanup: () => Promise<void>;
}

/** A new empty directory named `<prefix>XXXXXX`. */
export async function tempDir(prefix: string): Promise<TempDir> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * A fresh directory for each test where it is called (made before the test, removed after it, after
 * the hooks registered later have run), or with `shared` one for all those tests. Read `.dir` in a
 * test or a hook.
 */
export function useTempDir(prefix: string, options: { shared?: boolean } = {}): { readonly dir: string } {
  const [before, after] = options.shared ? [beforeAll, afterAll] : [beforeEach, afterEach];
  let current: TempDir | undefined;
  before(async () => {
    current = await tempDir(prefix);
  });
  after(async () => {
    await current?.cleanup();
    current = undefined;
  });
  return {
    get dir() {
      if (!current) throw new Error('useTempDir: the directory exists only while a test runs');
      return current.dir;
    },
  };
}
