// Every frozen vector of tests/vectors decodes to the pixels of its PNG.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { decode, info } from "../kmc.js";
import { codePalette, readPng, toVersion3 } from "./helpers.mjs";

const VECTORS = fileURLToPath(new URL("../../tests/vectors/", import.meta.url));
const names = readdirSync(VECTORS).filter((n) => n.endsWith(".kmc")).sort();

test("there are frozen vectors of every coder, with and without alpha, of every version", () => {
  assert.ok(names.length >= 25, `only ${names.length} vectors`);
  const kinds = new Set(), versions = new Set(), coded = new Set();
  for (const n of names) {
    const { coder, alpha, version } = decode(readFileSync(VECTORS + n));
    kinds.add(`${coder}${alpha}`);
    versions.add(version);
    // Spec section 14.4: coded-*.kmc are the version-3 files, of every coder, with and without alpha.
    assert.equal(version === 3, n.startsWith("coded-"), n);
    if (version === 3) coded.add(`${coder}${alpha}`);
  }
  assert.deepEqual([...kinds].sort(), ["0false", "0true", "1false", "1true", "2false", "2true"]);
  assert.deepEqual([...versions].sort(), [1, 2, 3]);
  assert.deepEqual([...coded].sort(), ["0false", "1false", "1true", "2false", "2true"]);
});

for (const name of names) {
  test(`${name} decodes to its PNG`, () => {
    const bytes = readFileSync(VECTORS + name);
    const image = decode(bytes);
    const expected = readPng(readFileSync(VECTORS + name.replace(/\.kmc$/, ".png")));
    assert.equal(image.width, expected.width);
    assert.equal(image.height, expected.height);
    assert.ok(image.rgba instanceof Uint8ClampedArray);
    assert.ok(Buffer.from(image.rgba).equals(Buffer.from(expected.rgba)), "pixels differ");
    const meta = info(bytes);
    assert.equal(meta.colors, image.colors);
    assert.equal(meta.alpha, image.alpha);
    assert.equal(image.palette.length, image.colors * (image.alpha ? 4 : 3));
    assert.equal(meta.total_bytes, bytes.length);
    assert.equal(meta.version, image.version);
    assert.equal(meta.coded_palette, image.version === 3);
    if (image.version === 3) {
      // §14.3: the decoded palette is canonical, ascending by A<<24 | R<<16 | G<<8 | B.
      const c = image.alpha ? 4 : 3, p = image.palette;
      const value = (i) => (image.alpha ? p[c * i + 3] * 2 ** 24 : 0)
        + p[c * i] * 65536 + p[c * i + 1] * 256 + p[c * i + 2];
      for (let i = 1; i < image.colors; i++) assert.ok(value(i - 1) < value(i), `entries ${i - 1} and ${i}`);
      assert.equal(meta.header_bytes, 32);
      assert.equal(meta.palette_bytes, bytes.readUInt32LE(28));
    }
  });
}

test("the worked example of spec section 9, by hand", () => {
  const image = decode(readFileSync(VECTORS + "example-3x2-k3.kmc"));
  assert.deepEqual([...image.indices], [2, 1, 0, 1, 0, 2]);
  assert.deepEqual([...image.palette], [0x10, 0x20, 0x40, 0xff, 0x80, 0x00, 0xff, 0xff, 0xff]);
  assert.deepEqual([...image.rgba.subarray(0, 8)], [255, 255, 255, 255, 255, 128, 0, 255]);
  assert.equal(image.coder, 0);
  assert.deepEqual(info(readFileSync(VECTORS + "example-3x2-k3.kmc")), {
    width: 3, height: 2, colors: 3, bits_per_index: 2, coder: "packed", version: 1, header_bytes: 28,
    palette_bytes: 9, index_bytes: 2, trailer_bytes: 4, total_bytes: 43, formula_bits: 84, alpha: false,
    coded_palette: false,
  });
});

test("the worked example of spec section 14.3: a coded palette of black and white", () => {
  const bytes = readFileSync(VECTORS + "coded-k2-4x1.kmc");
  const image = decode(bytes);
  assert.equal(image.version, 3);
  assert.deepEqual([...image.palette], [0, 0, 0, 255, 255, 255]);
  const meta = info(bytes);
  assert.equal(meta.header_bytes, 32);
  assert.equal(meta.palette_bytes, 15);
  assert.equal(meta.total_bytes, 36 + 15 + meta.index_bytes);
  assert.equal(meta.coded_palette, true);
});

test("section 14.2's encoder, written from the spec, writes the frozen coded palettes byte for byte", () => {
  for (const name of names.filter((n) => n.startsWith("coded-"))) {
    const bytes = readFileSync(VECTORS + name), image = decode(bytes);
    const stream = bytes.subarray(32, 32 + bytes.readUInt32LE(28));
    assert.ok(Buffer.from(codePalette(image.palette, image.alpha ? 4 : 3)).equals(stream), name);
  }
});

test("every version-1 and version-2 vector, its palette coded (version 3), decodes to the same image", () => {
  for (const name of names.filter((n) => !n.startsWith("coded-"))) {
    const bytes = readFileSync(VECTORS + name);
    if (bytes.length > 20000) continue; // K = 65536 and the large files: time better spent elsewhere
    const before = decode(bytes), after = decode(toVersion3(bytes));
    assert.equal(after.version, 3);
    assert.equal(after.alpha, before.alpha, name);
    assert.ok(Buffer.from(after.palette).equals(Buffer.from(before.palette)), name);
    assert.ok(Buffer.from(after.rgba).equals(Buffer.from(before.rgba)), name);
  }
});
