// Hostile files: thousands of mutations of the frozen vectors.  Each must
// be refused with a KmcError, or (when the mutation left a valid file)
// decode to a well-formed image; never another exception, a hang or a crash.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { decode, info, paletteOf, KmcError, DEFAULT_MAX_PIXELS } from "../kmc.js";
import { generator, mutate, withCrc } from "./helpers.mjs";

const VECTORS = fileURLToPath(new URL("../../tests/vectors/", import.meta.url));
const files = readdirSync(VECTORS).filter((n) => n.endsWith(".kmc")).sort()
  .map((n) => readFileSync(VECTORS + n))
  .filter((b) => b.length <= 20000); // the largest vector alone would take most of the time

function verdict(bytes) {
  try {
    const image = decode(bytes);
    const n = image.width * image.height;
    assert.equal(image.rgba.length, 4 * n);
    assert.ok(n <= DEFAULT_MAX_PIXELS);
    assert.ok(image.indices.every((v) => v < image.colors));
    assert.equal(info(bytes).total_bytes, bytes.length);
    return "decoded";
  } catch (err) {
    if (!(err instanceof KmcError)) throw err;
    assert.ok(err.message.length > 10, err.message);
    return err.kind;
  }
}

test("4,000 mutated files with their CRC left stale are all refused", () => {
  const rand = generator(1);
  for (let i = 0; i < 4000; i++) {
    const original = files[i % files.length];
    const bytes = mutate(original, rand);
    if (Buffer.from(bytes).equals(original)) continue;
    assert.throws(() => decode(bytes), KmcError, `mutation ${i}`);
    assert.throws(() => info(bytes), KmcError, `mutation ${i}`);
  }
});

test("2,500 mutated files with a fresh CRC are refused or decode to a well-formed image", () => {
  const rand = generator(2);
  const seen = {};
  for (let i = 0; i < 2500; i++) {
    const bytes = withCrc(mutate(files[i % files.length], rand));
    const v = verdict(bytes);
    seen[v] = (seen[v] || 0) + 1;
  }
  // Most reach a check behind the CRC; some decode (a changed palette byte, say).
  assert.ok(seen.format > 700, JSON.stringify(seen));
  assert.ok(seen.decoded > 50, JSON.stringify(seen));
  assert.ok(seen.unsupported > 10, JSON.stringify(seen));
});

test("the pixel limit is checked before any pixel memory, and can be set", () => {
  const header = (width, height, colors, coder, payload) => {
    const b = Math.ceil(Math.log2(colors));
    const out = new Uint8Array(28 + 3 * colors + payload.length + 4);
    const dv = new DataView(out.buffer);
    out.set([0x4b, 0x4d, 0x43, 0x46, 1, coder, b, 0]);
    dv.setUint32(8, width, true);
    dv.setUint32(12, height, true);
    dv.setUint32(16, colors, true);
    dv.setUint32(20, payload.length, true);
    out.set(payload, 28 + 3 * colors);
    return withCrc(out);
  };
  // K = 1 packed: no payload at all, whatever the size.
  const huge = header(65535, 65535, 1, 0, []);
  assert.throws(() => decode(huge), (e) => e instanceof KmcError && e.kind === "pixel-limit"
    && /65535 x 65535 = 4294836225 pixels, above the limit of 89478485/.test(e.message));
  assert.throws(() => decode(header(101, 100, 1, 0, []), { maxPixels: 10000 }), /above the limit of 10000/);
  assert.equal(decode(header(100, 100, 1, 0, []), { maxPixels: 10000 }).width, 100);
  assert.throws(() => decode(huge, { maxPixels: -1 }), TypeError);
  // An entropy stream of 4 bytes may stand for many pixels: the limit, not
  // the file size, bounds the work, and the decode ends.
  const stripe = [0, 1, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0]; // stripe_rows 256, one stream of 4 zero bytes
  const wide = header(2000, 256, 1, 1, stripe);
  assert.throws(() => decode(wide), /stream is 4 bytes but decoding it reads \d+/);
});

