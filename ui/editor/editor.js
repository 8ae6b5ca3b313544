// SeqLab's span editor: a Streamlit components v2 module (no build step, no dependencies).
//
// Python sends the document as selection units (their texts, the text between them) and the
// spans as unit ranges; everything here works in unit indices and sends unit ranges back, so no
// character offset is ever computed in the browser. The edit rules below mirror
// ui/editor/model.py (tests/browser/test_editor.py runs the same cases through both).
//
// The text is rendered once; an edit patches only the units of the spans it changes. Everything
// that comes from a person (text, label names) is set with textContent, never as HTML.

// ---------------------------------------------------------------------------- rules
// A span is {i, j, label, score}: units i .. j-1, i < j. Arrays of spans are sorted and never
// overlap. An edit returns a new array; spans it does not change keep their identity, which is
// what lets the DOM patch touch only the changed ones.

export function addSpan(spans, i, j, label) {
  if (!(i < j)) throw new Error(`an empty selection [${i}, ${j}) cannot become a span`);
  const kept = spans.filter((s) => s.j <= i || s.i >= j);
  const made = { i, j, label, score: null };
  const at = kept.findIndex((s) => s.i >= j);
  return at < 0 ? [...kept, made] : [...kept.slice(0, at), made, ...kept.slice(at)];
}

export function relabel(spans, k, label) {
  const s = spans[k];
  return [...spans.slice(0, k), { i: s.i, j: s.j, label, score: null }, ...spans.slice(k + 1)];
}

export function removeSpan(spans, k) {
  return [...spans.slice(0, k), ...spans.slice(k + 1)];
}

export function moveEnd(spans, k, delta, nUnits) {
  const s = spans[k];
  const limit = k + 1 < spans.length ? spans[k + 1].i : nUnits;
  const j = Math.min(Math.max(s.j + delta, s.i + 1), limit);
  if (j === s.j) return spans;
  return [...spans.slice(0, k), { i: s.i, j, label: s.label, score: null }, ...spans.slice(k + 1)];
}

export function moveStart(spans, k, delta) {
  const s = spans[k];
  const limit = k > 0 ? spans[k - 1].j : 0;
  const i = Math.max(Math.min(s.i + delta, s.j - 1), limit);
  if (i === s.i) return spans;
  return [...spans.slice(0, k), { i, j: s.j, label: s.label, score: null }, ...spans.slice(k + 1)];
}

export class History {
  constructor(present, limit = 500) {
    this.present = present;
    this.past = [];
    this.future = [];
    this.limit = limit;
  }

  push(state) {
    if (sameSpans(state, this.present)) return;
    this.past.push(this.present);
    if (this.past.length > this.limit) this.past.shift();
    this.present = state;
    this.future = [];
  }

  undo() {
    if (this.past.length) {
      this.future.unshift(this.present);
      this.present = this.past.pop();
    }
    return this.present;
  }

  redo() {
    if (this.future.length) {
      this.past.push(this.present);
      this.present = this.future.shift();
    }
    return this.present;
  }
}

function sameSpans(a, b) {
  return a.length === b.length
    && a.every((s, k) => s.i === b[k].i && s.j === b[k].j && s.label === b[k].label && s.score === b[k].score && s.origin === b[k].origin);
}

// ---------------------------------------------------------------------------- the editor

const instances = new WeakMap(); // parentElement -> Editor (the module is called again on reruns)
const ARROWS = new Set(["ArrowLeft", "ArrowRight"]);
const CHUNK = 150; // units per drawn block of a long paragraph, cut after a sentence...
const HARD_CHUNK = 400; // ...or anywhere past this (CJK text has no spaces to cut at)
const SENTENCE_END = new Set([".", "!", "?", "。", "！", "？", ";", "\u061f"]);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

