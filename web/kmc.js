// A .kmc decoder for the web platform, written from spec/kmc-format.md.
//
//   import { decode, info } from "./kmc.js";
//   const image = decode(bytes);   // {width, height, colors, coder, alpha, version, palette, indices, rgba}
//   ctx.putImageData(new ImageData(image.rgba, image.width, image.height), 0, 0);
//
// Every check of the spec's section 7 is made, in its order, before any
// pixel memory is allocated; a bad file throws a KmcError whose message
// names the field, the value and the rule.  Names follow the spec; "§n"
// comments point at its sections.  No dependencies, no build step:
// kmc-classic.js is this file for a plain <script> tag, made by
// make-classic.mjs (the tests check that the two agree).

/** Pillow's default pixel limit (PIL.Image.MAX_IMAGE_PIXELS), check 9. */
export const DEFAULT_MAX_PIXELS = 89478485;

/** A file that breaks a rule of the .kmc specification. */
export class KmcError extends Error {
  constructor(message, kind = "format") {
    super(message);
    this.name = "KmcError";
    /** "format", "unsupported" (version or coder) or "pixel-limit". */
    this.kind = kind;
  }
}

const MAGIC = [0x4b, 0x4d, 0x43, 0x46]; // §3 "KMCF"
const HEADER_SIZE = 28;
const CODED_HEADER_SIZE = 32; // §14.1 version 3: the header, then palette_bytes (u32)
const TRAILER_SIZE = 4;
const MAX_COLORS = 65536;
const CODERS = { 0: "packed", 1: "entropy", 2: "mix" };

// --- §3 CRC-32 (zlib's) ------------------------------------------------------

// Slicing-by-8: eight tables, eight bytes a step (table k advances a byte
// k more places), about four times the speed of one table.
const CRC_TABLES = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) t[256 * k + n] = (t[256 * (k - 1) + n] >>> 8) ^ t[t[256 * (k - 1) + n] & 255];
  }
  return t;
})();