test("every header check names its field, value and rule", () => {
  const good = readFileSync(VECTORS + "example-3x2-k3.kmc");
  const set = (offset, values, fix = true) => {
    const out = Uint8Array.from(good);
    out.set(values, offset);
    return fix ? withCrc(out) : out;
  };
  const cases = [
    [Uint8Array.from([0x4b, 0x4d, 0x43, 0x47]), /magic is "KMCG", expected "KMCF": not a .kmc file/],
    [good.subarray(0, 20), /file is 20 bytes, shorter than the 28-byte header: truncated/],
    [set(4, [4]), /version is 4; this reader supports versions 1, 2 and 3/],
    [set(5, [7]), /unsupported coder 7; this reader supports 0 \(packed\), 1 \(entropy\), 2 \(mix\)/],
    [set(7, [1]), /flags is 0x01, must be 0x00 in version 1/],
    [set(8, [0, 0, 0, 0]), /width x height is 0 x 2; both must be >= 1/],
    [set(16, [0, 0, 0, 0]), /colors is 0, must be from 1 to 65536/],
    [set(6, [3]), /bits_per_index is 3, must be ceil\(log2\(colors\)\) = 2 for colors = 3/],
    [set(20, [3]), /payload_bytes is 3, must be ceil\(3\*2\*2\/8\) = 2 for the packed coder/],
    [withCrc(Uint8Array.from([...good, 0])), /file is 44 bytes but the header declares 43 .*: 1 trailing bytes/],
    [set(38, [0xff], false), /crc32 is 0xab1c4783 but the bytes before it give 0x[0-9a-f]{8}: the file is corrupt/],
    [set(38, [0x2f]), /the last payload byte is 0x2f; its 4 padding bits must be zero/],
    [set(37, [0xd1]), /index 3 at pixel 0 \(row 0, column 0\) is >= colors = 3/],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(() => decode(bytes), (e) => e instanceof KmcError && message.test(e.message), String(message));
  }
  assert.throws(() => decode("not bytes"), TypeError);
});

test("every coder-2 payload check names its field, value and rule, for either orientation", () => {
  // A K = 1 coder-2 file of 5 x 3 pixels around `payload` (coder 2 has no payload_bytes rule).
  const mix = (payload, width = 5, height = 3) => {
    const out = new Uint8Array(28 + 3 + payload.length + 4);
    const dv = new DataView(out.buffer);
    out.set([0x4b, 0x4d, 0x43, 0x46, 1, 2, 0, 0]);
    dv.setUint32(8, width, true);
    dv.setUint32(12, height, true);
    dv.setUint32(16, 1, true);
    dv.setUint32(20, payload.length, true);
    out.set(payload, 31);
    return withCrc(out);
  };
  const cases = [
    // Spec 13.6: first the orientation byte, then coder 1's checks on the bytes after it.
    [mix([]), /^mix payload: 0 bytes, too short for the orientation field \(1 byte\)$/],
    [mix([2, 3, 0, 0, 0, 8, 0, 0, 0, ...new Array(8).fill(0xff)]),
      /^mix payload: orientation is 2; it must be 0 \(rows\) or 1 \(columns\)$/],
    [mix([255]), /^mix payload: orientation is 255; it must be 0 \(rows\) or 1 \(columns\)$/],
    [mix([0]), /^mix payload after the orientation byte: 0 bytes, too short for the stripe_rows field \(4 bytes\)$/],
    [mix([1, 0, 0, 0, 0]), /^mix payload after the orientation byte: stripe_rows is 0; it must be at least 1$/],
    // The stripe table is the coded image's: 3 rows a stripe are 1 stripe of the 3 stored rows but
    // 2 of the transpose's 5 rows (the stored columns).
    [mix([1, 3, 0, 0, 0, 0, 0, 0, 0]),
      new RegExp("^mix payload after the orientation byte: 8 bytes cannot hold the stripe table of 2 stripes "
        + "\\(12 bytes for stripe_rows 3 and the transposed image's height 5\\)$")],
  ];
  for (const [bytes, message] of cases) {
    for (const check of [decode, info]) {
      assert.throws(() => check(bytes), (e) => e instanceof KmcError && e.kind === "format" && message.test(e.message),
        `${check.name}: ${message}`);
    }
  }
  // The same stripe table of 3 rows a stripe: 1 stripe as stored, 2 of the transpose.
  const rows = info(mix([0, 3, 0, 0, 0, 0, 0, 0, 0])), columns = info(mix([1, 3, 0, 0, 0, ...new Array(8).fill(0)]));
  assert.deepEqual([rows.orientation, rows.stripes, columns.orientation, columns.stripes], [0, 1, 1, 2]);

  // A corrupt stream names the stored image's pixel: in mix-columns-k5-23x37-rows10.kmc
  // (orientation 1, 10 rows a stripe of the 37 x 23 transpose) stripe 1 starts at
  // the coded pixel (0, 10), the stored (10, 0).  0xff bytes reject every candidate;
  // with K = 5 all five are candidates, so the first pixel's literal has no entry left.
  const file = Uint8Array.from(readFileSync(VECTORS + "mix-columns-k5-23x37-rows10.kmc"));
  const start = 28 + 3 * 5;
  assert.equal(file[start], 1);
  const dv = new DataView(file.buffer);
  const lengths = [0, 1, 2].map((s) => dv.getUint32(start + 5 + 4 * s, true));
  const at = start + 1 + 4 + 4 * 3 + lengths[0];
  file.fill(0xff, at, at + lengths[1]);
  assert.throws(() => decode(withCrc(file)), (e) => e instanceof KmcError && e.message
    === "mix payload: stripe 1 decodes to a literal where every palette entry is a candidate at pixel (x=10, y=0); "
    + "the coded data is corrupt");
});

