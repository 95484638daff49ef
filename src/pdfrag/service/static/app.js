// pdfrag search page: plain DOM, every piece of text set with textContent
// (never innerHTML), so nothing from the index can inject markup.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "pdfrag-api-key";
const STOP = new Set(("a an and are as at be by for from has have how in is it its of on or that the to was were what " +
  "when where which who why will with do does did can this these those").split(" "));

function apiKey() { return sessionStorage.getItem(KEY_STORE) || ""; }

async function api(path, options = {}) {
  const headers = Object.assign({ "Accept": "application/json" }, options.headers || {});
  const key = apiKey();
  if (key) headers["X-API-Key"] = key;
  const res = await fetch(path, Object.assign({}, options, { headers }));
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (res.status === 401) $("key-row").hidden = false;
  return { status: res.status, ok: res.ok, body };
}

function errorText(r) {
  if (r.body && typeof r.body.error === "string") {
    let text = r.body.error;
    if (Array.isArray(r.body.details) && r.body.details.length) {
      text += ": " + r.body.details.map((d) => `${(d.loc || []).slice(1).join(".")} ${d.msg}`).join("; ");
    }
    return text;
  }
  return `HTTP ${r.status}`;
}

function showError(text) {
  const el = $("error");
  el.textContent = text || "";
  el.hidden = !text;
}

// Terms to highlight: words of three or more letters (not stop words),
// numbers, and for Chinese (no spaces) each run of Han characters and its
// two-character pieces.
function queryTerms(q) {
  const out = new Set();
  for (const raw of q.toLowerCase().split(/[\s\p{P}\p{S}]+/u)) {
    if (!raw) continue;
    for (const m of raw.matchAll(/(\p{Script=Han}+)|([^\p{Script=Han}]+)/gu)) {
      if (m[1]) {
        const run = m[1];
        out.add(run);
        for (let i = 0; i + 2 <= run.length; i++) out.add(run.slice(i, i + 2));
      } else if ((m[2].length >= 3 && !STOP.has(m[2])) || /^\d+$/.test(m[2])) {
        out.add(m[2]);
      }
    }
  }
  return [...out];
}

function isWordChar(ch) { return !!ch && /[\p{L}\p{N}]/u.test(ch) && !/\p{Script=Han}/u.test(ch); }

// A fragment of text nodes and <mark> elements: the text is never parsed.
function highlighted(text, terms) {
  const frag = document.createDocumentFragment();
  const lower = text.toLowerCase();
  if (lower.length !== text.length || !terms.length) {
    frag.append(document.createTextNode(text));
    return frag;
  }
  const mask = new Uint8Array(text.length);
  for (const t of terms) {
    const latin = !/\p{Script=Han}/u.test(t);
    let i = lower.indexOf(t);
    while (i !== -1) {
      if (!latin || !isWordChar(lower[i - 1])) mask.fill(1, i, i + t.length);
      i = lower.indexOf(t, i + 1);
    }
  }
  let i = 0;
  while (i < text.length) {
    let j = i;
    while (j < text.length && mask[j] === mask[i]) j++;
    const piece = text.slice(i, j);
    if (mask[i]) {
      const m = document.createElement("mark");
      m.textContent = piece;
      frag.append(m);
    } else {
      frag.append(document.createTextNode(piece));
    }
    i = j;
  }
  return frag;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function pages(r) { return r.page_start === r.page_end ? `p. ${r.page_start}` : `pp. ${r.page_start}–${r.page_end}`; }

function render(data, terms) {
  const list = $("results");
  list.replaceChildren();
  const mode = data.mode === "hybrid" ? "hybrid (BM25 + dense)" : "dense";
  $("summary").textContent = data.results.length
    ? `${data.results.length} result${data.results.length === 1 ? "" : "s"} · ${mode} · ${Math.round(data.timings.total_ms)} ms`
    : "No results.";
  const warnings = data.warnings || [];
  $("warnings").textContent = warnings.join(" ");
  $("warnings").hidden = !warnings.length;
  for (const r of data.results) {
    const li = el("li", "result");
    li.dataset.docId = r.doc_id;
    const head = el("div", "head");
    head.append(el("span", "rank", `${r.rank}.`), el("span", "file", r.file_name), el("span", "pages", pages(r)),
      el("span", "score", `score ${r.score.toFixed(4)}`));
    li.append(head);
    if (r.heading_path && r.heading_path.length) li.append(el("div", "headings", r.heading_path.join(" › ")));
    const text = el("p", "text");
    text.append(highlighted(r.text.replace(/\s+/g, " ").trim(), terms));
    li.append(text, el("div", "source", r.source));
    list.append(li);
  }
}

async function search(ev) {
  if (ev) ev.preventDefault();
  const q = $("q").value.trim();
  if (!q) return;
  const body = { query: q, top_k: Number($("k").value), group_by_document: $("group").checked, filters: {} };
  if ($("doc").value) body.filters.doc_id = $("doc").value;
  $("go").disabled = true;
  showError("");
  $("summary").textContent = "Searching…";
  try {
    const r = await api("/search", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (!r.ok) {
      $("summary").textContent = "";
      $("results").replaceChildren();
      showError(errorText(r));
      return;
    }
    render(r.body, queryTerms(q));
  } catch (e) {
    $("summary").textContent = "";
    showError(`The service did not answer: ${e}`);
  } finally {
    $("go").disabled = false;
  }
}

async function loadDocuments() {
  const r = await api("/documents?limit=1000");
  if (!r.ok) return;
  const select = $("doc");
  const chosen = select.value;
  select.replaceChildren(new Option("All documents", ""));
  const names = {};
  for (const d of r.body.documents) names[d.file_name] = (names[d.file_name] || 0) + 1;
  const seen = new Set();
  for (const d of r.body.documents) {
    if (seen.has(d.doc_id)) continue;  // the same bytes under two names
    seen.add(d.doc_id);
    const label = names[d.file_name] > 1 ? `${d.file_name} (${d.source})` : d.file_name;
    select.append(new Option(`${label} · ${d.chunks} chunks`, d.doc_id));
  }
  select.value = chosen;
}

async function loadStatus() {
  const s = $("status");
  try {
    const r = await api("/ready");
    if (r.body && r.status === 200) {
      s.className = "status ok";
      s.textContent = `ready · ${r.body.hybrid ? "hybrid search (BM25 + dense)" : "dense search"} · model ${r.body.model}`;
    } else if (r.body && Array.isArray(r.body.reasons)) {
      s.className = "status bad";
      s.textContent = `not ready: ${r.body.reasons.join("; ")}`;
    } else {
      s.className = "status bad";
      s.textContent = errorText(r);
    }
  } catch (e) {
    s.className = "status bad";
    s.textContent = "the service did not answer";
  }
}

function init() {
  $("search-form").addEventListener("submit", search);
  $("key").value = apiKey();
  $("key-save").addEventListener("click", () => {
    sessionStorage.setItem(KEY_STORE, $("key").value.trim());
    $("key-row").hidden = true;
    loadStatus();
    loadDocuments();
  });
  loadStatus();
  loadDocuments();
}

document.addEventListener("DOMContentLoaded", init);