function crc32(bytes, end) {
  const t = CRC_TABLES;
  let c = 0xffffffff, i = 0;
  for (; i + 8 <= end; i += 8) {
    const a = c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    c = t[1792 + (a & 255)] ^ t[1536 + ((a >>> 8) & 255)] ^ t[1280 + ((a >>> 16) & 255)] ^ t[1024 + (a >>> 24)]
      ^ t[768 + bytes[i + 4]] ^ t[512 + bytes[i + 5]] ^ t[256 + bytes[i + 6]] ^ t[bytes[i + 7]];
  }
  for (; i < end; i++) c = t[(c ^ bytes[i]) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// --- helpers ------------------------------------------------------------------

function u32(bytes, at) {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

/** a * b, exactly: a BigInt once the product passes 2^53. */
function exact(a, b) {
  const product = a * b;
  return Number.isSafeInteger(product) ? product : BigInt(a) * BigInt(b);
}

function hex(v, digits) {
  return "0x" + v.toString(16).padStart(digits, "0");
}

/** The bytes as a Uint8Array, from a Uint8Array (a Node Buffer too), an ArrayBuffer or any typed array. */
export function asBytes(bytes) {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw new TypeError("bytes must be a Uint8Array, an ArrayBuffer or a typed array view");
}

function bitLength(v) {
  return v === 0 ? 0 : 32 - Math.clz32(v);
}

function magicText(bytes) {
  let s = "";
  for (let i = 0; i < Math.min(4, bytes.length); i++) {
    const c = bytes[i];
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : "\\x" + c.toString(16).padStart(2, "0");
  }
  return `"${s}"`;
}

// --- §7 checks 1 to 12 ---------------------------------------------------------

/**
 * The header's fields, after checks 1 to 11 of §7 (checkCrc makes 12):
 * nothing of the pixel count's size is allocated.
 */
function parseHeader(bytes, maxPixels) {
  const length = bytes.length;
  // Check 1: the first min(4, length) bytes are the magic's.
  for (let i = 0; i < Math.min(4, length); i++) {
    if (bytes[i] !== MAGIC[i]) {
      throw new KmcError(`magic is ${magicText(bytes)}, expected "KMCF": not a .kmc file`);
    }
  }
  // Check 2 (§14.3: a version-3 header is 32 bytes).
  if (length < HEADER_SIZE) {
    throw new KmcError(`file is ${length} bytes, shorter than the 28-byte header: truncated`);
  }
  if (bytes[4] === 3 && length < CODED_HEADER_SIZE) {
    throw new KmcError(`file is ${length} bytes, shorter than the 32-byte header of version 3: truncated`);
  }
  const version = bytes[4], coder = bytes[5], bits = bytes[6], flags = bytes[7];
  const width = u32(bytes, 8), height = u32(bytes, 12), colors = u32(bytes, 16);
  // A u64: a Number while exact (below 2^53), else a BigInt, which fails
  // check 10 or 11 (no file is that long) and is shown exactly.
  const high = u32(bytes, 24);
  let payloadBytes = u32(bytes, 20) + high * 4294967296;
  if (!Number.isSafeInteger(payloadBytes)) payloadBytes = (BigInt(high) << 32n) + BigInt(u32(bytes, 20));
  // Check 3 (§14.3: and 3).
  if (version < 1 || version > 3) {
    throw new KmcError(`version is ${version}; this reader supports versions 1, 2 and 3`, "unsupported");
  }
  // Check 4 (§8): name the coder.
  if (!(coder in CODERS)) {
    throw new KmcError(`unsupported coder ${coder}; this reader supports 0 (packed), 1 (entropy), 2 (mix)`,
      "unsupported");
  }
  // Check 5 (§12.1; §14.3: in version 3 flags is 0 or 0x01, and palette_bytes >= 4).
  if (version === 1 && flags !== 0) throw new KmcError(`flags is ${hex(flags, 2)}, must be 0x00 in version 1`);
  if (version === 2 && flags !== 1) {
    throw new KmcError(`flags is ${hex(flags, 2)}, must be 0x01 (alpha) in version 2`);
  }
  if (version === 3 && flags > 1) {
    throw new KmcError(`flags is ${hex(flags, 2)}, must be 0x00 or 0x01 (alpha) in version 3`);
  }
  const coded = version === 3;
  let paletteBytes = coded ? u32(bytes, 28) : 0; // Q; the raw palette's length is set below
  if (coded && paletteBytes < 4) {
    throw new KmcError(`palette_bytes is ${paletteBytes}, must be at least 4 in version 3 (a coded palette `
      + "is one binary-coder stream, spec section 14.1)");
  }
  // Check 6.
  if (width === 0 || height === 0) {
    throw new KmcError(`width x height is ${width} x ${height}; both must be >= 1`);
  }
  // Check 7.
  if (colors < 1 || colors > MAX_COLORS) {
    throw new KmcError(`colors is ${colors}, must be from 1 to ${MAX_COLORS}`);
  }
  // Check 8: b = ceil(log2 K) = the bit length of K - 1.
  const b = bitLength(colors - 1);
  if (bits !== b) {
    throw new KmcError(`bits_per_index is ${bits}, must be ceil(log2(colors)) = ${b} for colors = ${colors}`);
  }
  // Check 9, before any pixel memory (messages give products past 2^53 exactly).
  const pixels = width * height;
  if (maxPixels !== null && pixels > maxPixels) {
    throw new KmcError(`width x height is ${width} x ${height} = ${exact(width, height)} pixels, above the limit of `
      + `${maxPixels} (the maxPixels option); raise the limit only for files you trust`, "pixel-limit");
  }
  // Check 10: the coder's header rule (coder 0; none for coders 1 and 2).
  if (coder === 0) {
    const expected = Number.isSafeInteger(pixels * b) ? Math.ceil((pixels * b) / 8)
      : (BigInt(width) * BigInt(height) * BigInt(b) + 7n) / 8n;
    if (payloadBytes != expected) { // either may be a BigInt: != compares their values
      throw new KmcError(`payload_bytes is ${payloadBytes}, must be ceil(${width}*${height}*${b}/8) = `
        + `${expected} for the packed coder`);
    }
  }
  // Check 11 (§12.1: 4-byte entries with alpha; §14.1: in version 3, 32 + palette_bytes).
  const channels = version === 1 || (coded && flags === 0) ? 3 : 4;
  const headerBytes = coded ? CODED_HEADER_SIZE : HEADER_SIZE;
  if (!coded) paletteBytes = channels * colors;
  let total = headerBytes + paletteBytes + TRAILER_SIZE + (typeof payloadBytes === "bigint" ? 0 : payloadBytes);
  if (typeof payloadBytes === "bigint" || !Number.isSafeInteger(total)) {
    total = BigInt(headerBytes + paletteBytes + TRAILER_SIZE) + BigInt(payloadBytes);
  }
  if (length !== total) {
    const declared = `the header declares ${total} (${headerBytes} header + ${paletteBytes} palette + `
      + `${payloadBytes} payload + 4 crc32)`;
    if (length < total) throw new KmcError(`file is ${length} bytes but ${declared}: truncated`);
    // (Longer than declared, the declared length is a Number.)
    throw new KmcError(`file is ${length} bytes but ${declared}: ${length - total} trailing bytes`);
  }
  return { version, coder, bits, flags, width, height, colors, payloadBytes, channels, headerBytes, paletteBytes,
    total, coded };
}

function checkCrc(bytes, h) {
  // Check 12.
  const end = h.total - TRAILER_SIZE;
  const stored = u32(bytes, end);
  const actual = crc32(bytes, end);
  if (stored !== actual) {
    throw new KmcError(`crc32 is ${hex(stored, 8)} but the bytes before it give ${hex(actual, 8)}: `
      + "the file is corrupt");
  }
}

function checkLimit(options) {
  const limit = options && options.maxPixels !== undefined ? options.maxPixels : DEFAULT_MAX_PIXELS;
  if (limit !== null && !(Number.isFinite(limit) && limit >= 0)) {
    throw new TypeError(`maxPixels is ${limit}; it must be a number >= 0, or null for no limit`);
  }
  return limit;
}

// --- §5 coder 0, "packed" ---------------------------------------------------------

function decodePacked(payload, h, out) {
  const n = h.width * h.height, b = h.bits, colors = h.colors;
  if (b === 0) return; // K = 1: every index is 0 (out is zeroed)
  // §5 padding: the (-(N*b)) mod 8 least significant bits of the last byte are zero.
  const pad = (8 - ((n * b) % 8)) % 8;
  if (pad && (payload[payload.length - 1] & ((1 << pad) - 1))) {
    throw new KmcError(`the last payload byte is ${hex(payload[payload.length - 1], 2)}; `
      + `its ${pad} padding bits must be zero`);
  }
  if (b === 8) {
    out.set(payload.subarray(0, n));
  } else if (b === 16) {
    for (let i = 0, j = 0; i < n; i++, j += 2) out[i] = (payload[j] << 8) | payload[j + 1];
  } else {
    // Index i is stream bits i*b .. i*b+b-1, most significant bit first; it
    // spans at most three bytes (b <= 15 here).
    const mask = (1 << b) - 1, last = payload.length;
    for (let i = 0, j = 0; i < n; i++, j += b) {
      const byte = j >>> 3;
      const word = (payload[byte] << 16) | ((byte + 1 < last ? payload[byte + 1] : 0) << 8)
        | (byte + 2 < last ? payload[byte + 2] : 0);
      out[i] = (word >>> (24 - (j & 7) - b)) & mask;
    }
  }
  // Every index is below K (only when K is not a power of two can one not be).
  if (colors !== 1 << b) {
    for (let i = 0; i < n; i++) {
      if (out[i] >= colors) {
        throw new KmcError(`index ${out[i]} at pixel ${i} (row ${Math.floor(i / h.width)}, column `
          + `${i % h.width}) is >= colors = ${colors}`);
      }
    }
  }
}

// --- §11 coder 1, "entropy" -------------------------------------------------------

const RATE = new Int32Array(256); // §11.3 rate[n] = 655360 div (10n + 16)
for (let n = 0; n < 256; n++) RATE[n] = Math.floor(655360 / (10 * n + 16));

const KNOTS = [1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047,
  2549, 2994, 3348, 3607, 3785, 3901, 3975, 4022, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094];

function squashOf(d) {
  const w = d & 127, j = (d >> 7) + 16;
  return (KNOTS[j] * (128 - w) + KNOTS[j + 1] * w + 64) >> 7;
}

// squash(d) + ... for d in -2047..2047 at SQUASH[d + 2047]; stretch its inverse (§11.3).
const SQUASH = new Int32Array(4095);
const STRETCH = new Int32Array(4096).fill(2047);
{
  let next = 0;
  for (let d = -2047; d <= 2047; d++) {
    const s = squashOf(d);
    SQUASH[d + 2047] = s;
    for (let q = next; q <= s; q++) STRETCH[q] = d;
    next = Math.max(next, s + 1);
  }
}

const HASH_BITS = 18;
const FRESH = 32768 << 8; // a counter: p = 32768, n = 0
const MAX_STRIPE_PIXELS = 2 ** 27;
// a >> 16 for the mixer's sums, which can pass 2^31: a product by a power of two is exact.
const TWO_TO_MINUS_16 = 1 / 65536;
const N_DIRECT = 12740;
const Q2_BASE = 256, Q2B_BASE = 2304, EXP_BASE = 10496, MANT_BASE = 11584;

/**
 * §11.1: stripe_rows and the stripe lengths, with the checks of §11.7 (§13.6: coder 2's too).
 * `subject` and `heightName` name the bytes and the height in messages.
 */
function stripeLayout(payload, height, subject, heightName = "height") {
  const size = payload.length;
  if (size < 4) throw new KmcError(`${subject}: ${size} bytes, too short for the stripe_rows field (4 bytes)`);
  const rows = u32(payload, 0);
  if (rows < 1) throw new KmcError(`${subject}: stripe_rows is 0; it must be at least 1`);
  const stripes = Math.ceil(height / rows);
  const tableEnd = 4 + 4 * stripes;
  if (size < tableEnd) {
    throw new KmcError(`${subject}: ${size} bytes cannot hold the stripe table of ${stripes} stripes `
      + `(${tableEnd} bytes for stripe_rows ${rows} and ${heightName} ${height})`);
  }
  const lengths = new Array(stripes);
  let total = tableEnd;
  for (let s = 0; s < stripes; s++) {
    lengths[s] = u32(payload, 4 + 4 * s);
    total += lengths[s];
  }
  if (total !== size) {
    throw new KmcError(`${subject}: stripe lengths sum to ${total - tableEnd} bytes but `
      + `${size - tableEnd} follow the stripe table`);
  }
  return { rows, lengths, tableEnd };
}

/**
 * The payload's layout: for coder 2 first §13's orientation byte, checked
 * (§13.6), then §11.1's stripe layout of the *coded image* (for orientation
 * 1 the transpose: width and height swapped) on the bytes after it; for
 * coder 1 the stripe layout of the image as stored.  `body` holds the
 * stripe table and streams, `width` and `height` are the coded image's.
 */
function payloadLayout(payload, h) {
  const label = CODERS[h.coder];
  let orientation = 0, body = payload;
  if (h.coder === 2) {
    if (payload.length < 1) {
      throw new KmcError(`${label} payload: 0 bytes, too short for the orientation field (1 byte)`);
    }
    orientation = payload[0];
    if (orientation > 1) {
      throw new KmcError(`${label} payload: orientation is ${orientation}; it must be 0 (rows) or 1 (columns)`);
    }
    body = payload.subarray(1);
  }
  const width = orientation === 1 ? h.height : h.width, height = orientation === 1 ? h.width : h.height;
  const subject = h.coder === 2 ? `${label} payload after the orientation byte` : `${label} payload`;
  const heightName = orientation === 1 ? "the transposed image's height" : "height";
  return Object.assign(stripeLayout(body, height, subject, heightName), { orientation, body, width, height });
}

/** §11.6: the grid bits, the largest g <= 5 with 2^(C*g) * K <= 2^23 (C = 3, or 4 with alpha). */
function gridBits(colors, channels) {
  let g = 5;
  while (g > 1 && 2 ** (channels * g) * colors > 2 ** 23) g--;
  return g;
}

/** §11.6 *Order*: each grid cell's ordering of the palette, made on first use. */
class CellOrders {
  constructor(palette, colors, channels) {
    this.palette = palette;
    this.colors = colors;
    this.channels = channels;
    this.g = gridBits(colors, channels);
    // At most 2^(channels*g) cells, 2^20 with alpha at K <= 8; one slot each.
    this.cells = new Array(2 ** (channels * this.g)).fill(null);
    this.keys = new Float64Array(colors);
  }

  order(p0, p1, p2, p3) {
    const g = this.g, shift = 8 - g, ch = this.channels;
    let cell = (((p0 >> shift) << g) | (p1 >> shift)) << g | (p2 >> shift);
    if (ch === 4) cell = (cell << g) | (p3 >> shift);
    let order = this.cells[cell];
    if (order === null) {
      const half = (1 << shift) >> 1;
      const c0 = ((p0 >> shift) << shift) + half, c1 = ((p1 >> shift) << shift) + half;
      const c2 = ((p2 >> shift) << shift) + half, c3 = ((p3 >> shift) << shift) + half;
      const pal = this.palette, keys = this.keys, K = this.colors;
      // Squared distance, ties by index (§11.6): sorted as distance * 2^17 + index, exact in doubles.
      for (let i = 0, j = 0; i < K; i++, j += ch) {
        const d0 = pal[j] - c0, d1 = pal[j + 1] - c1, d2 = pal[j + 2] - c2;
        let s = d0 * d0 + d1 * d1 + d2 * d2;
        if (ch === 4) {
          const d3 = pal[j + 3] - c3;
          s += d3 * d3;
        }
        keys[i] = s * 131072 + i;
      }
      keys.sort();
      // The order, then each entry's place in it (its rank).
      order = new Uint16Array(2 * K);
      for (let i = 0; i < K; i++) {
        const entry = keys[i] % 131072;
        order[i] = entry;
        order[K + entry] = i;
      }
      this.cells[cell] = order;
    }
    return order;
  }
}

/**
 * One stripe's binary decoder and model (§11.3), all fresh per stripe.
 * The coder's 32-bit state lives in an Int32Array so that it stays
 * unboxed; every method is small enough to be inlined.
 */
class StripeModel {
  /** `tables`: coder 1's counters (coder 2's model, a subclass, has its own). */
  constructor(tables = true) {
    // A counter is one int32, p << 8 | n: one load for both, one cache line.
    this.direct = new Int32Array(tables ? N_DIRECT : 0).fill(FRESH);
    this.hashed = new Int32Array(tables ? 1 << HASH_BITS : 0).fill(FRESH);
    this.w = new Float64Array(24);
    this.st = new Int32Array(3); // x1, x2, x
    this.stream = null;
    this.length = 0;
    this.pos = 0;
  }

  /** Start a stripe's stream: the coder and the weights fresh (the counters are made fresh by the caller). */
  start(stream) {
    this.stream = stream;
    this.length = stream.length;
    this.pos = 0; // bytes read, past the end too (read as 0, the stripe rejected later)
    this.st[0] = 0;
    this.st[1] = -1; // 2^32 - 1
    let x = 0;
    for (let i = 0; i < 4; i++) x = (x << 8) | this.next();
    this.st[2] = x;
    for (let s = 0; s < 8; s++) {
      this.w[3 * s] = 40000;
      this.w[3 * s + 1] = 30000;
      this.w[3 * s + 2] = 0;
    }
  }

  /** Every counter fresh again: p = 32768, n = 0. */
  refill() {
    this.direct.fill(FRESH);
    this.hashed.fill(FRESH);
  }

  /**
   * Fresh again every counter that coding rows y0 .. y1-1 (now decoded in
   * `out`) can have updated: for each pixel its pattern's counters of
   * questions 1, 2 and 2b and its hashed slots, and every literal counter.
   * A superset, O(pixels), so that a file of many tiny stripes costs no
   * more than its pixels; refilling every table would cost 1.3 MB a stripe.
   */
  refresh(out, width, y0, y1) {
    const direct = this.direct, hashed = this.hashed;
    direct.fill(FRESH, EXP_BASE);
    for (let y = y0; y < y1; y++) {
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        const L = x >= 1 ? out[i - 1] : -1, LL = x >= 2 ? out[i - 2] : -1;
        const U = y - 1 >= y0 ? out[i - width] : -1;
        const UL = y - 1 >= y0 && x >= 1 ? out[i - width - 1] : -1;
        const UR = y - 1 >= y0 && x + 1 < width ? out[i - width + 1] : -1;
        const UU = y - 2 >= y0 ? out[i - 2 * width] : -1;
        const pat = pattern(L, U, UL, UR, LL, UU);
        direct[pat] = FRESH;
        for (let m = 0; m < 8; m++) {
          direct[Q2_BASE + 8 * pat + m] = FRESH;
          for (let q = 0; q < 4; q++) {
            direct[Q2B_BASE + 8 * (256 * q + pat) + m] = FRESH;
          }
        }
        for (let a = 0; a < 6; a++) {
          const slot = slotOf(a, L, U);
          hashed[slot] = FRESH;
        }
      }
    }
  }

  next() {
    const pos = this.pos++;
    return pos < this.length ? this.stream[pos] : 0;
  }

  // x1, x2 and x are kept as int32 bit patterns: the sums below wrap modulo
  // 2^32 but their true values stay below it, and the unsigned comparison
  // is a signed one of the values with their top bit flipped.
  code(p) {
    const st = this.st;
    let x1 = st[0], x2 = st[1];
    const r = x2 - x1;
    const xmid = (x1 + Math.imul(r >>> 16, p) + (Math.imul(r & 65535, p) >>> 16)) | 0;
    let bit = 0;
    if ((st[2] ^ 0x80000000) <= (xmid ^ 0x80000000)) {
      bit = 1;
      x2 = xmid;
    } else {
      x1 = (xmid + 1) | 0;
    }
    if (((x1 ^ x2) & 0xff000000) === 0) {
      let x = st[2];
      do {
        x = (x << 8) | this.next();
        x1 <<= 8;
        x2 = (x2 << 8) | 255;
      } while (((x1 ^ x2) & 0xff000000) === 0);
      st[2] = x;
    }
    st[0] = x1;
    st[1] = x2;
    return bit;
  }

  plain(ctx) {
    const direct = this.direct, c = direct[ctx], pc = c >> 8;
    const bit = this.code(pc < 32 ? 32 : pc > 65504 ? 65504 : pc);
    direct[ctx] = updated(c, bit);
    return bit;
  }

  mixed(a, slot, set) {
    const direct = this.direct, hashed = this.hashed, w = this.w, k = 3 * set;
    const ca = direct[a], cb = hashed[slot], pa = ca >> 8, pb = cb >> 8;
    const s1 = STRETCH[pa >> 4], s2 = STRETCH[pb >> 4];
    let d = Math.floor((w[k] * s1 + w[k + 1] * s2 + w[k + 2] * 256) * TWO_TO_MINUS_16);
    d = d < -2047 ? -2047 : d > 2047 ? 2047 : d;
    let p = SQUASH[d + 2047] * 16 + 8;
    p = p < 32 ? 32 : p > 65504 ? 65504 : p;
    const bit = this.code(p);
    direct[a] = updated(ca, bit);
    hashed[slot] = updated(cb, bit);
    const e = (bit * 65536 - p) >> 4;
    w[k] += (s1 * e) >> 10;
    w[k + 1] += (s2 * e) >> 10;
    w[k + 2] += (256 * e) >> 10;
    return bit;
  }
}

/**
 * §11.3 a counter (p << 8 | n) after coding `bit`.  The product fits in 32
 * bits: rate[n] < 2^15 once n >= 1, and at n = 0 the counter is fresh,
 * p = 32768, so |(bit * 65536 - p) * rate[n]| < 2^31.
 */
function updated(c, bit) {
  const p = c >> 8, n = c & 255;
  return ((p + (((bit * 65536 - p) * RATE[n]) >> 16)) << 8) | (n < 255 ? n + 1 : 255);
}

/** §11.4 the pattern of equal neighbours. */
function pattern(L, U, UL, UR, LL, UU) {
  return (L === U ? 1 : 0) | (L === UL ? 2 : 0) | (L === UR ? 4 : 0) | (U === UL ? 8 : 0)
    | (U === UR ? 16 : 0) | (UL === UR ? 32 : 0) | (L === LL ? 64 : 0) | (U === UU ? 128 : 0);
}

/** §11.3 hash(a, b, c)'s slot, every step modulo 2^32; -1 (absent) enters as 2^32 - 1. */
function slotOf(a, b, c) {
  let h = (Math.imul(a, 0x9e3779b1) + b + 1) | 0;
  h = (Math.imul(h, 0x85ebca77) + c + 1) | 0;
  return Math.imul(h, 0xc2b2ae3d) >>> (32 - HASH_BITS);
}

/**
 * Rows y0 .. y1-1 of one stripe (§11.4 to §11.6) into `out`.  Returns the
 * number of stream bytes the decoding read.
 */
function decodeStripe(model, out, width, y0, y1, palette, colors, channels, orders) {
  const rest = new Int32Array(5), ranks = new Int32Array(6);
  for (let y = y0; y < y1; y++) {
    const row = y * width;
    const hasU = y - 1 >= y0, hasUU = y - 2 >= y0;
    for (let xx = 0; xx < width; xx++) {
      // §11.4 neighbours, -1 when absent.
      const L = xx >= 1 ? out[row + xx - 1] : -1;
      const LL = xx >= 2 ? out[row + xx - 2] : -1;
      let U = -1, UL = -1, UR = -1;
      if (hasU) {
        const up = row - width + xx;
        U = out[up];
        if (xx >= 1) UL = out[up - 1];
        if (xx + 1 < width) UR = out[up + 1];
      }
      const UU = hasUU ? out[row - 2 * width + xx] : -1;
      const pat = pattern(L, U, UL, UR, LL, UU);
      // §11.5 step 1.
      if (L !== -1 && model.mixed(pat, slotOf(0, L, U), pat & 3)) {
        out[row + xx] = L;
        continue;
      }
      // Step 2: rest = U, UR, UL, LL, UU without absent ones, L and repeats.
      let m = 0;
      if (U !== -1 && U !== L) rest[m++] = U;
      if (UR !== -1 && UR !== L && UR !== U) rest[m++] = UR;
      if (UL !== -1 && UL !== L && UL !== U && UL !== UR) rest[m++] = UL;
      if (LL !== -1 && LL !== L && LL !== U && LL !== UR && LL !== UL) rest[m++] = LL;
      if (UU !== -1 && UU !== L && UU !== U && UU !== UR && UU !== UL && UU !== LL) rest[m++] = UU;
      if (m > 0 && model.mixed(Q2_BASE + 8 * pat + m, slotOf(m, L, U), 4 + (pat & 3))) {
        let X = rest[m - 1];
        for (let i = 0; i < m - 1; i++) {
          if (model.plain(Q2B_BASE + 8 * (256 * i + pat) + m)) {
            X = rest[i];
            break;
          }
        }
        out[row + xx] = X;
        continue;
      }
      // Step 3, §11.6: a literal.  Prediction and activity.
      let p0 = 128, p1 = 128, p2 = 128, p3 = 128, act = 0;
      if (L !== -1 && U !== -1 && UL !== -1) {
        const jl = L * channels, ju = U * channels, jul = UL * channels;
        p0 = palette[jl] + palette[ju] - palette[jul];
        p1 = palette[jl + 1] + palette[ju + 1] - palette[jul + 1];
        p2 = palette[jl + 2] + palette[ju + 2] - palette[jul + 2];
        if (channels === 4) p3 = palette[jl + 3] + palette[ju + 3] - palette[jul + 3];
        for (let c = 0; c < channels; c++) {
          act += Math.abs(palette[jl + c] - palette[jul + c]) + Math.abs(palette[ju + c] - palette[jul + c]);
        }
      } else if (L !== -1 || U !== -1) {
        const j = (L !== -1 ? L : U) * channels;
        p0 = palette[j];
        p1 = palette[j + 1];
        p2 = palette[j + 2];
        if (channels === 4) p3 = palette[j + 3];
      }
      p0 = p0 < 0 ? 0 : p0 > 255 ? 255 : p0;
      p1 = p1 < 0 ? 0 : p1 > 255 ? 255 : p1;
      p2 = p2 < 0 ? 0 : p2 > 255 ? 255 : p2;
      p3 = p3 < 0 ? 0 : p3 > 255 ? 255 : p3;
      let a = 7;
      for (let c = 0; c < 7; c++) {
        if (act < 4 << c) {
          a = c;
          break;
        }
      }
      // Excluded: the distinct present neighbours, rest plus L.
      const nc = m + (L !== -1 ? 1 : 0);
      const left = colors - nc;
      if (left === 0) throw new StripeFault("a literal where every palette entry is a neighbour", xx, y);
      // Number: v = r + 1, Elias gamma with exponent counters (a, nc, k).
      const emax = bitLength(left) - 1;
      let e = 0;
      while (e < emax && model.plain(EXP_BASE + 17 * (8 * a + nc) + e)) e++;
      let v = 1;
      for (let k = e - 1; k >= 0; k--) {
        const c = k >= e - 2 ? v : 0;
        v = (v << 1) | model.plain(MANT_BASE + 4 * (17 * e + k) + c);
      }
      const r = v - 1;
      if (r >= left) throw new StripeFault("a literal rank beyond the palette entries left", xx, y);
      // X: position r of the cell's order, counting only non-excluded
      // entries: r itself, moved one place on for each excluded entry at or
      // before it (their ranks in ascending order).
      const order = orders.order(p0, p1, p2, p3);
      let ne = 0;
      if (L !== -1) ranks[ne++] = order[colors + L];
      for (let q = 0; q < m; q++) ranks[ne++] = order[colors + rest[q]];
      for (let i = 1; i < ne; i++) {
        const v = ranks[i];
        let j = i - 1;
        while (j >= 0 && ranks[j] > v) {
          ranks[j + 1] = ranks[j];
          j--;
        }
        ranks[j + 1] = v;
      }
      let t = r;
      for (let i = 0; i < ne; i++) if (ranks[i] <= t) t++;
      const X = order[t];
      out[row + xx] = X;
    }
  }
  return model.pos;
}

class StripeFault extends Error {
  constructor(rule, x, y) {
    super(rule);
    this.rule = rule;
    this.x = x;
    this.y = y;
  }
}

/**
 * Stripes first .. end-1 into `out` (in the stored image's pixel order),
 * each checked (§11.7, §13.6) as it is decoded: coder 1 or 2.  `layout` is
 * payloadLayout's: the stripes are the coded image's rows.
 */
function decodeEntropy(h, palette, out, layout, first = 0, end = layout.lengths.length) {
  const { rows, lengths, tableEnd, body, orientation } = layout;
  const mix = h.coder === 2, label = CODERS[h.coder];
  // Coder 1's weights grow by at most 16370 a pixel (§11.3); in doubles its
  // sums are exact while a stripe has under 2^27 pixels, which the default
  // pixel limit keeps.  Larger stripes would need wider integers.  Coder 2
  // clamps its weights (§13.1) and has no such bound.
  if (!mix && Math.min(rows, h.height) * h.width > MAX_STRIPE_PIXELS) {
    throw new KmcError(`${label} payload: stripes of ${Math.min(rows, h.height)} rows of ${h.width} pixels are `
      + `more than this decoder's ${MAX_STRIPE_PIXELS} pixels a stripe (its arithmetic is exact up to there)`,
    "pixel-limit");
  }
  const orders = new CellOrders(palette, h.colors, h.channels);
  const model = mix ? new MixModel(palette, h.colors, h.channels) : new StripeModel();
  let offset = tableEnd;
  for (let s = 0; s < first; s++) offset += lengths[s];
  for (let s = first; s < end; s++) {
    const stream = body.subarray(offset, offset + lengths[s]);
    offset += lengths[s];
    const y0 = s * rows, y1 = Math.min(y0 + rows, layout.height);
    let used;
    try {
      if (mix) {
        if (s > first) model.fresh();
        model.begin(stream, (y1 - y0) * layout.width);
        // §13: the coded image's pixel (x, y) is out[y * ys + x * xs], the stored image's
        // (x, y) for orientation 0, its (y, x) for orientation 1.
        const xs = orientation === 1 ? h.width : 1, ys = orientation === 1 ? 1 : h.width;
        used = decodeMixStripe(model, out, layout.width, y0, y1, xs, ys, palette, h.colors, h.channels, orders);
      } else {
        if (s > first) {
          const prev = (s - 1) * rows;
          if ((y0 - prev) * h.width <= 4096) model.refresh(out, h.width, prev, y0);
          else model.refill();
        }
        model.start(stream);
        used = decodeStripe(model, out, h.width, y0, y1, palette, h.colors, h.channels, orders);
      }
    } catch (err) {
      if (!(err instanceof StripeFault)) throw err;
      // The stored image's pixel: for orientation 1 the coded image's (x, y) is the stored (y, x).
      const x = orientation === 1 ? err.y : err.x, y = orientation === 1 ? err.x : err.y;
      throw new KmcError(`${label} payload: stripe ${s} decodes to ${err.rule} at pixel (x=${x}, `
        + `y=${y}); the coded data is corrupt`);
    }
    // §11.3 stream length: exactly the bytes its decoding reads.
    if (used !== stream.length) {
      throw new KmcError(`${label} payload: stripe ${s}'s stream is ${stream.length} bytes but decoding it `
        + `reads ${used}; the coded data is corrupt (a stream is exactly as long as its decoding reads, `
        + "spec section 11.3)");
    }
  }
}

// --- §13 coder 2, "mix" -------------------------------------------------------------

const MIX_H_BITS = 18, T1_BITS = 17, T2_BITS = 15, MT_BITS = 18;
const MIX_D = 131072, MIX_E = 19720, MIX_SETS = 738, MIX_FINAL = 8;
const EXP_AQ = 0, EXP_SQ = 1224, EXP_SA = 3060, MAN_E = 4692, MAN_SQ = 5848;
// §13.4, §13.5 weight sets: candidates' s1 and s2 bases, the literals' exponent and mantissa.
const SET_DQ = 546, SET_SQ = 642, SET_EXP = 512, SET_MAN = 529;
// §13.3 sources: 8 neighbours and context tables, then up to 16 entries of the cell's order;
// the list holds them and the match value (up to 25 candidates).
const MIX_SOURCES = 24, MIX_ORDER_SOURCES = 16, MIX_LIST = MIX_SOURCES + 1;
// §13.1 weights are clamped to -2^31 .. 2^31, so the mixers' sums (below
// 2^47) are exact in doubles whatever the stripe's size.
const W_MAX = 2 ** 31;
const W_FRESH = 10000, F_FRESH = 21845;
// §13.2 bias records B[bc], bc = 256*sq + 8 sign bits: sums s[0..3], count n, gain g (6 int32 each).
const MIX_BIAS = 3072, BIAS_SIZE = 6, BIAS_N = 4, BIAS_G = 5;
// §13.1 weight sets w[s][j]: 11 weights each, the two-layer decisions' 10 inputs and a bias weight.
const W_SIZE = 11, MIX_INPUTS = 10;
// §13.1 probability maps maps[m][j]: 1408 maps of 33 knots, 0..383 by i7, sq and the two signs sg
// (§13.4), 384 + (v mod 1024) by entry.
const MIX_MAPS = 1408, MAP_KNOTS = 33, MAP_ENTRY = 384;
// §13.1 a fresh map's knots: 16 * squash(min(128*j - 2048, 2047)).
const MAP_FRESH = new Int32Array(MAP_KNOTS);
for (let j = 0; j < MAP_KNOTS; j++) MAP_FRESH[j] = 16 * squashOf(Math.min(128 * j - 2048, 2047));
// After a stripe of at most this many pixels only the entries it changed
// are made fresh again (a log of them), so tiny stripes cost their pixels.
// The log has a fixed size; a stripe that changes more entries than it holds
// makes every table fresh instead (about what filling the log cost).
const MIX_SMALL_STRIPE = 4096;
const MIX_LOG_SIZE = 1 << 19;
// §13.2 the thirteen sub-predictors q_0 .. q_12, each with its errors serr(p, i).
const MIX_SUB = 13;
// §13.2 rw(e) = max(1, 2^28 div e^2), e in 1..4095
const RW = new Float64Array(4096);
for (let e = 1; e < 4096; e++) RW[e] = Math.max(1, Math.floor(2 ** 28 / (e * e)));

/** §13.1 hash5, every step modulo 2^32, and its top `bits` bits. */
function hash5(a, b, c, d, e, bits) {
  let h = (Math.imul(a, 0x9e3779b1) + b + 1) | 0;
  h = (Math.imul(h, 0x85ebca77) + c + 1) | 0;
  h = (Math.imul(h, 0xc2b2ae3d) + d + 1) | 0;
  h = (Math.imul(h, 0x27d4eb2f) + e + 1) | 0;
  return Math.imul(h, 0x165667b1) >>> (32 - bits);
}

/** floor(a / b) for integers |a| < 2^53, 0 < b < 2^32, exactly. */
function floorDiv(a, b) {
  let q = Math.floor(a / b);
  if (q * b > a) q--;
  else if ((q + 1) * b <= a) q++;
  return q;
}

/** §13.1 a mixer's output: clamp(sum >> 16, -2047, 2047), for an integer sum |sum| < 2^53. */
function mixerOut(sum) {
  const d = Math.floor(sum * TWO_TO_MINUS_16);
  return d < -2047 ? -2047 : d > 2047 ? 2047 : d;
}

/** §13.1 p = clamp(squash(d)*16 + 8, 32, 65504). */
function probability(d) {
  const p = SQUASH[d + 2047] * 16 + 8;
  return p < 32 ? 32 : p > 65504 ? 65504 : p;
}

/** §13.1 a weight clamped to -2^31 .. 2^31. */
function clampW(w) {
  return w < -W_MAX ? -W_MAX : w > W_MAX ? W_MAX : w;
}

/**
 * §13.1 a first-layer set of 11 weights at W[b] (10 inputs and the bias) learns
 * from its own p: the products t[j] * e (|t| <= 2047, |e| <= 4094) and 256 * e
 * fit in 32 bits.
 */
function learn(W, b, t, bit, p) {
  const e = (bit * 65536 - p) >> 4;
  for (let j = 0; j < MIX_INPUTS; j++) W[b + j] = clampW(W[b + j] + ((t[j] * e) >> 12));
  W[b + MIX_INPUTS] = clampW(W[b + MIX_INPUTS] + ((256 * e) >> 12));
}

/**
 * §13.4 qs(e): a signed difference reduced to one of 15 steps, min(bitlen(|e|), 7),
 * plus 16 when e < 0 (bitlen(0) = 0; |e| < 2^31 here, tones being at most 4 * 255).
 */
function qs(e) {
  if (e >= 0) {
    const b = 32 - Math.clz32(e);
    return b < 7 ? b : 7;
  }
  const b = 32 - Math.clz32(-e);
  return 16 + (b < 7 ? b : 7);
}

/** One stripe's coder (§11.3) with coder 2's tables (§13.1), for a palette of `colors` entries of C channels. */
class MixModel extends StripeModel {
  constructor(palette, colors, channels) {
    super(false);
    this.H = new Int32Array(1 << MIX_H_BITS).fill(FRESH);
    this.D = new Int32Array(MIX_D).fill(FRESH);
    this.E = new Int32Array(MIX_E).fill(FRESH);
    this.W = new Float64Array(W_SIZE * MIX_SETS).fill(W_FRESH);
    this.F = new Float64Array(3 * MIX_FINAL).fill(F_FRESH);
    this.T1 = new Int32Array(1 << T1_BITS).fill(-1);
    this.T2 = new Int32Array(1 << T2_BITS).fill(-1);
    // §13.3 match table MT: positions in the stripe, which can pass 2^31 (doubles are exact to 2^53).
    this.MT = new Float64Array(1 << MT_BITS).fill(-1);
    this.B = new Int32Array(BIAS_SIZE * MIX_BIAS);
    this.M = new Int32Array(MAP_KNOTS * MIX_MAPS);
    for (let m = 0; m < MIX_MAPS; m++) this.M.set(MAP_FRESH, MAP_KNOTS * m);
    this.t = new Float64Array(MIX_INPUTS);
    // §13.2 Σ(v), the sum of c(v)'s channels, for each palette entry (at most 4 * 255).
    this.sums = new Int32Array(colors);
    for (let v = 0; v < colors; v++) {
      let s = 0;
      for (let ch = 0; ch < channels; ch++) s += palette[v * channels + ch];
      this.sums[v] = s;
    }
    // §13.3 candidates already taken: seen[v] === stamp, a stamp per pixel.
    this.seen = new Int32Array(colors);
    this.stamp = 0;
    this.log = null;
    this.logged = 0;
    this.logging = false;
  }

  /** The coder fresh for a stripe of `pixels`; the tables are fresh already. */
  begin(stream, pixels) {
    this.stream = stream;
    this.length = stream.length;
    this.pos = 0;
    this.st[0] = 0;
    this.st[1] = -1;
    let x = 0;
    for (let i = 0; i < 4; i++) x = (x << 8) | this.next();
    this.st[2] = x;
    this.logging = pixels <= MIX_SMALL_STRIPE;
    this.logged = 0;
    if (this.logging && this.log === null) this.log = new Int32Array(MIX_LOG_SIZE);
  }

  /** Every table fresh again: all of it, or after a small stripe the entries it logged. */
  fresh() {
    this.F.fill(F_FRESH);
    if (!this.logging) {
      this.H.fill(FRESH);
      this.D.fill(FRESH);
      this.E.fill(FRESH);
      this.W.fill(W_FRESH);
      this.T1.fill(-1);
      this.T2.fill(-1);
      this.MT.fill(-1);
      this.B.fill(0);
      for (let m = 0; m < MIX_MAPS; m++) this.M.set(MAP_FRESH, MAP_KNOTS * m);
      return;
    }
    const log = this.log;
    const tables = [this.H, this.D, this.E];
    for (let k = 0; k < this.logged; k++) {
      const table = log[k] >>> 20, i = log[k] & 0xfffff;
      if (table < 3) tables[table][i] = FRESH;
      else if (table === 3) this.T1[i] = -1;
      else if (table === 4) this.T2[i] = -1;
      else if (table === 5) this.W.fill(W_FRESH, W_SIZE * i, W_SIZE * i + W_SIZE);
      else if (table === 6) this.B.fill(0, BIAS_SIZE * i, BIAS_SIZE * i + BIAS_SIZE);
      else if (table === 7) this.M.set(MAP_FRESH, MAP_KNOTS * i);
      else this.MT[i] = -1;
    }
  }

  /**
   * Log entry i of table (0 H, 1 D, 2 E, 3 T1, 4 T2, 5 a weight set, 6 a bias
   * record, 7 a probability map, 8 MT); a full log ends the logging.
   */
  note(table, i) {
    if (this.logging) {
      if (this.logged < MIX_LOG_SIZE) this.log[this.logged++] = (table << 20) | i;
      else this.logging = false;
    }
  }

  /**
   * §13.1 a mixed decision: inputs `n` counters (tables[k][index[k]]), weight set `set`,
   * of whose 11 weights it uses the first n + 1.
   */
  mix(n, tables, index, set) {
    const W = this.W, t = this.t, k = W_SIZE * set;
    let sum = 0;
    for (let j = 0; j < n; j++) {
      t[j] = STRETCH[(tables[j][index[j]] >> 8) >> 4];
      sum += W[k + j] * t[j];
    }
    sum += W[k + n] * 256;
    const p = probability(mixerOut(sum));
    const bit = this.code(p);
    for (let j = 0; j < n; j++) tables[j][index[j]] = updated(tables[j][index[j]], bit);
    const e = (bit * 65536 - p) >> 4;
    for (let j = 0; j <= n; j++) W[k + j] = clampW(W[k + j] + (((j < n ? t[j] : 256) * e) >> 12));
    return bit;
  }

  /**
   * §13.1 a two-layer decision: inputs D[index[0]] and H[index[1..9]] (ten),
   * first-layer weight sets s0, s1, s2 (three different sets), final set r,
   * probability maps m1 and m2 (two different maps).
   * Each weight * stretch product is below 2^42, each sum of eleven below 2^46
   * (the spec's bound is 2^47), and f * d_k below 2^42: all exact in doubles.
   */
  twoLayer(index, s0, s1, s2, r, m1, m2) {
    const W = this.W, F = this.F, t = this.t, D = this.D, H = this.H, n = MIX_INPUTS;
    t[0] = STRETCH[(D[index[0]] >> 8) >> 4];
    for (let j = 1; j < n; j++) t[j] = STRETCH[(H[index[j]] >> 8) >> 4];
    const b0 = W_SIZE * s0, b1 = W_SIZE * s1, b2 = W_SIZE * s2, f = 3 * r;
    let a0 = W[b0 + n] * 256, a1 = W[b1 + n] * 256, a2 = W[b2 + n] * 256;
    for (let j = 0; j < n; j++) {
      const tj = t[j];
      a0 += W[b0 + j] * tj;
      a1 += W[b1 + j] * tj;
      a2 += W[b2 + j] * tj;
    }
    const d0 = mixerOut(a0), d1 = mixerOut(a1), d2 = mixerOut(a2);
    const d = mixerOut(F[f] * d0 + F[f + 1] * d1 + F[f + 2] * d2);
    const p = probability(d);
    // The maps' knots j and j+1 around d, interpolated: knots <= 65536, so the products fit in 24 bits.
    const M = this.M, j = (d + 2048) >> 7, fr = (d + 2048) & 127;
    const k1 = MAP_KNOTS * m1 + j, k2 = MAP_KNOTS * m2 + j;
    const q1 = (M[k1] * (128 - fr) + M[k1 + 1] * fr) >> 7;
    const q2 = (M[k2] * (128 - fr) + M[k2 + 1] * fr) >> 7;
    const pq = (p + q1 + 2 * q2) >> 2;
    const bit = this.code(pq < 32 ? 32 : pq > 65504 ? 65504 : pq);
    const target = bit * 65536;
    M[k1] += (target - M[k1]) >> 6;
    M[k1 + 1] += (target - M[k1 + 1]) >> 6;
    M[k2] += (target - M[k2]) >> 6;
    M[k2 + 1] += (target - M[k2 + 1]) >> 6;
    // In order, each read again: a slot shared by two inputs is updated twice.
    D[index[0]] = updated(D[index[0]], bit);
    for (let j = 1; j < n; j++) H[index[j]] = updated(H[index[j]], bit);
    learn(W, b0, t, bit, probability(d0));
    learn(W, b1, t, bit, probability(d1));
    learn(W, b2, t, bit, probability(d2));
    // The final set learns from the mixed p (not the one coded with): |d_k * e| <= 2047 * 1023.
    const e = (bit * 65536 - p) >> 6;
    F[f] = clampW(F[f] + ((d0 * e) >> 12));
    F[f + 1] = clampW(F[f + 1] + ((d1 * e) >> 12));
    F[f + 2] = clampW(F[f + 2] + ((d2 * e) >> 12));
    return bit;
  }
}

/**
 * Rows y0 .. y1-1 of one coder-2 stripe (§13.2 to §13.5) of the coded image,
 * `width` pixels wide, into `out`, where its pixel (x, y) is out[y * ys + x * xs]
 * (§13: xs = 1, ys = width for orientation 0; for orientation 1, the
 * transpose, xs = the stored width, ys = 1); returns the bytes read.
 */
function decodeMixStripe(model, out, width, y0, y1, xs, ys, palette, colors, channels, orders) {
  const C = channels, NS = MIX_SUB;
  // Errors are at most 4 * 255: 16 bits, so that a forged width costs little memory.
  const errs = [new Int16Array(width + 2), new Int16Array(width + 2)];
  const serrs = [new Int16Array(NS * (width + 2)), new Int16Array(NS * (width + 2))];
  const q = new Float64Array(NS * 4), weight = new Float64Array(NS), wp = new Int32Array(4);
  const w0 = new Int32Array(4), w1 = new Int32Array(4);
  const B = model.B, sums = model.sums;
  const cand = new Int32Array(MIX_LIST), src = new Int32Array(MIX_LIST), dist = new Int32Array(MIX_LIST);
  const top = new Float64Array(32), crank = new Int32Array(MIX_LIST);
  const candIndex = new Int32Array(MIX_INPUTS);
  const litTables = [model.E, model.E, model.E], litIndex = new Int32Array(3);
  const nt = Math.min(32, colors), no = Math.min(MIX_ORDER_SOURCES, colors);
  const seen = model.seen, MT = model.MT;
  let stamp = model.stamp;
  // §13.3 the match: offset and length carry from pixel to pixel within the stripe, 0 at its start.
  let moff = 0, mlen = 0;
  for (let y = y0; y < y1; y++) {
    const row = y * ys, hasU = y - 1 >= y0, hasUU = y - 2 >= y0;
    const rowHere = (y - y0) * width;
    // Errors of the row above and this one, each pixel at x + 1 (0 and width + 1: absent).
    const errUp = errs[(y - y0 + 1) & 1], errRow = errs[(y - y0) & 1];
    const serrUp = serrs[(y - y0 + 1) & 1], serrRow = serrs[(y - y0) & 1];
    if (y === y0) {
      errUp.fill(0);
      serrUp.fill(0);
    }
    errRow.fill(0);
    serrRow.fill(0);
    for (let xx = 0; xx < width; xx++) {
      const at = row + xx * xs; // the pixel (xx, y) of the coded image in `out`
      const L = xx >= 1 ? out[at - xs] : -1;
      const LL = xx >= 2 ? out[at - 2 * xs] : -1;
      const L3 = xx >= 3 ? out[at - 3 * xs] : -1, L4 = xx >= 4 ? out[at - 4 * xs] : -1;
      let U = -1, UL = -1, UR = -1, UR2 = -1;
      if (hasU) {
        const up = at - ys;
        U = out[up];
        if (xx >= 1) UL = out[up - xs];
        if (xx + 1 < width) UR = out[up + xs];
        if (xx + 2 < width) UR2 = out[up + 2 * xs];
      }
      const UU = hasUU ? out[at - 2 * ys] : -1;
      const pat = pattern(L, U, UL, UR, LL, UU);
      // §13.2 the prediction.
      const esum = 2 * errRow[xx] + 2 * errUp[xx + 1] + errUp[xx] + errUp[xx + 2];
      let sq = 0;
      while (sq < 11 && esum >= 6 << sq) sq++;
      const full = L !== -1 && U !== -1;
      // §13.4 G, the sum of q_0 clamped, and gw = qs(G - S0) (S0 before the bias correction):
      // 15 when the prediction is not full.
      let act = 0, rb = 0, G = 0, gw = 15;
      if (full) {
        let S = 0;
        for (let i = 0; i < NS; i++) {
          const e = serrRow[NS * xx + i] + serrUp[NS * (xx + 1) + i] + serrUp[NS * xx + i] + serrUp[NS * (xx + 2) + i]
            + 1;
          weight[i] = RW[e < 4095 ? e : 4095];
          S += weight[i];
        }
        const half = Math.floor(S / 2);
        let s4 = 0, s5 = 0, S0 = 0;
        for (let ch = 0; ch < C; ch++) {
          const a = palette[L * C + ch], b = palette[U * C + ch], cc = palette[UL * C + ch];
          const d = UR !== -1 ? palette[UR * C + ch] : b;
          const ll = LL !== -1 ? palette[LL * C + ch] : a;
          const uu = UU !== -1 ? palette[UU * C + ch] : b;
          const k = NS * ch;
          q[k] = a + b - cc;
          q[k + 1] = a + ((d - cc) >> 1);
          q[k + 2] = b + ((a - cc) >> 1);
          q[k + 3] = (a + d + 1) >> 1;
          q[k + 4] = 2 * a - ll;
          q[k + 5] = 2 * b - uu;
          q[k + 6] = (a + b + 1) >> 1;
          q[k + 7] = a + d - b;
          q[k + 8] = (a + b + cc + d + 2) >> 2;
          q[k + 9] = b;
          q[k + 10] = a;
          q[k + 11] = d;
          q[k + 12] = cc;
          let A = 0;
          for (let i = 0; i < NS; i++) A += weight[i] * q[k + i];
          const v = floorDiv(A + half, S);
          wp[ch] = v < 0 ? 0 : v > 255 ? 255 : v;
          act += Math.abs(a - cc) + Math.abs(b - cc);
          const g0 = q[k];
          G += g0 < 0 ? 0 : g0 > 255 ? 255 : g0;
          s4 += q[k + 4];
          s5 += q[k + 5];
          S0 += wp[ch];
        }
        gw = qs(G - S0);
        // §13.2 bias correction: the record of sq and eight sign bits against S0 = Σ(w0).
        const bits = (sums[L] > S0 ? 1 : 0) | (sums[U] > S0 ? 2 : 0) | (sums[UL] > S0 ? 4 : 0)
          | (UR !== -1 && sums[UR] > S0 ? 8 : 0) | (LL !== -1 && sums[LL] > S0 ? 16 : 0)
          | (UU !== -1 && sums[UU] > S0 ? 32 : 0) | (s4 > S0 ? 64 : 0) | (s5 > S0 ? 128 : 0);
        rb = BIAS_SIZE * (256 * sq + bits);
        const n = B[rb + BIAS_N];
        for (let ch = 0; ch < C; ch++) w0[ch] = w1[ch] = wp[ch];
        if (n >= 16) {
          // |s| < 2^15: the quotients are exact in doubles.
          const hn = n >> 1;
          for (let ch = 0; ch < C; ch++) {
            const s = B[rb + ch];
            const corr = s >= 0 ? Math.floor((s + hn) / n) : -Math.floor((-s + hn) / n);
            const v = w0[ch] + corr;
            w1[ch] = v < 0 ? 0 : v > 255 ? 255 : v;
          }
          if (B[rb + BIAS_G] > 0) for (let ch = 0; ch < C; ch++) wp[ch] = w1[ch];
        }
      } else {
        const j = L !== -1 ? L : U;
        for (let ch = 0; ch < C; ch++) wp[ch] = j !== -1 ? palette[j * C + ch] : 128;
      }
      // §13.3 candidates: sources t = 0..7, then the first entries of the cell's order (t = 8..23).
      const h1 = hash5(L, U, UL, UR, LL, T1_BITS), h2 = hash5(L, U, 7, 7, 7, T2_BITS);
      const p1 = model.T1[h1], p2 = model.T2[h2];
      // §13.3 the match: an earlier copy of the neighbourhood (the inner hash5 whole, 32 bits).
      const here = rowHere + xx;
      const hm = hash5(hash5(L, LL, L3, L4, U, 32), UL, UR, UR2, UU, MT_BITS);
      const flat = L === LL && L === L3 && L === L4 && L === U && L === UL && L === UR && L === UR2 && L === UU;
      if (moff === 0 && !flat && MT[hm] !== -1) {
        moff = here - MT[hm];
        mlen = 0;
        if (moff <= 2 || moff === width - 1 || moff === width || moff === width + 1 || moff === 2 * width) moff = 0;
      }
      // The pixel at position here - moff of the stripe: row (here - moff) div width, column mod width.
      let mv = -1;
      if (moff > 0) {
        const back = here - moff, yb = Math.floor(back / width);
        mv = out[(y0 + yb) * ys + (back - yb * width) * xs];
      }
      const order = orders.order(wp[0], wp[1], wp[2], wp[3]);
      if (stamp === 0x7fffffff) {
        seen.fill(0);
        stamp = 0;
      }
      stamp++;
      // §13.3 the list: the match value first (source 15); a match held 8 times is pinned (lo = 1).
      let nc = 0, lo = 0, mm = 0;
      if (mv !== -1) {
        seen[mv] = stamp;
        let d2 = 0;
        for (let ch = 0; ch < C; ch++) {
          const dc = palette[mv * C + ch] - wp[ch];
          d2 += dc * dc;
        }
        cand[0] = mv;
        src[0] = 15;
        dist[0] = d2;
        nc = 1;
        if (mlen >= 8) lo = 1;
        // §13.4 mm of the match value: 1 + the smallest b in 0..7 with mlen < 2^b, or 7.
        let b = 0;
        while (b < 7 && mlen >= 1 << b) b++;
        mm = 1 + b;
      }
      for (let t = 0; t < 8 + no; t++) {
        let v;
        if (t < 8) {
          v = t === 0 ? p1 : t === 1 ? p2 : t === 2 ? L : t === 3 ? U : t === 4 ? UR : t === 5 ? UL
            : t === 6 ? LL : UU;
        } else {
          if (t === 8 && p1 !== -1 && p1 === p2) {
            lo = 0;
            while (cand[lo] !== p1) lo++;
            lo++;
          }
          v = order[t - 8];
        }
        if (v === -1 || seen[v] === stamp) continue;
        seen[v] = stamp;
        let d2 = 0;
        for (let ch = 0; ch < C; ch++) {
          const dc = palette[v * C + ch] - wp[ch];
          d2 += dc * dc;
        }
        if (t >= 8) d2 = 2 * d2 + 1;
        let j = nc;
        while (j > lo && dist[j - 1] > d2) {
          cand[j] = cand[j - 1];
          src[j] = src[j - 1];
          dist[j] = dist[j - 1];
          j--;
        }
        cand[j] = v;
        src[j] = t < 14 ? t : 14;
        dist[j] = d2;
        nc++;
      }
      // §13.4 one two-layer decision per candidate: first pc, the prediction's coarse
      // colour, and the relative contexts' per-pixel parts: wps = Σ(wp) (wp after the
      // bias correction), the neighbours' tones Σ(N) (0 for an absent N, never used:
      // rel(v, N) is 0 then); §13.4's G and gw are computed in the §13.2 loop above.
      let pc = wp[0] >> 4, wps = wp[0];
      for (let ch = 1; ch < C; ch++) {
        pc = pc * 16 + (wp[ch] >> 4);
        wps += wp[ch];
      }
      const tL = L !== -1 ? sums[L] : 0, tU = U !== -1 ? sums[U] : 0, tUL = UL !== -1 ? sums[UL] : 0;
      const tUR = UR !== -1 ? sums[UR] : 0, tLL = LL !== -1 ? sums[LL] : 0, tUU = UU !== -1 ? sums[UU] : 0;
      let X = -1;
      for (let i = 0; i < nc; i++) {
        const v = cand[i], s = src[i], i7 = i < 7 ? i : 7;
        let dq = 1;
        while (dq < 11 && dist[i] >= 4 << dq) dq++;
        const icf = (v === p1 ? 1 : 0) | (v === p2 ? 2 : 0);
        const fl = (v === L ? 1 : 0) | (v === U ? 2 : 0) | (v === UR ? 4 : 0) | (v === UL ? 8 : 0);
        // §13.4 relative contexts: rel(v, N) = tone(v) - tone(N), 0 if N is absent.
        const tv = sums[v];
        const relL = L !== -1 ? tv - tL : 0, relU = U !== -1 ? tv - tU : 0, relUR = UR !== -1 ? tv - tUR : 0;
        const rl = qs(relL), ru = qs(relU), rp = qs(tv - wps), rur = qs(relUR);
        const gv = full ? qs(tv - G) : 15;
        const sg = (tv < wps ? 2 : 0) + (relL * relU < 0 ? 1 : 0);
        candIndex[0] = 4 * (256 * (16 * i7 + s) + pat) + icf;
        candIndex[1] = hash5(100 + i7, v, L, U, dq, MIX_H_BITS);
        candIndex[2] = hash5(200 + i7, rl, ru, qs(LL !== -1 ? tv - tLL : 0), qs(UU !== -1 ? tv - tUU : 0),
          MIX_H_BITS);
        candIndex[3] = hash5(400 + s, dq, fl, icf, pat, MIX_H_BITS);
        candIndex[4] = hash5(500 + i7, dq, sq, v === mv ? mm : 0, 0, MIX_H_BITS);
        candIndex[5] = hash5(600, v, dq, L, 0, MIX_H_BITS);
        candIndex[6] = hash5(700, v, pc, 0, 0, MIX_H_BITS);
        candIndex[7] = hash5(800, gv, gw, sq, i < 1 ? i : 1, MIX_H_BITS);
        candIndex[8] = hash5(900 + i7, rl, ru, rur, qs(UL !== -1 ? tv - tUL : 0), MIX_H_BITS);
        candIndex[9] = hash5(1000 + i7, ru, rur, qs(relUR - relU), rp, MIX_H_BITS);
        const s0 = 4 * (16 * i7 + s) + icf, s1 = SET_DQ + 12 * i7 + dq, s2 = SET_SQ + 12 * i7 + sq;
        const m1 = 4 * (12 * i7 + sq) + sg, m2 = MAP_ENTRY + (v & 1023);
        const bit = model.twoLayer(candIndex, s0, s1, s2, i7, m1, m2);
        if (model.logging) {
          model.note(1, candIndex[0]);
          for (let k = 1; k < MIX_INPUTS; k++) model.note(0, candIndex[k]);
          model.note(5, s0);
          model.note(5, s1);
          model.note(5, s2);
          model.note(7, m1);
          model.note(7, m2);
        }
        if (bit) {
          X = v;
          break;
        }
      }
      if (X === -1) {
        // §13.5 a literal: its rank among the non-candidates of the literal order.
        for (let r = 0; r < nt; r++) {
          const o = order[r];
          let d2 = 0;
          for (let ch = 0; ch < C; ch++) {
            const dc = palette[o * C + ch] - wp[ch];
            d2 += dc * dc;
          }
          const key = d2 * 65536 + o;
          let j = r;
          while (j > 0 && top[j - 1] > key) {
            top[j] = top[j - 1];
            j--;
          }
          top[j] = key;
        }
        // The candidates' places in the literal order, ascending: those among
        // its first nt entries, then the others (at their place in the cell's order).
        let m = 0;
        for (let j = 0; j < nt; j++) if (seen[top[j] % 65536] === stamp) crank[m++] = j;
        const inTop = m;
        for (let i = 0; i < nc; i++) {
          const rc = order[colors + cand[i]];
          if (rc < nt) continue;
          let j = m++;
          while (j > inTop && crank[j - 1] > rc) {
            crank[j] = crank[j - 1];
            j--;
          }
          crank[j] = rc;
        }
        const left = colors - nc;
        if (left <= 0) throw new StripeFault("a literal where every palette entry is a candidate", xx, y);
        let aq = 0;
        while (aq < 7 && act >= 4 << aq) aq++;
        const n8 = nc < 8 ? nc : 8;
        const emax = bitLength(left) - 1;
        let e = 0;
        while (e < emax) {
          litIndex[0] = EXP_AQ + 17 * (9 * aq + n8) + e;
          litIndex[1] = EXP_SQ + 17 * (9 * sq + n8) + e;
          litIndex[2] = EXP_SA + 17 * (8 * sq + aq) + e;
          const bit = model.mix(3, litTables, litIndex, SET_EXP + e);
          if (model.logging) {
            for (let k = 0; k < 3; k++) model.note(2, litIndex[k]);
            model.note(5, SET_EXP + e);
          }
          if (!bit) break;
          e++;
        }
        let v = 1;
        for (let k = e - 1; k >= 0; k--) {
          const c = k >= e - 2 ? v : 0;
          litIndex[0] = MAN_E + 4 * (17 * e + k) + c;
          litIndex[1] = MAN_SQ + 4 * (17 * (17 * sq + e) + k) + c;
          v = (v << 1) | model.mix(2, litTables, litIndex, SET_MAN + e);
          if (model.logging) {
            model.note(2, litIndex[0]);
            model.note(2, litIndex[1]);
            model.note(5, SET_MAN + e);
          }
        }
        const r = v - 1;
        if (r >= left) throw new StripeFault("a literal rank beyond the palette entries left", xx, y);
        let t = r;
        for (let i = 0; i < nc; i++) if (crank[i] <= t) t++;
        X = t < nt ? top[t] % 65536 : order[t];
      }
      out[at] = X;
      model.T1[h1] = X;
      model.T2[h2] = X;
      model.note(3, h1);
      model.note(4, h2);
      // §13.3 the match learns.
      if (moff > 0) {
        if (mv === X) mlen++;
        else moff = mlen = 0;
      }
      if (!flat) {
        MT[hm] = here;
        model.note(8, hm);
      }
      let eo = 0;
      for (let ch = 0; ch < C; ch++) eo += Math.abs(palette[X * C + ch] - wp[ch]);
      errRow[xx + 1] = eo;
      if (full) {
        // §13.2 B[bc] learns, in this order; |g| < 2^21 and |s| < 2^15.
        let gain = 0;
        for (let ch = 0; ch < C; ch++) {
          const xc = palette[X * C + ch];
          gain += Math.abs(xc - w0[ch]) - Math.abs(xc - w1[ch]);
          B[rb + ch] += xc - w0[ch];
        }
        const g = B[rb + BIAS_G];
        B[rb + BIAS_G] = g + 16 * gain - (g >> 6);
        if (++B[rb + BIAS_N] === 128) {
          B[rb + BIAS_N] = 64;
          for (let ch = 0; ch < C; ch++) B[rb + ch] >>= 1;  // a floor, also below 0
        }
        model.note(6, rb / BIAS_SIZE);
        for (let i = 0; i < NS; i++) {
          let s = 0;
          for (let ch = 0; ch < C; ch++) {
            const qi = q[NS * ch + i];
            s += Math.abs(palette[X * C + ch] - (qi < 0 ? 0 : qi > 255 ? 255 : qi));
          }
          serrRow[NS * (xx + 1) + i] = s;
        }
      }
    }
  }
  model.stamp = stamp;
  return model.pos;
}

// --- §14 version 3: a coded palette ---------------------------------------------------

/**
 * §14.2, §14.3: the K entries a coded palette's stream codes, R, G, B(, A)
 * each, sorted by ascending canonical value.  Whatever the stream holds, at
 * most (K + 1) * (D + 1) nodes are visited, two decisions each, and the
 * memory is K keys and D + 1 pending nodes.
 */
function decodePalette(stream, colors, channels) {
  const C = channels, D = 8 * C;
  // §11.3's coder with plain decisions of BOTH[d][s] (at 4d + s) and ONE[d][s] (at 4D + 4d + s).
  const model = new StripeModel(false);
  model.direct = new Int32Array(8 * D).fill(FRESH);
  model.start(stream);
  const keys = new Uint32Array(colors);
  let found = 0;
  // Pending nodes (d, prefix, s), the bit-1 half pushed under the bit-0 half
  // so that the bit-0 half and all below it come first (ascending keys).
  const depths = new Int32Array(D + 1), prefixes = new Uint32Array(D + 1), syms = new Int32Array(D + 1);
  let top = 1; // the root (0, 0) with s = 3
  syms[0] = 3;
  while (top > 0) {
    top--;
    const d = depths[top], prefix = prefixes[top], s = syms[top];
    if (d === D) { // an entry: its key is the prefix
      if (found === colors) {
        throw new KmcError(`coded palette: its stream codes more entries than colors = ${colors}; `
          + "the coded data is corrupt");
      }
      keys[found++] = prefix;
      continue;
    }
    // sym: 0 only the bit-0 half holds keys, 1 only the bit-1 half, 2 both.
    const sym = model.plain(4 * d + s) ? 2 : model.plain(4 * D + 4 * d + s);
    if (sym !== 0) {
      depths[top] = d + 1;
      prefixes[top] = 2 * prefix + 1;
      syms[top++] = sym;
    }
    if (sym !== 1) {
      depths[top] = d + 1;
      prefixes[top] = 2 * prefix;
      syms[top++] = sym;
    }
  }
  // §14.3, in its order: the stream length of §11.3 (exactly the bytes its decoding reads), then exactly K entries.
  if (model.pos !== stream.length) {
    throw new KmcError(`coded palette: palette_bytes is ${stream.length} but decoding the stream reads `
      + `${model.pos}; the coded data is corrupt (a stream is exactly as long as its decoding reads, `
      + "spec section 11.3)");
  }
  if (found < colors) {
    throw new KmcError(`coded palette: its stream codes ${found} entries but colors is ${colors}; `
      + "the coded data is corrupt");
  }
  // Key bit j is bit 7 - (j div C) of byte v[j mod C]; v[0] .. v[C-1] make the canonical value.
  const values = new Uint32Array(colors), v = new Uint8Array(4);
  for (let i = 0; i < colors; i++) {
    const key = keys[i];
    v.fill(0);
    for (let j = 0; j < D; j++) v[j % C] |= ((key >>> (D - 1 - j)) & 1) << (7 - ((j / C) | 0));
    values[i] = C === 3 ? (v[0] << 16) | (v[1] << 8) | v[2] : ((v[0] << 24) | (v[1] << 16) | (v[2] << 8) | v[3]) >>> 0;
  }
  values.sort();
  // Stored R, G, B(, A): the canonical value is R<<16 | G<<8 | B, or A<<24 | R<<16 | G<<8 | B.
  const palette = new Uint8Array(C * colors);
  for (let i = 0, j = 0; i < colors; i++, j += C) {
    const value = values[i];
    palette[j] = (value >>> 16) & 255;
    palette[j + 1] = (value >>> 8) & 255;
    palette[j + 2] = value & 255;
    if (C === 4) palette[j + 3] = value >>> 24;
  }
  return palette;
}

// --- the public functions ---------------------------------------------------------

/** The payload and, unless `withPalette` is false, the palette (§14.3: decoded in version 3). */
function parts(bytes, h, withPalette = true) {
  const start = h.headerBytes + h.paletteBytes;
  const payload = bytes.subarray(start, start + h.payloadBytes);
  if (!withPalette) return { payload };
  // A copy (Buffer.prototype.slice would give a view of the caller's bytes).
  const palette = h.coded ? decodePalette(bytes.subarray(h.headerBytes, start), h.colors, h.channels)
    : Uint8Array.prototype.slice.call(bytes, h.headerBytes, start);
  return { palette, payload };
}

/**
 * Decode a .kmc file.
 *
 * @param {Uint8Array|ArrayBuffer} bytes  the whole file
 * @param {{maxPixels?: number|null}} [options]  check 9's pixel limit
 *   (default 89,478,485, Pillow's; null: none, for trusted files only)
 * @returns {{width: number, height: number, colors: number, coder: number,
 *   alpha: boolean, version: number, palette: Uint8Array, indices: Uint8Array|Uint16Array,
 *   rgba: Uint8ClampedArray}}  `palette` holds K*3 bytes (K*4 with alpha;
 *   in version 3 decoded, §14.3), `rgba` width*height*4 bytes ready for
 *   ImageData (alpha 255 without alpha)
 * @throws {KmcError} for a file that breaks a rule of the spec
 */
export function decode(bytes, options) {
  bytes = asBytes(bytes);
  const h = parseHeader(bytes, checkLimit(options));
  checkCrc(bytes, h);
  const { palette, payload } = parts(bytes, h);
  const n = h.width * h.height;
  const layout = h.coder === 0 ? null : payloadLayout(payload, h);
  const indices = pixelMemory(h, () => (h.colors <= 256 ? new Uint8Array(n) : new Uint16Array(n)));
  if (h.coder === 0) decodePacked(payload, h, indices);
  else decodeEntropy(h, palette, indices, layout);
  const alpha = h.channels === 4;
  return {
    width: h.width, height: h.height, colors: h.colors, coder: h.coder, alpha, version: h.version,
    palette, indices, rgba: pixelMemory(h, () => rgbaOf(palette, alpha, indices)),
  };
}

/** `make()`, or a pixel-limit KmcError when this JavaScript engine cannot hold that many pixels. */
function pixelMemory(h, make) {
  try {
    return make();
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    throw new KmcError(`width x height is ${h.width} x ${h.height}: more pixels than this JavaScript engine `
      + "can hold (raise maxPixels only for files you trust)", "pixel-limit");
  }
}

/**
 * §6, pixel[i] = palette[index[i]], as RGBA bytes for ImageData.
 *
 * @param {Uint8Array} palette  K*3 bytes, or K*4 with `alpha`
 * @param {boolean} alpha
 * @param {Uint8Array|Uint16Array} indices  each below K
 * @returns {Uint8ClampedArray}  4 bytes a pixel, alpha 255 without `alpha`
 */
export function rgbaOf(palette, alpha, indices) {
  const channels = alpha ? 4 : 3, colors = palette.length / channels, n = indices.length;
  const rgba = new Uint8ClampedArray(4 * n);
  // Whole pixels as 32-bit words, their bytes laid out as the platform orders them.
  const words = new Uint32Array(rgba.buffer);
  const colours = new Uint32Array(colors);
  const entry = new Uint8Array(colours.buffer);
  for (let i = 0; i < colors; i++) {
    const j = channels * i;
    entry[4 * i] = palette[j];
    entry[4 * i + 1] = palette[j + 1];
    entry[4 * i + 2] = palette[j + 2];
    entry[4 * i + 3] = alpha ? palette[j + 3] : 255;
  }
  for (let i = 0; i < n; i++) words[i] = colours[indices[i]];
  return rgba;
}

/**
 * Decode stripes `first` .. `end`-1 of a coder-1 or coder-2 file into
 * `indices` (width*height entries, K <= 256: Uint8Array, else Uint16Array),
 * so that workers can share a file's stripes (see parallel.mjs).  The
 * indices land in the stored image's pixel order whatever coder 2's
 * orientation (§13: with orientation 1 a stripe is a run of columns).  Makes
 * the header and stripe-table checks again, not the CRC: check the file
 * with info() first.  A bad stripe throws as decode() would; so does a bad
 * coded palette (version 3), which each call decodes again.
 */
export function decodeStripes(bytes, first, end, indices, options) {
  bytes = asBytes(bytes);
  const h = parseHeader(bytes, checkLimit(options));
  if (h.coder === 0) throw new TypeError("decodeStripes is for the striped coders (1 and 2); this file's coder is 0");
  const { palette, payload } = parts(bytes, h);
  const layout = payloadLayout(payload, h);
  if (!(first >= 0 && first <= end && end <= layout.lengths.length)) {
    throw new RangeError(`stripes ${first} to ${end} are not within 0 to ${layout.lengths.length}`);
  }
  if (indices.length !== h.width * h.height) {
    throw new RangeError(`indices has ${indices.length} entries; the image has ${h.width * h.height} pixels`);
  }
  decodeEntropy(h, palette, indices, layout, first, end);
}

/**
 * The palette of a file, as decode() returns it: checks 1 to 12, then in
 * version 3 the coded palette decoded and checked (§14.3).  Not the
 * payload's checks (check 13).
 *
 * @param {Uint8Array|ArrayBuffer} bytes
 * @param {{maxPixels?: number|null}} [options]
 * @returns {Uint8Array} K*3 bytes, or K*4 with alpha
 * @throws {KmcError}
 */
export function paletteOf(bytes, options) {
  bytes = asBytes(bytes);
  const h = parseHeader(bytes, checkLimit(options));
  checkCrc(bytes, h);
  return parts(bytes, h).palette;
}

/**
 * Check a whole file and describe it, as `kmc info --json` does: checks 1
 * to 12, and of check 13 what needs no decoding of an entropy stream (the
 * packed coder's padding and indices, the entropy coder's stripe table).
 *
 * @param {Uint8Array|ArrayBuffer} bytes
 * @param {{maxPixels?: number|null, file?: string}} [options]  `file`: a name for the `file` field
 * @returns {object} the fields of `kmc info --json`
 * @throws {KmcError}
 */
export function info(bytes, options) {
  bytes = asBytes(bytes);
  const h = parseHeader(bytes, checkLimit(options));
  checkCrc(bytes, h);
  const { payload } = parts(bytes, h, false); // §14.3: info does not decode a coded palette
  let details = {};
  if (h.coder === 0) {
    const n = h.width * h.height;
    decodePacked(payload, h, pixelMemory(h, () => (h.colors <= 256 ? new Uint8Array(n) : new Uint16Array(n))));
  } else {
    const layout = payloadLayout(payload, h);
    const stripes = layout.lengths.length;
    // As kmc info: coder 2's orientation (§13), then the stripe table's size (after that byte).
    details = h.coder === 2 ? { orientation: layout.orientation } : {};
    Object.assign(details, { stripes, stripe_table_bytes: 4 + 4 * stripes });
  }
  const out = options && options.file !== undefined ? { file: options.file } : {};
  return Object.assign(out, {
    width: h.width,
    height: h.height,
    colors: h.colors,
    bits_per_index: h.bits,
    coder: CODERS[h.coder],
    version: h.version,
    header_bytes: h.headerBytes,
    palette_bytes: h.paletteBytes,
    index_bytes: h.payloadBytes,
    trailer_bytes: TRAILER_SIZE,
    total_bytes: h.total,
    formula_bits: 8 * h.channels * h.colors + h.width * h.height * h.bits,
    alpha: h.channels === 4,
    coded_palette: h.coded,
  }, details);
}