test("numbers past 2^53 are shown exactly, and an undefined maxPixels is the default", () => {
  const out = new Uint8Array(28 + 3 + 4);
  const dv = new DataView(out.buffer);
  out.set([0x4b, 0x4d, 0x43, 0x46, 1, 0, 0, 0]);
  dv.setUint32(8, 4294967295, true);
  dv.setUint32(12, 4294967295, true);
  dv.setUint32(16, 1, true);
  const huge = withCrc(out);
  assert.throws(() => decode(huge), /4294967295 x 4294967295 = 18446744065119617025 pixels/);
  assert.throws(() => decode(huge, { maxPixels: undefined }), /above the limit of 89478485/);
  dv.setUint32(8, 3, true);
  dv.setUint32(12, 2, true);
  dv.setUint32(20, 0xfffffffe, true); // payload_bytes 2^53 - 2
  dv.setUint32(24, 0x1fffff, true);
  out[6] = 0;
  assert.throws(() => info(withCrc(out)), /payload_bytes is 9007199254740990, must be ceil\(3\*2\*0\/8\) = 0/);
  out[5] = 1; // the entropy coder has no header rule: the length check names the exact total
  assert.throws(() => info(withCrc(out)), /header declares 9007199254741025 \(28 header \+ 3 palette \+ 9007199254740990 payload \+ 4 crc32\)/);
  dv.setUint32(24, 0x400000, true); // payload_bytes past 2^53, a BigInt: the total too, and exact
  const declared = (1n << 54n) + 0xfffffffen + 35n;
  assert.throws(() => info(withCrc(out)), (e) => e instanceof KmcError
    && new RegExp(`^file is 35 bytes but the header declares ${declared} .*: truncated$`).test(e.message));
});

// Version 3 (spec section 14): a coded palette's stream, with its header
// fields, the stream and the CRC-32 made to agree.
const CODED = readFileSync(VECTORS + "coded-k2-4x1.kmc"); // palette (0,0,0), (255,255,255): §14.3's example

