// Prints, as JSON, the artifact service's messages and methods as actions/toolkit's generated client declares them
// (lib/generated/results/api/v1/artifact.js in npm @actions/artifact): for each message its fields with proto name,
// JSON name, kind, scalar type number or message type name, and repetition; for each method its input and output.
// Usage: node artifact_messages.mjs PATH/TO/artifact.js
import { pathToFileURL } from "node:url";

const module = await import(pathToFileURL(process.argv[2]).href);

function describe(type) {
  return type.fields.map((f) => ({
    no: f.no,
    name: f.name,
    json_name: f.jsonName,
    kind: f.kind,
    type: f.kind === "scalar" || f.kind === "enum" ? (Array.isArray(f.T) ? f.T[0] : f.T) : f.T().typeName,
    repeat: f.repeat ?? 0,
    optional: Boolean(f.opt),
  }));
}

const messages = {};
const queue = Object.values(module).filter((v) => v && typeof v.typeName === "string" && Array.isArray(v.fields));
while (queue.length) {
  const type = queue.shift();
  if (messages[type.typeName]) continue;
  messages[type.typeName] = describe(type);
  for (const f of type.fields) if (f.kind === "message") queue.push(f.T());
}
const services = {};
for (const value of Object.values(module)) {
  if (value && typeof value.typeName === "string" && Array.isArray(value.methods)) {
    services[value.typeName] = Object.fromEntries(value.methods.map((m) => [m.name, { input: m.I.typeName, output: m.O.typeName }]));
  }
}
process.stdout.write(JSON.stringify({ messages, services }, null, 1));
