// Helpers of the Node tests: a seeded generator, mutations, CRC repair, a PNG reader.
import { inflateSync } from "node:zlib";

// A seeded generator (mulberry32), so that a failure can be run again.
export function generator(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CRC_TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** The file with its CRC-32 recomputed, so that the checks behind it are reached. */
export function withCrc(bytes) {
  const out = Uint8Array.from(bytes);
  if (out.length < 32) return out;
  let c = 0xffffffff;
  for (let i = 0; i < out.length - 4; i++) c = CRC_TABLE[(c ^ out[i]) & 255] ^ (c >>> 8);
  new DataView(out.buffer).setUint32(out.length - 4, (c ^ 0xffffffff) >>> 0, true);
  return out;
}

export function mutate(bytes, rand) {
  let out = Array.from(bytes);
  const pick = (n) => Math.floor(rand() * n);
  const kind = pick(6);
  if (kind === 0) { // flip up to 8 bits
    for (let i = 1 + pick(8); i > 0; i--) out[pick(out.length)] ^= 1 << pick(8);
  } else if (kind === 1) { // truncate
    out = out.slice(0, pick(out.length));
  } else if (kind === 2) { // insert random bytes
    const at = pick(out.length + 1);
    out.splice(at, 0, ...Array.from({ length: 1 + pick(16) }, () => pick(256)));
  } else if (kind === 3) { // delete a run
    out.splice(pick(out.length), 1 + pick(16));
  } else if (kind === 4) { // a header field set to an extreme
    const fields = [4, 5, 6, 7, 8, 12, 16, 20, 24];
    if (out[4] === 3) fields.push(28); // version 3's palette_bytes
    const field = fields[pick(fields.length)];
    const value = [0, 1, 2, 255, 0xffffffff, 0x7fffffff, 65536, 65537][pick(8)];
    for (let i = 0; i < (field >= 8 ? 4 : 1); i++) out[field + i] = (value >>> (8 * i)) & 255;
  } else { // a payload byte (in version 3, a coded palette's too) set to 0x00 or 0xff
    const start = Math.min(out.length - 5, out[4] === 3 ? 32 : 28 + 3 * (out[16] | (out[17] << 8)));
    if (start > 0) out[start + pick(out.length - 4 - start)] = pick(2) ? 255 : 0;
  }
  return Uint8Array.from(out);
}

// A minimal PNG reader: 8-bit RGB and RGBA, not interlaced (what the frozen
// vectors' expected images are).  Returns RGBA pixels.
export function readPng(buf) {
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  sig.forEach((v, i) => { if (buf[i] !== v) throw new Error("not a PNG"); });
  let pos = 8, width = 0, height = 0, type = 0;
  const idat = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos), kind = buf.toString("latin1", pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (kind === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      type = data[9];
      if (data[8] !== 8 || (type !== 2 && type !== 6) || data[12] !== 0) {
        throw new Error(`unsupported PNG: depth ${data[8]}, colour type ${type}, interlace ${data[12]}`);
      }
    } else if (kind === "IDAT") {
      idat.push(data);
    }
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const bpp = type === 6 ? 4 : 3, stride = width * bpp;
  const rows = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? rows[y * stride + x - bpp] : 0;
      const b = y > 0 ? rows[(y - 1) * stride + x] : 0;
      const c = x >= bpp && y > 0 ? rows[(y - 1) * stride + x - bpp] : 0;
      let v = line[x];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      rows[y * stride + x] = v & 255;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) rgba[4 * i + c] = rows[bpp * i + c];
    rgba[4 * i + 3] = bpp === 4 ? rows[bpp * i + 3] : 255;
  }
  return { width, height, rgba };
}

/**
 * A canonical palette (K entries of `channels` bytes, ascending) coded as
 * spec section 14.2 says: the encoder's side of §11.3's binary coder, plain
 * decisions, the tree of interleaved-bit keys.  For tests only.
 */
export function codePalette(palette, channels) {
  const C = channels, D = 8 * C, K = palette.length / C;
  const keys = [];
  for (let i = 0; i < K; i++) {
    const v = C === 3 ? [palette[3 * i], palette[3 * i + 1], palette[3 * i + 2]]
      : [palette[4 * i + 3], palette[4 * i], palette[4 * i + 1], palette[4 * i + 2]];
    let key = 0;
    for (let j = 0; j < D; j++) key = 2 * key + ((v[j % C] >> (7 - Math.floor(j / C))) & 1);
    keys.push(key);
  }
  keys.sort((a, b) => a - b);
  const counters = Array.from({ length: 8 * D }, () => ({ p: 32768, n: 0 }));
  const out = [];
  let x1 = 0, x2 = 0xffffffff;
  const code = (ctx, bit) => {
    const c = counters[ctx], p = Math.min(Math.max(c.p, 32), 65504), r = x2 - x1;
    const xmid = x1 + Math.floor(r / 65536) * p + Math.floor(((r % 65536) * p) / 65536);
    if (bit) x2 = xmid;
    else x1 = xmid + 1;
    while (((x1 ^ x2) & 0xff000000) === 0) {
      out.push(x2 >>> 24);
      x1 = (x1 * 256) % 2 ** 32;
      x2 = (x2 * 256) % 2 ** 32 + 255;
    }
    c.p += Math.floor(((bit * 65536 - c.p) * Math.floor(655360 / (10 * c.n + 16))) / 65536);
    c.n = Math.min(c.n + 1, 255);
  };
  // keys[lo .. hi-1] share their first d bits.
  const visit = (lo, hi, d, s) => {
    if (d === D) return;
    let mid = lo;
    while (mid < hi && Math.floor(keys[mid] / 2 ** (D - 1 - d)) % 2 === 0) mid++;
    const both = mid > lo && mid < hi;
    code(4 * d + s, both ? 1 : 0);
    const sym = both ? 2 : mid === lo ? 1 : 0;
    if (!both) code(4 * D + 4 * d + s, sym);
    if (mid > lo) visit(lo, mid, d + 1, sym);
    if (mid < hi) visit(mid, hi, d + 1, sym);
  };
  visit(0, K, 0, 3);
  for (let k = 3; k >= 0; k--) out.push(Math.floor(x1 / 2 ** (8 * k)) % 256);
  return Uint8Array.from(out);
}

/** A version-1 or version-2 file with a canonical palette as the same image in version 3 (§14.1). */
export function toVersion3(bytes) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const C = bytes[4] === 2 ? 4 : 3, K = dv.getUint32(16, true);
  const stream = codePalette(bytes.subarray(28, 28 + C * K), C);
  const payload = bytes.subarray(28 + C * K, bytes.length - 4);
  const out = new Uint8Array(36 + stream.length + payload.length);
  out.set(bytes.subarray(0, 28));
  out[4] = 3;
  new DataView(out.buffer).setUint32(28, stream.length, true);
  out.set(stream, 32);
  out.set(payload, 32 + stream.length);
  return withCrc(out);
}
