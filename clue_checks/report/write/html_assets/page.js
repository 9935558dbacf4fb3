/* The CLUE report page: filters, sorts and pages the sample table, and builds one sample's drill-down when it
   is opened. Model output is untrusted input: every piece of data reaches the screen through textContent,
   never as markup. */
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("clue-data").textContent);
  const rows = data.rows;
  const PAGE_SIZE = 100;
  const DIFF_LIMIT = 4e6; // word pairs compared for the highlighted differences (2,000 x 2,000 words)
  const DASH = "\u2014";
  const $ = (id) => document.getElementById(id);
  const kindInfo = new Map(data.kinds.map((k) => [k.name, k.definition]));
  const state = { task: "", outcome: "", kind: "", text: "", sort: "", desc: false, page: 0 };
  let shown = rows.map((_, i) => i);
  let haystacks = null; // lower-cased searchable text per row, built on the first text search
  let openRow = -1;

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  const num = (v) => (typeof v === "number" ? v.toFixed(3) : DASH);
  const show = (v) => (v === null || v === undefined || v === "" ? DASH : String(v));

  function addOption(select, value, label, title) {
    const option = el("option", label);
    option.value = value;
    if (title) option.title = title;
    select.appendChild(option);
  }

  // -- filters ----------------------------------------------------------------------------------
  data.tasks.forEach((t) => addOption($("f-task"), t.name, t.title));
  data.kinds.forEach((k) => addOption($("f-kind"), k.name, k.name, k.definition));
  const metricNames = new Set();
  rows.forEach((r) => Object.keys(r.metrics).forEach((m) => metricNames.add(m)));
  [...metricNames].sort().forEach((m) => addOption($("f-sort"), m, m));

  function matches(r, i) {
    if (state.task && r.task !== state.task) return false;
    if (state.outcome && r.outcome !== state.outcome) return false;
    if (state.kind === "-" && r.kinds && r.kinds.length) return false;
    if (state.kind && state.kind !== "-" && !(r.kinds || []).includes(state.kind)) return false;
    return !state.text || haystacks[i].includes(state.text);
  }

  function valueOf(r) {
    const name = state.sort || data.headline[r.task];
    const v = name ? r.metrics[name] : undefined;
    return typeof v === "number" ? v : null;
  }

  function applyFilters() {
    if (state.text && !haystacks) {
      haystacks = rows.map((r) => [r.task, r.id, r.response, r.reference, r.reason, r.parsed,
        (r.kinds || []).join(" ")].join("\n").toLowerCase());
    }
    shown = [];
    rows.forEach((r, i) => { if (matches(r, i)) shown.push(i); });
    if (state.sort) {
      const sign = state.desc ? -1 : 1;
      shown.sort((a, b) => {
        const x = valueOf(rows[a]), y = valueOf(rows[b]);
        if (x === null || y === null) return (x === null) - (y === null) || a - b; // no value: always last
        return sign * (x - y) || a - b;
      });
    }
    state.page = 0;
    render();
  }

  function bind(id, key, read, event = "change") { // selects and boxes: change; the text box: every keystroke
    $(id).addEventListener(event, (e) => { state[key] = read(e.target); applyFilters(); });
  }
  bind("f-task", "task", (t) => t.value);
  bind("f-outcome", "outcome", (t) => t.value);
  bind("f-kind", "kind", (t) => t.value);
  bind("f-text", "text", (t) => t.value.trim().toLowerCase(), "input");
  bind("f-sort", "sort", (t) => t.value);
  bind("f-desc", "desc", (t) => t.checked);
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  $("prev").addEventListener("click", () => { state.page -= 1; render(); });
  $("next").addEventListener("click", () => { state.page += 1; render(); });

  // -- the table --------------------------------------------------------------------------------
  function kindTags(kinds) {
    const cell = el("td");
    if (kinds === null) { cell.textContent = DASH; return cell; }
    kinds.forEach((k) => { const tag = el("span", k, "kind-tag"); tag.title = kindInfo.get(k) || ""; cell.appendChild(tag); });
    return cell;
  }

  function render() {
    const pages = Math.max(1, Math.ceil(shown.length / PAGE_SIZE));
    state.page = Math.min(Math.max(state.page, 0), pages - 1);
    const body = $("rows");
    body.replaceChildren();
    for (const i of shown.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE)) {
      const r = rows[i];
      const tr = el("tr");
      tr.dataset.index = String(i);
      if (i === openRow) tr.className = "open";
      tr.append(el("td", r.task), el("td", r.id, "id"), el("td", show(r.outcome), "outcome-" + r.outcome),
        kindTags(r.kinds), el("td", num(valueOf(r)), "num"));
      const reason = r.reason || "";
      tr.appendChild(el("td", reason.length > 140 ? reason.slice(0, 139) + "\u2026" : reason, "reason"));
      tr.addEventListener("click", () => openSample(i));
      body.appendChild(tr);
    }
    $("value-head").textContent = state.sort || "headline metric";
    $("count").textContent = shown.length + " of " + rows.length + " samples";
    $("page").textContent = "page " + (state.page + 1) + " of " + pages;
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
  }

  // -- the drill-down ---------------------------------------------------------------------------
  function words(text) { return (text || "").split(/(\s+)/); }
  const norm = (w) => w.toLowerCase().replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "");

  /* Which words of a and of b are in their longest common subsequence (word level, case and surrounding
     punctuation ignored). Returns null when the texts are too long to compare here. */
  function commonWords(a, b) {
    const x = a.filter((t, k) => k % 2 === 0).map(norm), y = b.filter((t, k) => k % 2 === 0).map(norm);
    const n = x.length, m = y.length;
    if (n * m > DIFF_LIMIT) return null;
    const table = new Uint32Array((n + 1) * (m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        table[i * (m + 1) + j] = x[i] === y[j] ? table[(i + 1) * (m + 1) + j + 1] + 1
          : Math.max(table[(i + 1) * (m + 1) + j], table[i * (m + 1) + j + 1]);
      }
    }
    const inX = new Uint8Array(n), inY = new Uint8Array(m);
    for (let i = 0, j = 0; i < n && j < m;) {
      if (x[i] === y[j]) { inX[i++] = 1; inY[j++] = 1; }
      else if (table[(i + 1) * (m + 1) + j] >= table[i * (m + 1) + j + 1]) i++;
      else j++;
    }
    return [inX, inY];
  }

  function marked(tokens, common, cls) {
    const pre = el("pre", null, "text");
    tokens.forEach((t, k) => {
      if (k % 2 === 1 || !t) { pre.appendChild(document.createTextNode(t)); return; }
      if (common[k / 2] || !norm(t)) pre.appendChild(document.createTextNode(t));
      else pre.appendChild(el("mark", t, cls));
    });
    return pre;
  }

  function textBlock(title, text) {
    const box = el("div");
    box.append(el("h4", title), el("pre", show(text), "text"));
    return box;
  }

  function facts(pairs) {
    const dl = el("dl");
    pairs.forEach(([k, v]) => { dl.append(el("dt", k), el("dd", show(v))); });
    return dl;
  }

  function differences(r) {
    const box = el("div");
    box.appendChild(el("h4", "Reference and response"));
    const a = words(r.reference), b = words(r.response);
    const common = r.reference === null || r.response === null ? null : commonWords(a, b);
    if (common === null) {
      box.appendChild(el("p", r.reference === null || r.response === null ? "Nothing to compare."
        : "Too long to compare word by word here.", "muted"));
      const plain = el("div", null, "side-by-side");
      plain.append(el("pre", show(r.reference), "text"), el("pre", show(r.response), "text"));
      box.appendChild(plain);
      return box;
    }
    const legend = el("p", null, "legend");
    legend.append(el("mark", "reference words missing from the response", "miss"), " ",
      el("mark", "response words not in the reference", "extra"));
    const pair = el("div", null, "side-by-side");
    pair.append(marked(a, common[0], "miss"), marked(b, common[1], "extra"));
    box.append(legend, pair);
    return box;
  }

  function metricsTable(r) {
    const table = el("table");
    const head = el("tr");
    head.append(el("th", "metric"), el("th", "value", "num"));
    if (r.baseline) head.appendChild(el("th", "baseline", "num"));
    table.appendChild(head);
    Object.keys(r.metrics).forEach((m) => {
      const tr = el("tr");
      tr.append(el("td", m), el("td", r.metrics[m] === null ? "not computed" + (r.not_computed[m] ? ": " + r.not_computed[m] : "")
        : num(r.metrics[m]), "num"));
      if (r.baseline) tr.appendChild(el("td", num(r.baseline.metrics[m]), "num"));
      table.appendChild(tr);
    });
    return table;
  }

  function openSample(i) {
    const r = rows[i];
    openRow = i;
    document.querySelectorAll("#rows tr.open").forEach((tr) => tr.classList.remove("open"));
    const tr = document.querySelector('#rows tr[data-index="' + i + '"]');
    if (tr) tr.classList.add("open");
    const detail = $("detail");
    detail.replaceChildren();
    detail.appendChild(el("h3", r.task + ":" + r.id));
    const kinds = r.kinds === null ? null : r.kinds.length ? r.kinds.map((k) => k + " (" + (kindInfo.get(k) || "?") + ")").join("; ") : "none";
    detail.appendChild(facts([["outcome", r.outcome], ["kinds", kinds], ["reason", r.reason],
      ["parsed answer", r.parsed], ["finish reason", r.finish_reason],
      ["tokens in / out", show(r.tokens_in) + " / " + show(r.tokens_out)],
      ["latency", typeof r.latency_s === "number" ? r.latency_s.toFixed(2) + " s" : null],
      ["from", r.source], ["cluster", r.cluster], ["test id", r.node_id]]));
    detail.appendChild(el("h4", "Metrics"));
    detail.appendChild(metricsTable(r));
    detail.appendChild(differences(r));
    if (r.baseline) {
      const pair = el("div", null, "side-by-side");
      pair.append(textBlock("Baseline response (" + show(r.baseline.outcome) + ")", r.baseline.response),
        textBlock("This run's response (" + show(r.outcome) + ")", r.response));
      detail.appendChild(pair);
    }
    const prompt = el("details");
    prompt.append(el("summary", "Prompt" + (r.prompt_chars ? " (" + r.prompt_chars.toLocaleString("en") + " characters)" : "")),
      el("pre", r.prompt === null ? DASH : (data.prompt_start[r.task] || "") + r.prompt, "text"));
    detail.appendChild(prompt);
  }

  function openById(task, id) {
    const i = rows.findIndex((r) => r.task === task && r.id === id);
    if (i < 0) return false;
    openSample(i);
    $("detail").scrollIntoView({ block: "nearest" });
    return true;
  }

  // -- broke / fixed against the baseline ---------------------------------------------------------
  const brokeFixed = $("broke-fixed");
  if (brokeFixed) {
    Object.keys(data.comparison).forEach((task) => {
      ["broke", "fixed"].forEach((which) => {
        const ids = data.comparison[task][which];
        if (!ids.length) return;
        const p = el("p");
        p.appendChild(el("strong", task + ": " + which + " (" + ids.length + ") "));
        ids.slice(0, 100).forEach((id) => {
          const button = el("button", id);
          button.type = "button";
          button.addEventListener("click", () => openById(task, id));
          p.appendChild(button);
        });
        if (ids.length > 100) p.appendChild(el("span", "\u2026 and " + (ids.length - 100) + " more", "muted"));
        brokeFixed.appendChild(p);
      });
    });
  }

  render();
  if (location.hash.startsWith("#sample=")) { // index.html#sample=task:id opens that sample
    try {
      const wanted = decodeURIComponent(location.hash.slice("#sample=".length));
      openById(wanted.slice(0, wanted.indexOf(":")), wanted.slice(wanted.indexOf(":") + 1));
    } catch (e) { /* a malformed link opens the page without a sample */ }
  }
  window.clueReady = performance.now(); // the page is interactive: the browser test reads it
})();