class Editor {
  constructor(parent, data, setStateValue, setTriggerValue) {
    this.parent = parent;
    this.data = data;
    this.setStateValue = setStateValue;
    this.setTriggerValue = setTriggerValue;
    this.editable = data.mode === "edit";
    // tag mode (a tags project): every word is a span with its tag; a tag key relabels the
    // selected word and moves to the next one, and nothing removes a word's tag
    this.wordTags = !!data.word_tags;
    this.labels = data.labels || [];
    this.colour = new Map(this.labels.map((l) => [l.name, l.colour]));
    this.keys = new Map(this.labels.filter((l) => l.key).map((l) => [l.key.toLowerCase(), l.name]));
    this.n = data.units.length;
    // a suggestion may come from a pattern (no model yet): drawn as such until a person confirms it
    this.spans = data.spans.map(([i, j, label, score, origin]) => (origin
      ? { i, j, label, score: score ?? null, origin } : { i, j, label, score: score ?? null }));
    this.hints = data.hints || []; // [i, j, label]: pattern matches the model did not mark
    this.history = new History(this.spans);
    this.marks = new Map(); // span object -> its <mark>
    this.sel = null; // null | {kind: "units", a, f} | {kind: "span", span}
    this.caret = 0;
    this.shown = [0, -1]; // units now drawn as selected
    this.seq = 0;
    this.timer = null;
    this.locked = false;
    this.attempts = data.attempts ?? 0;
    this.cleanups = [];
    this.build();
  }

  // The same document and revision as last time: a rerun, not a new document.
  sameAs(data) {
    if (data.mode !== "edit") return data === this.data; // a view is cheap to draw again
    const d = this.data;
    return data.mode === d.mode && data.doc === d.doc && data.revision === d.revision
      && data.version === d.version && data.units.length === d.units.length;
  }

  refresh(data, setStateValue, setTriggerValue) {
    this.setStateValue = setStateValue;
    this.setTriggerValue = setTriggerValue;
    if ((data.attempts ?? 0) !== this.attempts) { // Python refused the last Accept: editing goes on
      this.attempts = data.attempts ?? 0;
      this.unlock();
    }
    this.data = data;
  }

  // ------------------------------------------------------------------ building
  build() {
    performance.mark("seqlab-editor-build-start");
    const root = el("div", "seqlab-editor" + (this.editable ? " seqlab-editable" : ""));
    if (this.data.doc !== null && this.data.doc !== undefined) root.dataset.doc = String(this.data.doc);
    this.root = root;
    if (this.editable) root.appendChild(this.buildToolbar());
    const text = el("div", "seqlab-text");
    this.text = text;
    text.appendChild(this.buildText());
    root.appendChild(text);
    if (this.editable) {
      text.tabIndex = 0;
      text.setAttribute("role", "application");
      text.setAttribute("aria-label", "Document text: select words, then press a label key");
      this.status = el("div", "seqlab-status");
      this.status.setAttribute("aria-live", "polite");
      root.appendChild(this.status);
      root.appendChild(this.buildActions());
      this.listen();
      this.say();
    }
    this.parent.appendChild(root);
    if (this.editable && this.wordTags && this.spans.length) { // keyboard first: the first unsure word, or the first
      const threshold = this.data.threshold ?? 0;
      this.selectSpan(this.spans.find((s) => s.score !== null && s.score < threshold) || this.spans[0]);
    }
    performance.measure("seqlab-editor-build", "seqlab-editor-build-start"); // read by bench/editor.py
  }