/** `source` with `stream` for its coded palette, palette_bytes set to its length, `patch` {offset: byte} applied. */
function withStream(source, stream, patch = {}) {
  const q = source.readUInt32LE(28), rest = source.subarray(32 + q, source.length - 4);
  const out = new Uint8Array(32 + stream.length + rest.length + 4);
  out.set(source.subarray(0, 32));
  out.set(stream, 32);
  out.set(rest, 32 + stream.length);
  new DataView(out.buffer).setUint32(28, stream.length, true);
  for (const [at, v] of Object.entries(patch)) out[Number(at)] = v;
  return withCrc(out);
}

test("every version-3 check names its field, value and rule", () => {
  const stream = CODED.subarray(32, 32 + CODED.readUInt32LE(28)); // 15 bytes
  const set = (offset, values) => {
    const out = Uint8Array.from(CODED);
    out.set(values, offset);
    return withCrc(out);
  };
  const cases = [
    [CODED.subarray(0, 30), /file is 30 bytes, shorter than the 32-byte header of version 3: truncated/],
    [set(7, [2]), /flags is 0x02, must be 0x00 or 0x01 \(alpha\) in version 3/],
    [set(28, [3, 0, 0, 0]), /palette_bytes is 3, must be at least 4 in version 3/],
    [set(28, [16, 0, 0, 0]),
      /file is 63 bytes but the header declares 64 \(32 header \+ 16 palette \+ 12 payload \+ 4 crc32\): truncated/],
    // A byte left over; a byte short (the decoder reads it as 0, then refuses the stream).
    [withStream(CODED, [...stream, 0]), /^coded palette: palette_bytes is 16 but decoding the stream reads 15;/],
    [withStream(CODED, stream.subarray(0, 14)), /^coded palette: palette_bytes is 14 but decoding the stream reads 15/],
    // colors 1 (b = 0) and 3 (b = 2) for a stream that codes 2 entries.
    [withStream(CODED, stream, { 16: 1, 6: 0 }), /^coded palette: its stream codes more entries than colors = 1;/],
    [withStream(CODED, stream, { 16: 3, 6: 2 }), /^coded palette: its stream codes 2 entries but colors is 3;/],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(() => decode(bytes), (e) => e instanceof KmcError && e.kind === "format" && message.test(e.message),
      String(message));
  }
  // kmc info does not decode the palette (§14.3), as it does not decode the payload's streams.
  const tooFew = withStream(CODED, stream, { 16: 3, 6: 2 });
  assert.equal(info(tooFew).coded_palette, true);
  assert.throws(() => paletteOf(tooFew), /codes 2 entries but colors is 3/);
  assert.deepEqual([...paletteOf(CODED)], [0, 0, 0, 255, 255, 255]);
});

test("a coded palette's stream is refused at the first entry too many, whatever K", () => {
  // Four zero bytes (and zeros read past them): every decision is 1, both
  // halves of every node hold keys, so the stream would code every key;
  // the decoder stops at the (K + 1)th.
  const start = performance.now();
  for (const colors of [1, 2, 300, 65536]) {
    const patch = { 16: colors & 255, 17: (colors >> 8) & 255, 18: colors >> 16, 6: Math.ceil(Math.log2(colors)) };
    assert.throws(() => decode(withStream(CODED, [0, 0, 0, 0], patch)),
      new RegExp(`codes more entries than colors = ${colors};`));
  }
  assert.ok(performance.now() - start < 5000, "bounded by K * (D + 1) nodes");
});

test("1,000 random coded palettes are refused or decode to a well-formed image", () => {
  const rand = generator(3);
  const seen = {};
  for (let i = 0; i < 1000; i++) {
    const colors = [1, 2, 3, 5, 17, 300][Math.floor(rand() * 6)];
    const stream = Array.from({ length: 4 + Math.floor(rand() * 40) }, () => Math.floor(rand() * 256));
    const patch = { 16: colors & 255, 17: colors >> 8, 6: Math.ceil(Math.log2(colors)) };
    const v = verdict(withStream(CODED, stream, patch));
    seen[v] = (seen[v] || 0) + 1;
  }
  assert.ok(seen.format > 900, JSON.stringify(seen));
});
