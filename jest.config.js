// One jest run for the whole monorepo. Tests import workspace packages from their sources
// (no build needed), and each test file makes its own database and queue prefix, so files run
// in parallel against the real PostgreSQL and Redis.
const fs = require('node:fs');
const path = require('node:path');

const workspaceDirs = ['packages', 'services', 'examples']
  .flatMap((group) => fs.readdirSync(path.join(__dirname, group)).map((dir) => path.join(group, dir)))
  .concat(['migrations', 'scripts'])
  .filter((dir) => fs.existsSync(path.join(__dirname, dir, 'package.json')));

const moduleNameMapper = Object.fromEntries(
  workspaceDirs.map((dir) => {
    const { name } = JSON.parse(fs.readFileSync(path.join(__dirname, dir, 'package.json'), 'utf8'));
    return [`^${name.replace('/', '\\/')}$`, `<rootDir>/${dir}/src/index.ts`];
  }),
);

/** Dependencies published as ESM only, which jest must compile to run them on Node 20. */
const esmOnlyPackages = ['cookie', 'content-disposition', 'parse5', 'entities'];

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: workspaceDirs.map((dir) => `<rootDir>/${dir}`),
  testMatch: ['**/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  modulePathIgnorePatterns: ['<rootDir>/.*/dist/'],
  moduleNameMapper,
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json', diagnostics: false }],
    // ESM-only dependencies (jest on Node 20 cannot require ESM): compiled to CommonJS.
    '^.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', target: 'ES2022' }, diagnostics: false }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnlyPackages.join('|')})/)`],
  maxWorkers: 2,
  testTimeout: 30_000,
  // Machine-readable summary for .ci/run (counts of passed and failed tests).
  reporters: ['default', ['<rootDir>/scripts/jest-summary-reporter.js', { outputFile: 'reports/jest-summary.json' }]],
};
