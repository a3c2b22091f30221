// parallel.mjs: the same pixels and the same first error as decode().
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { decode, decodeStripes, KmcError } from "../kmc.js";
import { decodeParallel } from "../parallel.mjs";
import { toVersion3, withCrc } from "./helpers.mjs";

const VECTORS = fileURLToPath(new URL("../../tests/vectors/", import.meta.url));

test("stripes shared among workers give decode()'s pixels", async () => {
  // mix-columns-k5-23x37-rows10.kmc: coder 2, orientation 1 (spec section 13), stripes of columns.
  for (const name of ["entropy-k4-rows1-23x9.kmc", "entropy-k5-noise-40x30-rows7.kmc",
    "alpha-entropy-sprite-k13-48x40.kmc", "k2-7x5.kmc", "mix-columns-k5-23x37-rows10.kmc",
    "mix-k5-noise-40x30-rows7.kmc"]) {
    const bytes = readFileSync(VECTORS + name);
    for (const threads of [1, 2, 3, 9]) {
      const image = await decodeParallel(bytes, { threads });
      assert.ok(Buffer.from(image.rgba).equals(Buffer.from(decode(bytes).rgba)), `${name}, ${threads} threads`);
    }
  }
});

test("a bad stripe gives the error of the first bad stripe, as decode() does", async () => {
  const good = readFileSync(VECTORS + "entropy-k4-rows1-23x9.kmc");
  // Stripes 5 and 7 made one byte longer: their streams hold a byte their decoding does not read.
  const bytes = Uint8Array.from(good);
  const table = 28 + 3 * 4 + 4;
  for (const s of [5, 7]) bytes[table + 4 * s] += 1;
  bytes[table + 0] -= 2; // and stripe 0 two shorter, so that the lengths still add up
  const bad = withCrc(bytes);
  let expected;
  assert.throws(() => decode(bad), (e) => { expected = e.message; return e instanceof KmcError; });
  await assert.rejects(decodeParallel(bad, { threads: 3 }), (e) => e instanceof KmcError && e.message === expected);
});

test("coder 2 in orientation 1: a bad stripe gives decode()'s error, naming the stored pixel", async () => {
  // Stripe 2 of mix-columns-k5-23x37-rows10.kmc (the transpose's rows 20 to 22, the stored
  // columns 20 to 22) filled with 0xff: its first pixel is a literal with no entry left.
  const bytes = Uint8Array.from(readFileSync(VECTORS + "mix-columns-k5-23x37-rows10.kmc"));
  const start = 28 + 3 * 5, dv = new DataView(bytes.buffer);
  const at = start + 1 + 4 + 4 * 3 + dv.getUint32(start + 5, true) + dv.getUint32(start + 9, true);
  bytes.fill(0xff, at, at + dv.getUint32(start + 13, true));
  const bad = withCrc(bytes);
  const message = "mix payload: stripe 2 decodes to a literal where every palette entry is a candidate at pixel "
    + "(x=20, y=0); the coded data is corrupt";
  assert.throws(() => decode(bad), (e) => e instanceof KmcError && e.message === message);
  for (const threads of [2, 3]) {
    await assert.rejects(decodeParallel(bad, { threads }), (e) => e instanceof KmcError && e.message === message);
  }
  // An orientation byte of 2 is refused before any worker starts, as decode() refuses it.
  const wrong = Uint8Array.from(readFileSync(VECTORS + "mix-columns-k5-23x37-rows10.kmc"));
  wrong[start] = 2;
  await assert.rejects(decodeParallel(withCrc(wrong), { threads: 2 }),
    /^KmcError: mix payload: orientation is 2; it must be 0 \(rows\) or 1 \(columns\)$/);
});

test("decodeStripes checks its arguments", () => {
  const bytes = readFileSync(VECTORS + "entropy-k4-rows1-23x9.kmc");
  assert.throws(() => decodeStripes(bytes, 0, 10, new Uint8Array(23 * 9)), RangeError);
  assert.throws(() => decodeStripes(bytes, 0, 9, new Uint8Array(5)), RangeError);
  assert.throws(() => decodeStripes(readFileSync(VECTORS + "k2-7x5.kmc"), 0, 1, new Uint8Array(35)), TypeError);
});

test("decodeParallel takes what decode() takes, and refuses a bad thread count", async () => {
  const bytes = readFileSync(VECTORS + "entropy-k4-rows1-23x9.kmc");
  const expected = Buffer.from(decode(bytes).rgba);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  assert.ok(Buffer.from((await decodeParallel(buffer, { threads: 2 })).rgba).equals(expected));
  for (const threads of [0, 2.5, NaN, -1, "2"]) {
    await assert.rejects(decodeParallel(bytes, { threads }), TypeError, String(threads));
  }
  assert.ok(Buffer.from((await decodeParallel(bytes, { threads: 1000 })).rgba).equals(expected));
});

test("the palette returned is a copy, not a view of the caller's bytes", async () => {
  const bytes = Buffer.from(readFileSync(VECTORS + "entropy-k4-rows1-23x9.kmc"));
  for (const image of [decode(bytes), await decodeParallel(bytes, { threads: 2 })]) {
    const before = image.palette[0];
    bytes[28] ^= 0xff;
    assert.equal(image.palette[0], before);
    bytes[28] ^= 0xff;
  }
});

test("version 3: the palette is decoded once more, the stripes shared as before", async () => {
  for (const name of ["entropy-k4-rows1-23x9.kmc", "mix-k5-noise-40x30-rows7.kmc",
    "alpha-entropy-sprite-k13-48x40.kmc"]) {
    const bytes = toVersion3(readFileSync(VECTORS + name));
    const expected = decode(bytes);
    assert.equal(expected.version, 3);
    for (const threads of [1, 2, 3]) {
      const image = await decodeParallel(bytes, { threads });
      assert.ok(Buffer.from(image.rgba).equals(Buffer.from(expected.rgba)), `${name}, ${threads} threads`);
      assert.ok(Buffer.from(image.palette).equals(Buffer.from(expected.palette)), `${name}, ${threads} threads`);
      assert.deepEqual(Object.keys(image).sort(), Object.keys(expected).sort());
    }
  }
  // A bad coded palette and a bad stripe table: decode() names the palette (spec section 14.3), so must the workers.
  const bytes = toVersion3(readFileSync(VECTORS + "entropy-k4-rows1-23x9.kmc"));
  bytes[16] = 5; // colors 5 (b = 3) for a stream of 4 entries
  bytes[6] = 3;
  const q = new DataView(bytes.buffer).getUint32(28, true);
  bytes[32 + q] = 0; // stripe_rows 0
  bytes[32 + q + 1] = 0;
  bytes[32 + q + 2] = 0;
  bytes[32 + q + 3] = 0;
  const bad = withCrc(bytes);
  const message = /KmcError: coded palette: its stream codes 4 entries but colors is 5/;
  assert.throws(() => decode(bad), message);
  await assert.rejects(decodeParallel(bad, { threads: 3 }), message);
});
