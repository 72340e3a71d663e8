// npm can only lock optional platform packages it can fetch metadata for; the registry this
// project is built against does not serve chdb's darwin and linux-arm64 libraries, so npm
// install leaves them out of package-lock.json and a later `npm ci` refuses the lock. This adds
// their (os/cpu-gated, never fetched on other platforms) entries. Run after `npm install`:
//   node infra/complete-lockfile.cjs
const fs = require('fs');
const lock = JSON.parse(fs.readFileSync('package-lock.json', 'utf8'));
const chdb = lock.packages['node_modules/chdb'];
const plat = { 'darwin-arm64': ['darwin', 'arm64'], 'darwin-x64': ['darwin', 'x64'], 'linux-arm64-gnu': ['linux', 'arm64'], 'linux-x64-gnu': ['linux', 'x64'] };
for (const [name, version] of Object.entries(chdb.optionalDependencies)) {
  const key = `node_modules/${name}`;
  if (lock.packages[key]) continue;
  const [os, cpu] = plat[name.replace('@chdb/lib-', '')];
  lock.packages[key] = { version, resolved: `https://registry.npmjs.org/${name}/-/${name.split('/')[1]}-${version}.tgz`, cpu: [cpu], license: 'Apache-2.0', optional: true, os: [os], ...(os === 'linux' ? { libc: ['glibc'] } : {}) };
}
const sorted = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
lock.packages = sorted;
fs.writeFileSync('package-lock.json', JSON.stringify(lock, null, 2) + '\n');
