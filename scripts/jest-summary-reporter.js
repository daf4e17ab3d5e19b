// Writes jest's counts to a JSON file after every run, so that .ci/run can print
// `tests: N passed, N failed` while running exactly `npm test`.
const fs = require('node:fs');
const path = require('node:path');

class JestSummaryReporter {
  constructor(globalConfig, options = {}) {
    this.outputFile = path.resolve(globalConfig.rootDir, options.outputFile || 'reports/jest-summary.json');
  }

  onRunComplete(_contexts, results) {
    const summary = {
      numTotalTests: results.numTotalTests,
      numPassedTests: results.numPassedTests,
      numFailedTests: results.numFailedTests,
      numPendingTests: results.numPendingTests,
      numTotalTestSuites: results.numTotalTestSuites,
      numFailedTestSuites: results.numFailedTestSuites,
      numRuntimeErrorTestSuites: results.numRuntimeErrorTestSuites,
      startTime: results.startTime,
      endTime: Date.now(),
    };
    fs.mkdirSync(path.dirname(this.outputFile), { recursive: true });
    fs.writeFileSync(this.outputFile, `${JSON.stringify(summary, null, 2)}\n`);
  }
}

module.exports = JestSummaryReporter;
