// Decode speed of web/kmc.js in Node.js beside the Python decoder, on the same files.
//
//   node web/bench.mjs [FILE.kmc ...] [--repeat N]
//
// Without files it asks Python (KMC_PYTHON, else .venv/bin/python, else
// python3, with kmcodec installed) to make two 12-megapixel photographs of
// bench/common.py (the tiled samples, and the same with sensor noise, the
// hardest for the entropy coders) quantised to K = 256 and stored with each
// coder.  For each file: kmc.js on one thread (the first, cold decode
// and the median of N), parallel.mjs's workers for the striped coders, and
// kmcodec.decode, each from bytes in memory to RGBA or RGB pixels.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { decode, info } from "./kmc.js";
import { decodeParallel } from "./parallel.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TARGETS = { packed: 100, entropy: 5, mix: null }; // MP/s, issue 18 (none set for coder 2)

function python() {
  if (process.env.KMC_PYTHON) return process.env.KMC_PYTHON;
  const venv = join(ROOT, ".venv", "bin", "python");
  return existsSync(venv) ? venv : "python3";
}

const MAKE = `
import sys
sys.path.insert(0, "bench")
from common import photographs
import kmcodec
photos = photographs(4000, 3000)
for name in ("samples", "grain"):
    q = kmcodec.quantize(photos[name], 256, 0)
    for coder in ("packed", "entropy", "mix"):
        with open(f"{sys.argv[1]}/{name}-12mp-k256-{coder}.kmc", "wb") as fh:
            fh.write(q.to_bytes(coder))
`;

const TIME = `
import statistics, sys, time
import kmcodec
data = open(sys.argv[1], "rb").read()
kmcodec.decode(data)  # load the compiled decoder first
runs = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    kmcodec.decode(data)
    runs.append(time.perf_counter() - start)
print(statistics.median(runs), kmcodec.__version__)
`;

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

async function timed(fn, repeat) {
  const runs = [];
  for (let i = 0; i < repeat + 1; i++) {
    const start = performance.now();
    await fn();
    runs.push((performance.now() - start) / 1000);
  }
  return { cold: runs[0], median: median(runs.slice(1)) };
}

async function main() {
  const args = process.argv.slice(2);
  let repeat = 5;
  const at = args.indexOf("--repeat");
  if (at >= 0) {
    repeat = Number(args[at + 1]);
    args.splice(at, 2);
  }
  let files = args, scratch = null;
  const py = python();
  if (!files.length) {
    scratch = mkdtempSync(join(tmpdir(), "kmc-bench-"));
    execFileSync(py, ["-c", MAKE, scratch], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
    files = ["samples", "grain"].flatMap((n) => ["packed", "entropy", "mix"]
      .map((c) => join(scratch, `${n}-12mp-k256-${c}.kmc`)));
  }
  console.log(`machine: ${cpus().length} cores (${cpus()[0].model}), ${Math.round(totalmem() / 2 ** 30)} GiB;`
    + ` Node ${process.version}`);
  const rows = [];
  let version = "?";
  try {
    for (const file of files) {
      const bytes = readFileSync(file);
      const meta = info(bytes);
      const mp = (meta.width * meta.height) / 1e6;
      const one = await timed(() => decode(bytes), repeat);
      const many = meta.coder !== "packed" ? await timed(() => decodeParallel(bytes), repeat) : null;
      const [pySeconds, pyVersion] = execFileSync(py, ["-c", TIME, file, String(repeat)], { cwd: ROOT })
        .toString().trim().split(" ");
      version = pyVersion;
      const rate = (s) => (mp / s).toFixed(1);
      const best = many ? Math.max(mp / one.median, mp / many.median) : mp / one.median;
      const target = TARGETS[meta.coder];
      rows.push([file.split("/").pop(), meta.coder, String(meta.colors), mp.toFixed(1), rate(one.cold),
        rate(one.median), many ? rate(many.cold) : "", many ? rate(many.median) : "", rate(Number(pySeconds)),
        target === null ? "-" : `${target}`, target === null ? "" : best >= target ? "met" : "NOT met"]);
    }
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
  console.log(`kmcodec ${version} (Python, ${py}); MP/s, median of ${repeat} after the first (cold) decode`);
  const header = ["file", "coder", "K", "MP", "kmc.js cold", "kmc.js", "workers cold", "workers", "Python",
    "target", ""];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const r of [header, ...rows]) console.log(r.map((v, i) => (i < 2 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  "));
}

await main();
