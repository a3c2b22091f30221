// Decode a .kmc file on several cores in Node.js: the stripes of coders 1
// and 2 are independent (spec sections 11.1, 13), so worker threads decode
// ranges of them into one shared index array.  Same result, same errors as
// kmc.js's decode(), whose checks run first.
//
//   import { decodeParallel } from "./parallel.mjs";
//   const image = await decodeParallel(bytes, { threads: 4 });
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { availableParallelism } from "node:os";
import { KmcError, asBytes, decode, decodeStripes, info, paletteOf, rgbaOf } from "./kmc.js";

// More workers than stripes or cores gains nothing; this caps a careless `threads`.
const MAX_THREADS = 64;

/**
 * decode() with the stripes shared among `threads` workers (default: the
 * cores).  Files of the packed coder, or of one stripe, are decoded here.
 *
 * @param {Uint8Array|ArrayBuffer} bytes
 * @param {{threads?: number, maxPixels?: number|null}} [options]  `threads`: a whole number >= 1
 * @returns {Promise<object>} as decode()
 */
export async function decodeParallel(bytes, options = {}) {
  bytes = asBytes(bytes);
  // Every check before the payload's streams, in decode()'s order: the
  // header, the CRC, a coded palette (version 3, spec section 14), the stripe table.
  const palette = paletteOf(bytes, options);
  const meta = info(bytes, options);
  const asked = options.threads ?? availableParallelism();
  if (!(Number.isInteger(asked) && asked >= 1)) {
    throw new TypeError(`threads is ${asked}; it must be a whole number >= 1`);
  }
  const threads = Math.min(asked, meta.stripes ?? 1, MAX_THREADS);
  if (meta.coder === "packed" || threads < 2) return decode(bytes, options);
  const n = meta.width * meta.height;
  const shared = new SharedArrayBuffer(n * (meta.colors <= 256 ? 1 : 2));
  const indices = meta.colors <= 256 ? new Uint8Array(shared) : new Uint16Array(shared);
  const file = new Uint8Array(new SharedArrayBuffer(bytes.length));
  file.set(bytes);
  const ranges = [];
  for (let t = 0; t < threads; t++) {
    ranges.push([Math.floor((meta.stripes * t) / threads), Math.floor((meta.stripes * (t + 1)) / threads)]);
  }
  const results = await Promise.all(ranges.map(([first, end]) => new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { file, shared, first, end, maxPixels: options.maxPixels },
    });
    worker.once("message", (result) => {
      resolve(result);
      worker.terminate();
    });
    worker.once("error", reject);
  })));
  // The first bad stripe's error, as a one-thread decode would report it;
  // anything but a KmcError is a fault of this program, not of the file.
  const failed = results.find((r) => r.error);
  if (failed && failed.name === "KmcError") throw new KmcError(failed.error, failed.kind);
  if (failed) throw new Error(`a decoding worker failed: ${failed.name}: ${failed.error}`);
  return {
    width: meta.width, height: meta.height, colors: meta.colors, coder: file[5], alpha: meta.alpha,
    version: meta.version, palette, indices, rgba: rgbaOf(palette, meta.alpha, indices),
  };
}

if (!isMainThread && workerData && workerData.shared) {
  const { file, shared, first, end, maxPixels } = workerData;
  const colors = file[16] | (file[17] << 8) | (file[18] << 16); // checked by info() already
  const view = colors <= 256 ? new Uint8Array(shared) : new Uint16Array(shared);
  try {
    decodeStripes(file, first, end, view, maxPixels === undefined ? undefined : { maxPixels });
    parentPort.postMessage({});
  } catch (err) {
    parentPort.postMessage({ error: err.message, kind: err.kind, name: err.name });
  }
}
