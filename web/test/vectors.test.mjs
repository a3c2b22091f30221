// Every frozen vector of tests/vectors decodes to the pixels of its PNG.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { decode, info } from "../kmc.js";
import { readPng } from "./helpers.mjs";

const VECTORS = fileURLToPath(new URL("../../tests/vectors/", import.meta.url));
const names = readdirSync(VECTORS).filter((n) => n.endsWith(".kmc")).sort();

test("there are frozen vectors of every coder, with and without alpha", () => {
  assert.ok(names.length >= 25, `only ${names.length} vectors`);
  const kinds = new Set(names.map((n) => {
    const { coder, alpha } = decode(readFileSync(VECTORS + n));
    return `${coder}${alpha}`;
  }));
  assert.deepEqual([...kinds].sort(), ["0false", "0true", "1false", "1true", "2false", "2true"]);
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
  });
});
