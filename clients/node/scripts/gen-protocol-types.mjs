// Generates the TypeScript types of every request and event from
// docs/protocol.schema.json, which is itself generated from the Rust types
// (crates/kennel-protocol). One source for the protocol's types:
//
//   node scripts/gen-protocol-types.mjs          rewrite them
//   node scripts/gen-protocol-types.mjs --check  fail if they are out of date (npm test runs this)
//
// Three files: src/protocol/requests.ts (`Request` and every type it uses),
// src/protocol/events.ts (`Event` and the types only events use), and src/protocol.ts,
// which exports both, so the client imports from one place.
//
// No dependencies: the schema uses a small subset of JSON Schema (objects, arrays,
// enums, consts, oneOf/anyOf, $ref, nullable types), all handled here. The tagged unions
// `Request` (by `op`) and `Event` (by `event`) get one named interface per variant.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const schemaPath = path.join(here, "../../../docs/protocol.schema.json");
const srcDir = path.join(here, "../src");
const schema = JSON.parse(readFileSync(schemaPath, "utf8"));

const pascal = (s) => s.split("_").map((w) => w[0].toUpperCase() + w.slice(1)).join("");
const key = (k) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : JSON.stringify(k));

function comment(desc, indent) {
  if (!desc) return "";
  const lines = desc.trim().split("\n");
  return `${indent}/** ${lines.join(`\n${indent} * `)} */\n`;
}

function objectBody(s, indent) {
  const req = new Set(s.required ?? []);
  const props = Object.entries(s.properties ?? {});
  let out = "{\n";
  for (const [k, v] of props) {
    out += comment(v.description, indent + "  ");
    out += `${indent}  ${key(k)}${req.has(k) ? "" : "?"}: ${tsType(v, indent + "  ")};\n`;
  }
  if (s.additionalProperties && typeof s.additionalProperties === "object") {
    out += `${indent}  [key: string]: ${tsType(s.additionalProperties, indent + "  ")};\n`;
  }
  return out + `${indent}}`;
}

function tsType(s, indent = "") {
  if (s === true || s === undefined) return "unknown";
  if (s.$ref) return s.$ref.split("/").pop();
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((e) => JSON.stringify(e)).join(" | ");
  const alts = s.oneOf ?? s.anyOf;
  if (alts && !s.properties) return alts.map((a) => tsType(a, indent)).join(" | ");
  const types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : s.properties ? ["object"] : [];
  if (types.length === 0) return "unknown";
  return types
    .map((t) => {
      switch (t) {
        case "string":
          return "string";
        case "integer":
        case "number":
          return "number";
        case "boolean":
          return "boolean";
        case "null":
          return "null";
        case "array":
          return `Array<${tsType(s.items, indent)}>`;
        case "object":
          if (!s.properties && s.additionalProperties && typeof s.additionalProperties === "object") {
            return `Record<string, ${tsType(s.additionalProperties, indent)}>`;
          }
          return objectBody(s, indent);
        default:
          throw new Error(`unsupported schema type ${t}`);
      }
    })
    .join(" | ");
}

/** The TypeScript of one `$defs` entry. */
function emit(name, def) {
  const tag = name === "Request" ? "op" : name === "Event" ? "event" : null;
  if (!tag) {
    if ((def.type === "object" || def.properties) && !def.oneOf && !def.anyOf) {
      return comment(def.description, "") + `export interface ${name} ${objectBody(def, "")}\n\n`;
    }
    return comment(def.description, "") + `export type ${name} = ${tsType(def)};\n\n`;
  }
  let out = "";
  const names = [];
  // `{"event": "hello", ...HelloEvent}`: the tag over the referenced type, through one
  // generic (emitted before the first variant that is nothing more).
  const line = `${pascal(tag)}Line`;
  let lineEmitted = false;
  for (const v of def.oneOf) {
    const value = v.properties[tag].const;
    if (v.$ref) {
      const variant = pascal(value) + "Line";
      names.push(variant);
      const rest = { ...v, $ref: undefined };
      delete rest.$ref;
      const ref = tsType({ $ref: v.$ref });
      if (Object.keys(rest.properties ?? {}).join() === tag && !rest.additionalProperties) {
        if (!lineEmitted) {
          lineEmitted = true;
          out += `/** A line tagged by \`${tag}\`: the tag over the type of the other fields. */\n`;
          out += `type ${line}<Tag extends string, Fields> = { ${tag}: Tag } & Fields;\n\n`;
        }
        out += comment(v.description, "") + `export type ${variant} = ${line}<${JSON.stringify(value)}, ${ref}>;\n\n`;
      } else {
        out += comment(v.description, "") + `export type ${variant} = ${objectBody(rest, "")} & ${ref};\n\n`;
      }
    } else {
      const variant = pascal(value) + name;
      names.push(variant);
      out += comment(v.description, "") + `export interface ${variant} ${objectBody(v, "")}\n\n`;
    }
  }
  return out + comment(def.description, "") + `export type ${name} = ${names.join(" | ")};\n\n`;
}

/** The names of the `$defs` that `root` uses, itself included, directly or not. */
function reachable(root) {
  const seen = new Set();
  const visit = (name) => {
    if (seen.has(name)) return;
    seen.add(name);
    JSON.stringify(schema.$defs[name], (k, v) => {
      if (k === "$ref") visit(v.split("/").pop());
      return v;
    });
  };
  visit(root);
  return seen;
}

const header =
  "// GENERATED by scripts/gen-protocol-types.mjs from docs/protocol.schema.json (itself generated\n" +
  "// from crates/kennel-protocol). Do not edit: change the Rust types, then run\n" +
  "// `UPDATE_SCHEMA=1 cargo test -p kennel-protocol --test schema` and `npm run gen`.\n\n";
const requestDefs = reachable("Request");

let requests = header;
let events = header;
const shared = [...reachable("Event")].filter((name) => requestDefs.has(name)).sort();
if (shared.length > 0) {
  events += `import type { ${shared.join(", ")} } from "./requests.js";\n\n`;
}
for (const [name, def] of Object.entries(schema.$defs)) {
  if (requestDefs.has(name)) requests += emit(name, def);
  else events += emit(name, def);
}
const index =
  header +
  "// Requests (client to sidecar) and events (sidecar to client), with the types they use.\n" +
  'export * from "./protocol/requests.js";\n' +
  'export * from "./protocol/events.js";\n';
const files = {
  "protocol.ts": index,
  "protocol/requests.ts": requests.trimEnd() + "\n",
  "protocol/events.ts": events.trimEnd() + "\n",
};

if (process.argv.includes("--check")) {
  const stale = Object.entries(files).filter(([file, text]) => {
    try {
      return readFileSync(path.join(srcDir, file), "utf8") !== text;
    } catch {
      return true;
    }
  });
  if (stale.length > 0) {
    console.error(
      `clients/node/src/{${stale.map(([f]) => f).join(",")}} out of date with docs/protocol.schema.json (the Rust protocol types).\n` +
        "Regenerate: cd clients/node && npm run gen; then make the client follow the change and commit both.",
    );
    process.exit(1);
  }
} else {
  mkdirSync(path.join(srcDir, "protocol"), { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(path.join(srcDir, file), text);
}
