// The size limits of the client's shipped code (issue 15), measured with the TypeScript
// compiler's own parser: prints one line per place over a limit, as
// "<lines> <limit> <path[:function]>", for `cargo xtask shape` to judge.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";

const MAX_FILE_LINES = 400;
const MAX_FN_LINES = 60;
const root = new URL("..", import.meta.url).pathname;

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) yield path;
  }
}

function nameOf(node, source) {
  if (node.name) return node.name.getText(source);
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent)) return parent.name.getText(source);
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText(source);
  if (ts.isConstructorDeclaration(node)) return "constructor";
  return "<anonymous>";
}

for (const path of files(join(root, "src"))) {
  const text = readFileSync(path, "utf8");
  const rel = relative(root, path);
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const lineOf = (pos) => source.getLineAndCharacterOfPosition(pos).line;
  const total = text.endsWith("\n") ? lineOf(text.length) : lineOf(text.length) + 1;
  if (total > MAX_FILE_LINES) console.log(`${total} ${MAX_FILE_LINES} ${rel}`);
  const visit = (node) => {
    if (ts.isFunctionLike(node) && node.body) {
      const lines = lineOf(node.body.getEnd()) - lineOf(node.getStart(source)) + 1;
      if (lines > MAX_FN_LINES) {
        console.log(`${lines} ${MAX_FN_LINES} ${rel}:${nameOf(node, source)}`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}
