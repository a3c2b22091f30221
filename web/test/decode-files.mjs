// For tests/test_web.py: decode each file named on the command line and print
// one JSON line per file: {"file", "width", "height", "coder", "alpha",
// "sha256" of the RGBA pixels} or {"file", "error", "kind"}.
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { decode, KmcError } from "../kmc.js";

for (const file of process.argv.slice(2)) {
  try {
    const image = decode(readFileSync(file));
    const sha256 = createHash("sha256").update(image.rgba).digest("hex");
    console.log(JSON.stringify({ file, width: image.width, height: image.height, coder: image.coder,
      alpha: image.alpha, sha256 }));
  } catch (err) {
    if (!(err instanceof KmcError)) throw err;
    console.log(JSON.stringify({ file, error: err.message, kind: err.kind }));
  }
}
