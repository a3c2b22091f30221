// Make kmc-classic.js, kmc.js for a plain <script> tag: browsers refuse ES
// modules from file:// pages, and the viewer must open straight from disk.
// The module's text is kept; only its `export` keywords go, and the whole
// is wrapped so that it defines one global, `kmc`.
//
//   node web/make-classic.mjs           write web/kmc-classic.js
//   node web/make-classic.mjs --check   exit 1 if it is not what this would write
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = (name) => fileURLToPath(new URL(name, import.meta.url));

export function classic(source) {
  const exported = [];
  const body = source.replace(/^export (const|class|function) (\w+)/gm, (_, kind, name) => {
    exported.push(name);
    return `${kind} ${name}`;
  });
  if (/^export /m.test(body)) throw new Error("kmc.js has an export this script does not handle");
  return "// Generated from kmc.js by make-classic.mjs: edit kmc.js, then run node web/make-classic.mjs.\n"
    + "(function (global) {\n\"use strict\";\n"
    + body
    + `\nglobal.kmc = { ${exported.join(", ")} };\n})(globalThis);\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const wanted = classic(readFileSync(here("kmc.js"), "utf8"));
  if (process.argv.includes("--check")) {
    let have = "";
    try {
      have = readFileSync(here("kmc-classic.js"), "utf8");
    } catch {
      // missing: reported below
    }
    if (have !== wanted) {
      console.error("web/kmc-classic.js is not made from web/kmc.js: run node web/make-classic.mjs");
      process.exit(1);
    }
  } else {
    writeFileSync(here("kmc-classic.js"), wanted);
  }
}