  // The text as blocks ("chunks") of a paragraph, or of about CHUNK units of a long one, cut
  // after a sentence: an edit then lays out one block, and blocks off screen are not laid out at
  // all (content-visibility). A chunk never cuts a span; an edit that makes a span across chunks
  // merges them first.
  buildText() {
    const frag = document.createDocumentFragment();
    const { units, gaps } = this.data;
    const spans = this.spans;
    this.units = new Array(this.n);
    let chunk = frag.appendChild(el("div", "seqlab-chunk"));
    let size = 0;
    let open = null; // the mark being filled
    let next = 0; // the next span to open
    const hintAt = new Map();
    for (const h of this.hints || []) for (let u = h[0]; u < h[1]; u++) hintAt.set(u, h);
    for (let u = 0; u < this.n; u++) {
      const gap = gaps[u];
      if (open) {
        if (gap) open.appendChild(document.createTextNode(gap)); // inside a span: its own gap
      } else {
        if (gap) chunk.appendChild(document.createTextNode(gap));
        if (u > 0 && this.cutsBefore(u, size)) {
          chunk = frag.appendChild(el("div", "seqlab-chunk"));
          size = 0;
        }
        if (next < spans.length && spans[next].i === u) open = chunk.appendChild(this.newMark(spans[next]));
      }
      // read-only (Tag), nothing is selected: the text alone, marks holding only their text and tag
      const unit = this.editable ? el("span", "seqlab-unit", units[u]) : document.createTextNode(units[u]);
      const hint = hintAt.get(u);
      if (hint && this.editable) {
        unit.classList.add("seqlab-hint");
        unit.style.textDecorationColor = this.colour.get(hint[2]) || "#888888";
        unit.title = `a pattern suggests ${hint[2]} here: select the words and press the label's key`;
      }
      unit._i = u;
      this.units[u] = unit;
      (open || chunk).appendChild(unit);
      size += 1;
      if (open && spans[next].j === u + 1) {
        open.appendChild(open._tag);
        open = null;
        next += 1;
      }
    }
    if (gaps[this.n]) chunk.appendChild(document.createTextNode(gaps[this.n]));
    return frag;
  }

  // A new chunk before unit u: at a line break, or after a sentence once the chunk is long.
  cutsBefore(u, size) {
    const gap = this.data.gaps[u];
    if (gap.includes("\n")) return true;
    if (size >= HARD_CHUNK) return true;
    return size >= CHUNK && SENTENCE_END.has(this.data.units[u - 1]);
  }

  chunkOf(unit) {
    const parent = unit.parentNode;
    return parent.classList.contains("seqlab-chunk") ? parent : parent.parentNode;
  }

  // Chunks first..last become one (a span is about to cover units in both).
  merge(first, last) {
    while (first !== last) {
      const following = first.nextSibling;
      first.append(...following.childNodes);
      following.remove();
      if (following === last) break;
    }
  }

  newMark(span) {
    const mark = el("mark", "seqlab-entity");
    mark.dataset.label = span.label;
    mark.style.backgroundColor = this.colour.get(span.label) || "#dddddd";
    const unsure = span.score !== null && span.score < (this.data.threshold ?? 0);
    if (unsure) mark.classList.add("seqlab-unsure");
    if (span.origin === "pattern") mark.classList.add("seqlab-pattern");
    const score = this.data.scores && span.score !== null ? ` ${span.score.toFixed(2)}` : "";
    mark._tag = el("span", "seqlab-tag", span.label + score);
    const offsets = this.data.offsets;
    if (offsets) {
      const where = `[${offsets[span.i][0]}, ${offsets[span.j - 1][1]})`;
      mark.title = `${span.label} ${where}${span.score !== null ? ` confidence ${span.score.toFixed(2)}` : ""}`
        + (unsure ? " (unsure)" : "") + (span.origin === "pattern" ? " (suggested by a pattern: confirm or change it)" : "");
    }
    mark._span = span;
    this.marks.set(span, mark);
    return mark;
  }

  buildToolbar() {
    const bar = el("div", "seqlab-toolbar");
    const many = this.labels.length > 12;
    if (many) {
      const filter = el("input", "seqlab-filter");
      filter.type = "search";
      filter.placeholder = `Filter ${this.labels.length} labels`;
      filter.setAttribute("aria-label", "Filter labels");
      filter.addEventListener("input", () => this.filterChips(filter.value));
      filter.addEventListener("keydown", (e) => this.filterKey(e, filter));
      bar.appendChild(filter);
      this.filter = filter;
    }
    const chips = el("div", "seqlab-chips" + (many ? " seqlab-chips-many" : ""));
    chips.setAttribute("role", "toolbar");
    chips.setAttribute("aria-label", "Labels");
    this.chips = [];
    for (const label of this.labels) {
      const chip = el("button", "seqlab-chip");
      chip.type = "button";
      chip.dataset.label = label.name;
      chip.style.setProperty("--seqlab-colour", label.colour || "#dddddd");
      chip.appendChild(el("span", "seqlab-chip-name", label.name));
      if (label.key) chip.appendChild(el("kbd", "", label.key));
      chip.title = label.key ? `${label.name} (key ${label.key})` : label.name;
      chip.addEventListener("mousedown", (e) => e.preventDefault()); // keep the focus on the text
      chip.addEventListener("click", () => { this.applyLabel(label.name); this.text.focus({ preventScroll: true }); });
      chips.appendChild(chip);
      this.chips.push(chip);
    }
    bar.appendChild(chips);
    return bar;
  }

