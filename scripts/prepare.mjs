// npm's prepare step (npm install, npm ci): build dist/ when the compiler is installed. After
// `npm install --omit=dev` there is none; say so and succeed, so a runtime-only install works.
import { spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  process.stderr.write(
    'tender: typescript is not installed (npm install --omit=dev), so dist/ was not built.\n' +
      'npm start runs dist/: build it with the dev dependencies (npm install && npm run build) and copy it here.\n',
  );
  process.exit(0);
}
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
// The package's bin: executable, so ./dist/cli/tender.js runs as it is (npm link and npm install -g set it too).
if (result.status === 0) chmodSync('dist/cli/tender.js', 0o755);
process.exit(result.status ?? 1);
