// Writes GitLab's CI JSON schema out of gitlab-ci-local's bundle, where it sits as one object literal (the package ships
// no separate file). Usage: node extract-gitlab-schema.cjs <gitlab-ci-local dist/index.js> <out.json>
const fs = require("node:fs");
const source = fs.readFileSync(process.argv[2], "utf8");
const marker = source.indexOf('$id:"https://gitlab.com/.gitlab-ci.yml"');
if (marker < 0) throw new Error("GitLab's CI schema is not in " + process.argv[2]);
const start = source.lastIndexOf("{", marker);
let depth = 0, end = start, quote = null;
for (; end < source.length; end++) {
  const c = source[end];
  if (quote) { if (c === "\\") end++; else if (c === quote) quote = null; continue; }
  if (c === '"' || c === "'" || c === "`") quote = c;
  else if (c === "{") depth++;
  else if (c === "}" && --depth === 0) break;
}
const schema = new Function("return (" + source.slice(start, end + 1) + ")")();
fs.writeFileSync(process.argv[3], JSON.stringify(schema, null, 1) + "\n");
