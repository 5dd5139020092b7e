// The built CLI must be executable: `npx bedrock-batch` fails with "Permission denied" otherwise.
import { chmodSync, readFileSync } from 'node:fs';
const bin = new URL('../dist/src/cli/bin.js', import.meta.url);
const head = readFileSync(bin, 'utf8').slice(0, 64);
if (!/^#!\/usr\/bin\/env (?:-S )?node[ \n]/.test(head)) {
  console.error('dist/src/cli/bin.js must start with "#!/usr/bin/env node" (or "#!/usr/bin/env -S node <flags>")');
  process.exit(1);
}
chmodSync(bin, 0o755);