  filterChips(query) {
    const q = query.trim().toLowerCase();
    for (const chip of this.chips) chip.hidden = q !== "" && !chip.dataset.label.toLowerCase().includes(q);
  }

  filterKey(e, filter) {
    if (e.key === "Enter") { // the first label the filter leaves
      e.preventDefault();
      const chip = this.chips.find((c) => !c.hidden);
      if (chip) this.applyLabel(chip.dataset.label);
      filter.value = "";
      this.filterChips("");
      this.text.focus({ preventScroll: true });
    } else if (e.key === "Escape") {
      filter.value = "";
      this.filterChips("");
      this.text.focus({ preventScroll: true });
    }
  }

  buildActions() {
    const row = el("div", "seqlab-actions");
    const button = (name, hint, action, primary) => {
      const b = el("button", "seqlab-button" + (primary ? " seqlab-primary" : ""), name);
      b.type = "button";
      if (hint) {
        b.title = hint;
        b.setAttribute("aria-keyshortcuts", hint);
      }
      b.addEventListener("mousedown", (e) => e.preventDefault());
      b.addEventListener("click", action);
      row.appendChild(b);
      return b;
    };
    this.acceptButton = button("Accept", "Control+Enter", () => this.accept(), true);
    this.skipButton = button("Skip", "", () => this.skip(), false);
    button("Undo", "Control+Z", () => this.undo(), false);
    button("Redo", "Control+Shift+Z", () => this.redo(), false);
    button("Next unsure", "n", () => this.nextUnsure(), false);
    row.appendChild(el("span", "seqlab-help",
      "Drag, double-click or shift+click words; a label key or chip makes the span. Click a span: its label key "
      + "relabels, Delete removes, Shift+←/→ moves its end, Alt+←/→ its start, ←/→ the next span; Esc clears."));
    return row;
  }

  // ------------------------------------------------------------------ events
  listen() {
    const text = this.text;
    const on = (target, type, fn, opts) => {
      target.addEventListener(type, fn, opts);
      this.cleanups.push(() => target.removeEventListener(type, fn, opts));
    };
    on(text, "mousedown", (e) => this.mouseDown(e));
    on(text, "mouseover", (e) => this.mouseOver(e));
    on(document, "mouseup", () => this.mouseUp());
    on(text, "dblclick", (e) => this.doubleClick(e));
    on(text, "keydown", (e) => this.keyDown(e));
    on(this.root, "focusout", (e) => { if (!this.root.contains(e.relatedTarget)) this.flush(); });
    on(document, "keydown", (e) => { // Ctrl+Enter accepts from anywhere on the page
      if ((e.ctrlKey || e.metaKey) && e.key === "Enter" && !this.text.contains(e.target)) {
        e.preventDefault();
        this.accept();
      }
    });
    on(document, "visibilitychange", () => { if (document.visibilityState === "hidden") this.flush(); });
    on(window, "pagehide", () => this.flush());
  }

  unitAt(target) {
    const unit = target.closest?.(".seqlab-unit");
    return unit && this.text.contains(unit) ? unit : null;
  }

  mouseDown(e) {
    if (e.button !== 0) return;
    e.preventDefault(); // no native text selection: the editor draws its own
    this.text.focus({ preventScroll: true });
    const unit = this.unitAt(e.target);
    const mark = e.target.closest?.("mark.seqlab-entity");
    if (!unit) {
      if (mark) this.selectSpan(mark._span);
      return;
    }
    const k = unit._i;
    if (e.shiftKey) {
      const anchor = this.sel?.kind === "units" ? this.sel.a : this.sel?.kind === "span" ? this.sel.span.i : this.caret;
      this.selectUnits(anchor, k);
      return;
    }
    this.drag = { start: k, moved: false, span: unit.parentNode._span || null };
  }

