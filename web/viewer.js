// The viewer page: open or drop .kmc files, decode each with kmc-classic.js
// (the global `kmc`), show it with its numbers.  A classic script, so that
// index.html works from file:// as well as from a server.
"use strict";

(function () {
  const files = document.getElementById("files");
  const drop = document.getElementById("drop");
  const ZOOMS = [0.125, 0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32];
  // The largest side every browser's canvas draws (Chromium draws more, Firefox and Safari not).
  const MAX_SIDE = 32767;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, attrs || {});
    for (const child of children) node.append(child);
    return node;
  }

  function bytes(n) {
    return n.toLocaleString("en") + " bytes";
  }

  function row(label, value, note) {
    return el("tr", {}, el("th", {}, label), el("td", { className: "n" }, value), el("td", {}, note || ""));
  }

  /** The table of what the file holds, beside the textbook formula. */
  function facts(meta) {
    const n = meta.width * meta.height;
    const entry = meta.alpha ? 32 : 24;
    const formulaBytes = Math.ceil(meta.formula_bits / 8);
    const coderId = { packed: 0, entropy: 1, mix: 2 }[meta.coder];
    const channels = meta.alpha ? 4 : 3;
    const coderNote = { packed: "each index in exactly ceil(log2 K) bits",
      entropy: "context-modelled arithmetic coding", mix: "candidates, a colour prediction and context mixing" };
    return el("table", {},
      row("size", `${meta.width} x ${meta.height}`, `${n.toLocaleString("en")} pixels`),
      row("colours (K)", String(meta.colors),
        `${meta.alpha ? "R, G, B, A" : "R, G, B"} entries (version ${meta.version})`),
      row("bits per index", String(meta.bits_per_index), "ceil(log2 K)"),
      row("coder", `${coderId} (${meta.coder})`, coderNote[meta.coder]),
      row("header", bytes(meta.header_bytes)),
      row("palette", bytes(meta.palette_bytes), meta.coded_palette
        ? `coded; raw it would be ${channels} x K = ${bytes(channels * meta.colors)}` : `${channels} x K`),
      row("indices", bytes(meta.index_bytes),
        meta.stripes ? `${meta.stripes} stripe${meta.stripes > 1 ? "s" : ""}` : ""),
      row("crc32", bytes(meta.trailer_bytes)),
      row("total", bytes(meta.total_bytes),
        `${(8 * meta.total_bytes / n).toFixed(3)} bits per pixel`),
      row(`${entry}K + N·ceil(log2 K)`, bytes(formulaBytes),
        `${meta.formula_bits.toLocaleString("en")} bits: the textbook count; this file is `
        + `${(meta.total_bytes / formulaBytes).toFixed(3)}x it`));
  }

  function paletteSwatches(image) {
    const box = el("div", { className: "palette", title: "the palette, in index order" });
    const step = image.alpha ? 4 : 3;
    const shown = Math.min(image.colors, 1024);
    for (let i = 0; i < shown; i++) {
      const p = image.palette.subarray(i * step, i * step + step);
      const a = image.alpha ? p[3] / 255 : 1;
      box.append(el("span", { title: `${i}: ${Array.from(p).join(", ")}`,
        style: `background: rgba(${p[0]}, ${p[1]}, ${p[2]}, ${a})` }));
    }
    if (shown < image.colors) box.append(el("em", {}, ` … ${image.colors - shown} more`));
    return box;
  }

  /** The index map: each index as a grey level, 0 black, K-1 white. */
  function indexPixels(image) {
    const out = new Uint8ClampedArray(image.rgba.length);
    const scale = image.colors > 1 ? 255 / (image.colors - 1) : 0;
    for (let i = 0; i < image.indices.length; i++) {
      const v = Math.round(image.indices[i] * scale);
      out[4 * i] = out[4 * i + 1] = out[4 * i + 2] = v;
      out[4 * i + 3] = 255;
    }
    return out;
  }

  function fail(card, name, message) {
    card.append(el("p", { className: "error" }, `${name}: ${message}`));
    card.dataset.state = "error";
  }

  function show(name, data) {
    const card = el("section", { className: "card" }, el("h2", {}, name));
    files.append(card);
    try {
      const meta = kmc.info(data);
      if (meta.width > MAX_SIDE || meta.height > MAX_SIDE) {
        fail(card, name, `${meta.width} x ${meta.height} pixels is more than a page can draw (${MAX_SIDE} `
          + "a side); kmc decode writes it as a PNG");
        return;
      }
      draw(card, meta, kmc.decode(data));
    } catch (err) {
      fail(card, name, err.message);
    }
  }

  function draw(card, meta, image) {
    const canvas = el("canvas", { width: image.width, height: image.height });
    const ctx = canvas.getContext("2d");
    const pixels = new ImageData(image.rgba, image.width, image.height);
    ctx.putImageData(pixels, 0, 0);
    const stage = el("div", { className: "stage" }, canvas);
    let zoom = 1;
    const label = el("span", {});
    function setZoom(z) {
      zoom = z;
      canvas.style.width = `${image.width * zoom}px`;
      canvas.style.height = `${image.height * zoom}px`;
      canvas.classList.toggle("pixelated", zoom * (window.devicePixelRatio || 1) > 1);
      label.textContent = `${zoom * 100}%`;
    }
    const step = (dir) => {
      const i = ZOOMS.indexOf(zoom);
      setZoom(ZOOMS[Math.min(Math.max(i + dir, 0), ZOOMS.length - 1)]);
    };
    const fit = () => { // the largest zoom that fits the card's width; above 1:1 only for icons and thumbnails
      const room = Math.max(card.clientWidth - 40, 100);
      const cap = image.width < 256 && image.height < 256 ? 8 : 1;
      setZoom(ZOOMS.filter((z) => z <= cap && image.width * z <= room).pop() || ZOOMS[0]);
    };
    stage.addEventListener("wheel", (ev) => {
      if (!ev.ctrlKey && !ev.metaKey) return;
      ev.preventDefault();
      step(ev.deltaY < 0 ? 1 : -1);
    });
    let view = "image";
    const toggle = el("button", { type: "button", textContent: "index map" });
    toggle.addEventListener("click", () => {
      view = view === "image" ? "indices" : "image";
      ctx.putImageData(view === "image" ? pixels
        : new ImageData(indexPixels(image), image.width, image.height), 0, 0);
      toggle.textContent = view === "image" ? "index map" : "image";
    });
    const minus = el("button", { type: "button", textContent: "−", title: "zoom out" });
    const plus = el("button", { type: "button", textContent: "+", title: "zoom in (or ctrl + wheel)" });
    const one = el("button", { type: "button", textContent: "1:1" });
    const fitButton = el("button", { type: "button", textContent: "fit" });
    minus.addEventListener("click", () => step(-1));
    plus.addEventListener("click", () => step(1));
    one.addEventListener("click", () => setZoom(1));
    fitButton.addEventListener("click", fit);
    const tools = el("div", { className: "tools" }, minus, label, plus, one, fitButton, toggle);
    card.append(el("div", { className: "body" },
      el("div", {}, tools, stage),
      el("div", {}, facts(meta), paletteSwatches(image))));
    card.dataset.state = "decoded";
    fit();
  }

  async function open(list) {
    for (const file of Array.from(list)) {
      let data;
      try {
        data = new Uint8Array(await file.arrayBuffer());
      } catch (err) {
        const card = el("section", { className: "card" }, el("h2", {}, file.name));
        files.append(card);
        fail(card, file.name, `cannot be read (${err.message}); a folder, or a file that went away?`);
        continue;
      }
      show(file.name, data);
    }
  }

  document.getElementById("pick").addEventListener("change", (ev) => {
    const list = Array.from(ev.target.files);
    ev.target.value = ""; // so that choosing the same file again opens it again
    open(list);
  });
  for (const kind of ["dragenter", "dragover"]) {
    drop.addEventListener(kind, (ev) => {
      ev.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const kind of ["dragleave", "drop"]) drop.addEventListener(kind, () => drop.classList.remove("over"));
  // Files dropped anywhere on the page are opened (not navigated to).
  window.addEventListener("dragover", (ev) => ev.preventDefault());
  window.addEventListener("drop", (ev) => {
    ev.preventDefault();
    open(ev.dataTransfer.files);
  });
})();