  mouseOver(e) {
    if (!this.drag) return;
    const unit = this.unitAt(e.target);
    if (!unit) return;
    if (unit._i !== this.drag.start) this.drag.moved = true;
    if (this.drag.moved) this.selectUnits(this.drag.start, unit._i);
  }

  mouseUp() {
    const drag = this.drag;
    if (!drag) return;
    this.drag = null;
    if (drag.moved) return;
    if (drag.span && this.marks.has(drag.span)) this.selectSpan(drag.span);
    else this.selectUnits(drag.start, drag.start);
  }

  doubleClick(e) {
    const unit = this.unitAt(e.target);
    if (unit) this.selectUnits(unit._i, unit._i);
  }

  keyDown(e) {
    const key = e.key;
    const mod = e.ctrlKey || e.metaKey;
    let done = true;
    if (mod && key === "Enter") this.accept();
    else if (mod && (key === "z" || key === "Z")) (e.shiftKey ? this.redo() : this.undo());
    else if (mod && (key === "y" || key === "Y")) this.redo();
    else if (mod) done = false;
    else if (ARROWS.has(key)) this.arrow(key === "ArrowLeft" ? -1 : 1, e.shiftKey, e.altKey);
    else if (e.altKey) done = false;
    else if (key === "Escape") this.clear();
    else if (key === "Delete" || key === "Backspace") this.deleteSelected();
    else if (key === "Home" || key === "End") this.selectUnits(key === "Home" ? 0 : this.n - 1, key === "Home" ? 0 : this.n - 1);
    else if (key.length === 1 && !e.shiftKey && this.keys.has(key.toLowerCase())) this.applyLabel(this.keys.get(key.toLowerCase()));
    else if (key === "n" && !e.shiftKey) this.nextUnsure();
    else done = false;
    if (done) {
      e.preventDefault();
      e.stopPropagation(); // not Streamlit's own shortcuts
    }
  }

  arrow(delta, shift, alt) {
    const sel = this.sel;
    if (sel?.kind === "span") {
      const k = this.spans.indexOf(sel.span);
      if (alt) this.edit(moveStart(this.spans, k, delta), k);
      else if (shift) this.edit(moveEnd(this.spans, k, delta, this.n), k);
      else if (this.spans[k + delta]) this.selectSpan(this.spans[k + delta]);
    } else if (sel?.kind === "units") {
      if (alt) return;
      const f = Math.min(Math.max(sel.f + delta, 0), this.n - 1);
      this.selectUnits(shift ? sel.a : f, f);
    } else if (shift) {
      const at = Math.min(Math.max(this.caret, 0), this.n - 1);
      this.selectUnits(at, at);
    } else if (!alt) { // nothing selected: the next span from the caret
      const found = delta > 0 ? this.spans.find((s) => s.i >= this.caret) : [...this.spans].reverse().find((s) => s.j <= this.caret + 1);
      if (found) this.selectSpan(found);
    }
  }

  // ------------------------------------------------------------------ selection
  selectUnits(a, f) {
    if (this.n === 0) return;
    this.unmarkActive();
    this.sel = { kind: "units", a, f };
    this.caret = f;
    this.drawUnits(Math.min(a, f), Math.max(a, f));
    this.units[f].scrollIntoView?.({ block: "nearest", inline: "nearest" });
    this.say();
  }

  selectSpan(span) {
    this.drawUnits(0, -1);
    this.unmarkActive();
    this.sel = { kind: "span", span };
    this.caret = span.i;
    const mark = this.marks.get(span);
    mark.classList.add("seqlab-active");
    mark.scrollIntoView?.({ block: "nearest", inline: "nearest" });
    this.say();
  }

  clear() {
    this.drawUnits(0, -1);
    this.unmarkActive();
    this.sel = null;
    this.say();
  }

  unmarkActive() {
    if (this.sel?.kind === "span") this.marks.get(this.sel.span)?.classList.remove("seqlab-active");
  }

  // Draw units lo..hi as selected, touching only those whose state changes.
  drawUnits(lo, hi) {
    const [plo, phi] = this.shown;
    for (let u = plo; u <= phi; u++) if (u < lo || u > hi) this.units[u].classList.remove("seqlab-sel");
    for (let u = lo; u <= hi; u++) if (u < plo || u > phi) this.units[u].classList.add("seqlab-sel");
    this.shown = [lo, hi];
  }

  // ------------------------------------------------------------------ edits
  applyLabel(label) {
    if (this.locked) return;
    const sel = this.sel;
    if (this.wordTags) return this.applyTag(label, sel);
    if (sel?.kind === "units") {
      const lo = Math.min(sel.a, sel.f);
      const hi = Math.max(sel.a, sel.f);
      const next = addSpan(this.spans, lo, hi + 1, label);
      this.edit(next, next.findIndex((s) => s.i === lo));
    } else if (sel?.kind === "span" && (sel.span.label !== label || sel.span.score !== null || sel.span.origin)) {
      const k = this.spans.indexOf(sel.span); // (the same label on a suggestion confirms it: no longer unsure)
      this.edit(relabel(this.spans, k, label), k);
    } else if (!sel) {
      this.say("Select words first (drag, double-click, or Shift+→), then press the label's key.");
    }
  }

  // Tag mode: the selected word (or every word of a selection) gets ``label``; then the next word.
  applyTag(label, sel) {
    if (sel?.kind === "span") {
      const k = this.spans.indexOf(sel.span);
      const next = relabel(this.spans, k, label);
      this.edit(next, Math.min(k + 1, next.length - 1));
    } else if (sel?.kind === "units") {
      const lo = Math.min(sel.a, sel.f);
      const hi = Math.max(sel.a, sel.f);
      let next = this.spans;
      for (let u = lo; u <= hi; u++) { // each word the selection touches; a word without a tag gets one
        const k = next.findIndex((s) => s.i <= u && u < s.j);
        if (k < 0) next = addSpan(next, u, u + 1, label);
        else if (next[k].label !== label || next[k].score !== null) next = relabel(next, k, label);
      }
      const last = next.findIndex((s) => s.i <= hi && hi < s.j);
      if (next !== this.spans) this.edit(next, Math.min(last + 1, next.length - 1));
    } else {
      this.say("Select a word (click it, or → to the next), then press its tag's key or type the tag.");
    }
  }

  deleteSelected() {
    if (this.locked) return;
    if (this.wordTags) return this.say("Every word keeps a tag: press another tag's key to change it.");
    const sel = this.sel;
    if (sel?.kind === "span") {
      const k = this.spans.indexOf(sel.span);
      this.caret = sel.span.i;
      this.sel = null;
      this.edit(removeSpan(this.spans, k), -1);
    } else if (sel?.kind === "units") { // the spans the selection touches
      const lo = Math.min(sel.a, sel.f);
      const hi = Math.max(sel.a, sel.f);
      this.edit(this.spans.filter((s) => s.j <= lo || s.i > hi), null);
    }
  }

  undo() {
    if (!this.locked) this.apply(this.history.undo(), -1);
  }

  redo() {
    if (!this.locked) this.apply(this.history.redo(), -1);
  }

  // A new span list from an edit; ``select``: the index of the span to select after it
  // (-1: none, null: keep the unit selection).
  edit(next, select) {
    if (this.locked || next === this.spans) return;
    this.history.push(next);
    this.apply(this.history.present, select);
  }

  apply(next, select) {
    if (next !== this.spans) {
      this.patch(next);
      this.changed();
    }
    if (select === null) this.say();
    else if (select >= 0 && next[select]) this.selectSpan(next[select]);
    else this.clear();
  }

  // The DOM follows the span list: unwrap the marks of spans that went, wrap the new ones.
  patch(next) {
    const before = new Set(this.spans);
    const after = new Set(next);
    if (this.sel?.kind === "span" && !after.has(this.sel.span)) this.sel = null;
    for (const span of this.spans) if (!after.has(span)) this.unwrap(span);
    for (const span of next) if (!before.has(span)) this.wrap(span);
    this.spans = next;
  }

  wrap(span) {
    const mark = this.newMark(span);
    const first = this.units[span.i];
    const last = this.units[span.j - 1];
    const chunk = this.chunkOf(first);
    if (chunk !== this.chunkOf(last)) this.merge(chunk, this.chunkOf(last));
    first.parentNode.insertBefore(mark, first);
    let node = first;
    for (;;) {
      const following = node.nextSibling;
      mark.appendChild(node);
      if (node === last) break;
      node = following;
    }
    mark.appendChild(mark._tag);
  }

  unwrap(span) {
    const mark = this.marks.get(span);
    this.marks.delete(span);
    mark._tag.remove();
    mark.replaceWith(...mark.childNodes);
  }

  nextUnsure() {
    const threshold = this.data.threshold ?? 0;
    const unsure = this.spans.filter((s) => (s.score !== null && s.score < threshold) || s.origin === "pattern");
    if (!unsure.length) {
      this.say("No unsure suggestions left.");
      return;
    }
    const from = this.sel?.kind === "span" ? this.sel.span.i : this.sel ? Math.min(this.sel.a, this.sel.f) - 1 : -1;
    this.selectSpan(unsure.find((s) => s.i > from) || unsure[0]);
  }

  // ------------------------------------------------------------------ talking to Python
  value() {
    const d = this.data;
    return { doc: d.doc, version: d.version, revision: d.revision, seq: this.seq,
      spans: this.spans.map((s) => [s.i, s.j, s.label]) };
  }

  changed() {
    this.seq += 1;
    this.root.dataset.seq = String(this.seq);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), this.data.debounce_ms ?? 2000);
  }

  // Send the spans as the draft now, if an edit has not been sent yet.
  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.editable || this.locked || this.seq === this.sentSeq) return;
    this.sentSeq = this.seq;
    this.setStateValue("work", this.value());
  }

  accept() {
    if (this.locked) return;
    clearTimeout(this.timer);
    this.lock("Saving...");
    this.setTriggerValue("accept", this.value());
  }

  skip() {
    if (this.locked) return;
    clearTimeout(this.timer);
    this.lock("Opening the next document...");
    this.setTriggerValue("skip", this.value());
  }

  lock(message) {
    this.locked = true;
    this.root.classList.add("seqlab-locked");
    this.acceptButton.disabled = this.skipButton.disabled = true;
    this.say(message);
  }

  unlock() {
    this.locked = false;
    this.root.classList.remove("seqlab-locked");
    this.acceptButton.disabled = this.skipButton.disabled = false;
    this.say();
  }

  say(message) {
    if (!this.status) return;
    if (message) {
      this.status.textContent = message;
      return;
    }
    const sel = this.sel;
    if (sel?.kind === "span") {
      this.status.textContent = `${sel.span.label} span selected: a label key relabels it, Delete removes it, `
        + "Shift+←/→ moves its end, Alt+←/→ its start.";
    } else if (sel?.kind === "units") {
      const n = Math.abs(sel.a - sel.f) + 1;
      this.status.textContent = `${n} unit${n > 1 ? "s" : ""} selected: press a label key or click a label.`;
    } else {
      this.status.textContent = `${this.spans.length} span${this.spans.length === 1 ? "" : "s"}. `
        + "Select words with the mouse, or Shift+→ from the keyboard.";
    }
  }

  destroy() {
    clearTimeout(this.timer);
    for (const undo of this.cleanups) undo();
    this.root.remove();
  }
}

export default function (component) {
  const { data, parentElement, setStateValue, setTriggerValue } = component;
  let editor = instances.get(parentElement);
  if (editor && editor.sameAs(data)) {
    editor.refresh(data, setStateValue, setTriggerValue);
  } else {
    editor?.destroy();
    editor = new Editor(parentElement, data, setStateValue, setTriggerValue);
    instances.set(parentElement, editor);
  }
  return () => {
    const current = instances.get(parentElement);
    if (current) {
      current.destroy();
      instances.delete(parentElement);
    }
  };
}
