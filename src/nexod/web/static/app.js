// Nexod dashboard: the few things a server-rendered page cannot do by itself.
// Talks to the JSON API with the session cookie. Never builds HTML from data: every value is
// set with textContent, so graph state and names are always shown as text.
"use strict";

const STREAM_MODES = ["values", "updates", "messages-tuple", "custom"];

// --- helpers ---------------------------------------------------------------------------------

function $(sel, root) { return (root || document).querySelector(sel); }
function $$(sel, root) { return Array.from((root || document).querySelectorAll(sel)); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k === "href") node.setAttribute("href", v);
    else node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function show(node, text, kind) {
  if (!node) return;
  node.textContent = text;
  node.hidden = !text;
  node.classList.toggle("problem", kind === "problem");
  node.classList.toggle("ok", kind === "ok");
}

function flash(text, kind) { show($("#flash"), text, kind || "problem"); }

// A fetch to our API: {ok, status, data}; data is the decoded JSON (or null).
async function api(method, path, body, headers) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...(headers || {}) } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    return { ok: false, status: 0, data: { detail: "the server could not be reached (" + err.message + ")" } };
  }
  const text = await resp.text();
  let data = null;
  if (text.trim()) {
    try { data = JSON.parse(text); } catch (_) { data = { detail: text.slice(0, 300) }; }
  }
  return { ok: resp.ok, status: resp.status, data };
}

// The API's explanation of a refusal, as one sentence for the page.
function problemOf(r) {
  const d = r.data && (r.data.detail || r.data.message);
  const detail = typeof d === "string" ? d : d ? JSON.stringify(d) : "HTTP " + r.status;
  if (r.status === 401) return "Not signed in: " + detail;
  if (r.status === 403) return "Not allowed: " + detail;
  if (r.status === 404) return "Not found: " + detail;
  return detail + (r.status ? " (HTTP " + r.status + ")" : "");
}

function parseObject(text, what) {
  const src = (text || "").trim();
  if (!src) return {};
  let value;
  try { value = JSON.parse(src); } catch (err) { throw new Error(what + " is not valid JSON: " + err.message); }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error(what + " must be a JSON object, like {\"key\": \"value\"}");
  return value;
}

// A random UUID (v4) that also works outside secure contexts.
function uuid4() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function setBadge(container, status) {
  if (!container) return;
  container.replaceChildren(el("span", { class: "badge s-" + status }, status));
}

function preview(value, max) {
  const s = typeof value === "string" ? value : JSON.stringify(value);
  return s.length > max ? s.slice(0, max) + "…" : s;
}

// --- sign in / out -----------------------------------------------------------------------------

function initSignin() {
  const form = $("#signin-form");
  if (form) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const cred = form.credential.value.trim();
      if (!cred) return show($("#signin-error"), "Paste an API key first.", "problem");
      const r = await api("POST", "/auth/sessions", undefined, { Authorization: "Bearer " + cred });
      if (!r.ok) return show($("#signin-error"), problemOf(r), "problem");
      form.credential.value = "";
      window.location.assign(form.dataset.next || "/ui/");
    });
  }
  const clerk = $("#signin-clerk");
  if (clerk) {
    clerk.addEventListener("submit", async (e) => {
      e.preventDefault();
      const r = await api("POST", "/auth/sessions");
      if (!r.ok) return show($("#signin-error"), problemOf(r), "problem");
      window.location.assign(clerk.dataset.next || "/ui/");
    });
  }
  const out = $("#signout");
  if (out) {
    out.addEventListener("click", async () => {
      const r = await api("DELETE", "/auth/sessions");
      if (!r.ok) return flash(problemOf(r));
      window.location.assign("/ui/signin");
    });
  }
}

// --- start a run -------------------------------------------------------------------------------

async function showCrewInputs(form) {
  const opt = form.assistant.selectedOptions[0];
  const crew = opt && opt.dataset.crew;
  $("#crew-inputs").hidden = !crew;
  $("#json-input").hidden = !!crew;
  const box = $("#crew-fields");
  box.replaceChildren();
  if (!crew) return;
  const r = await api("GET", "/crews/" + encodeURIComponent(crew) + "/inputs");
  if (!r.ok) return show($("#start-error"), problemOf(r), "problem");
  for (const name of r.data.inputs || []) {
    const id = "crew-in-" + name;
    box.append(el("label", { for: id }, "{" + name + "}"), el("input", { id, name: "crew:" + name, required: "" }));
  }
  if (!(r.data.inputs || []).length) box.append(el("p", { class: "hint" }, "This crew needs no inputs."));
}

function initStart() {
  const form = $("#start-form");
  if (!form) return;
  form.assistant.addEventListener("change", () => showCrewInputs(form));
  showCrewInputs(form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const err = $("#start-error");
    show(err, "");
    const opt = form.assistant.selectedOptions[0];
    let input, config;
    try {
      if (opt && opt.dataset.crew) {
        const inputs = {};
        for (const f of $$("#crew-fields input")) inputs[f.name.slice(5)] = f.value;
        input = { inputs };
      } else {
        input = parseObject(form.input.value, "Input");
      }
      config = parseObject(form.config.value, "Config");
    } catch (ex) {
      return show(err, ex.message, "problem");
    }
    const threadId = uuid4();
    const body = { assistant_id: form.assistant.value, input, if_not_exists: "create", stream_mode: STREAM_MODES };
    if (Object.keys(config).length) body.config = config;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const r = await api("POST", "/threads/" + threadId + "/runs", body);
    button.disabled = false;
    if (!r.ok) return show(err, problemOf(r), "problem");
    window.location.assign("/ui/threads/" + r.data.thread_id + "/runs/" + r.data.run_id);
  });
}

// --- inbox -------------------------------------------------------------------------------------

function initInbox() {
  const by = document.body.dataset.subject || "dashboard";
  for (const form of $$("form.answer")) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const out = $(".result", form);
      const action = e.submitter ? e.submitter.value : "approve";
      const kind = form.dataset.kind;
      let resume;
      try {
        if (action === "json") {
          const src = form.json.value.trim();
          if (!src) throw new Error("Write the answer as JSON first, e.g. {\"approved\": true}");
          try { resume = JSON.parse(src); } catch (ex) { throw new Error("The answer is not valid JSON: " + ex.message); }
        } else if (kind === "budget") {
          const more = Number(form.allow.value);
          if (action === "allow" && !(more > 0)) throw new Error("Allow a positive amount, or stop the run.");
          resume = action === "allow" ? { allow: more } : { stop: true };
        } else {
          const feedback = form.feedback.value.trim();
          if (kind === "human_input" && action === "reject" && !feedback) throw new Error("Say what to change: feedback is required to reject a crew task.");
          resume = { approved: action === "approve", by };
          if (feedback) resume.feedback = feedback;
        }
      } catch (ex) {
        return show(out, ex.message, "problem");
      }
      for (const b of $$("button", form)) b.disabled = true;
      const r = await api("POST", "/threads/" + form.dataset.threadId + "/runs", {
        assistant_id: form.dataset.assistantId, command: { resume }, stream_mode: STREAM_MODES,
      });
      for (const b of $$("button", form)) b.disabled = false;
      if (!r.ok) return show(out, problemOf(r), "problem");
      show(out, "Answer sent: run " + r.data.run_id + " resumes the thread…", "ok");
      window.location.assign("/ui/threads/" + r.data.thread_id + "/runs/" + r.data.run_id);
    });
  }
}

// --- a run's live events -----------------------------------------------------------------------

function messageText(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((c) => (typeof c === "string" ? c : c && c.text) || "").join("");
  return "";
}

class RunView {
  constructor(section) {
    this.section = section;
    this.tid = section.dataset.threadId;
    this.rid = section.dataset.runId;
    this.events = $("#events");
    this.tokens = $("#tokens");
    this.state = $("#stream-state");
    this.lastId = "-1";
    this.count = 0;
    this.messages = new Map();
  }

  token(id, text, replace) {
    $("#tokens-box").hidden = false;
    let span = this.messages.get(id);
    if (!span) {
      span = el("p", { class: "message" });
      this.messages.set(id, span);
      this.tokens.append(span);
    }
    span.textContent = replace ? text : span.textContent + text;
  }

  add(name, data) {
    this.count += 1;
    this.state.textContent = "live · " + this.count + " events";
    const base = name.split("|")[0];
    if (base === "messages") { // messages-tuple: [chunk, metadata]
      const chunk = Array.isArray(data) ? data[0] : null;
      if (chunk) this.token(chunk.id || "m", messageText(chunk.content), false);
      return;
    }
    if (base === "messages/partial" || base === "messages/complete") {
      for (const m of Array.isArray(data) ? data : []) this.token(m.id || "m", messageText(m.content), true);
      return;
    }
    let summary;
    if (base === "updates" && data && typeof data === "object") summary = "nodes: " + Object.keys(data).join(", ");
    else summary = preview(data, 400);
    const item = el("li", { class: "ev ev-" + base.replace(/[^a-z]/g, "") }, el("strong", {}, name), " ", el("code", {}, summary));
    this.events.append(item);
    if (this.events.children.length > 500) this.events.firstElementChild.remove();
    if (base === "values") $("#result").textContent = JSON.stringify(data, null, 2);
    if (base === "error") flash("The run failed: " + preview(data, 300));
  }

  block(text) {
    let name = "message", id = null;
    const data = [];
    for (const line of text.split("\n")) {
      if (line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
    if (!data.length) return;
    if (id !== null) this.lastId = id;
    let parsed;
    try { parsed = JSON.parse(data.join("\n")); } catch (_) { parsed = data.join("\n"); }
    this.add(name, parsed);
  }

  async follow() {
    for (let attempt = 0; attempt < 20; attempt += 1) {
      let resp;
      try {
        resp = await fetch(`/threads/${this.tid}/runs/${this.rid}/stream`, {
          credentials: "same-origin", headers: { Accept: "text/event-stream", "Last-Event-ID": this.lastId },
        });
      } catch (_) {
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (!resp.ok) {
        const text = await resp.text();
        let data = null;
        try { data = JSON.parse(text); } catch (_) { data = { detail: text }; }
        this.state.textContent = "";
        return flash(problemOf({ status: resp.status, data }));
      }
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value.replace(/\r\n/g, "\n");
          let cut;
          while ((cut = buf.indexOf("\n\n")) >= 0) {
            this.block(buf.slice(0, cut));
            buf = buf.slice(cut + 2);
          }
        }
      } catch (_) {
        this.state.textContent = "reconnecting…";
        await new Promise((r) => setTimeout(r, 500));
        continue; // resumes after the last event seen (Last-Event-ID)
      }
      return this.finish();
    }
    this.state.textContent = "the stream kept dropping; reload the page";
  }

  async finish() {
    this.state.textContent = "ended · " + this.count + " events";
    const base = `/threads/${this.tid}/runs/${this.rid}`;
    const [run, out] = await Promise.all([api("GET", base), api("GET", base + "/join")]);
    if (run.ok) {
      setBadge($("#run-status"), run.data.status);
      this.section.dataset.status = run.data.status;
      const cancel = $("#cancel-run");
      if (cancel) cancel.hidden = true;
    }
    if (out.ok) {
      $("#result").textContent = JSON.stringify(out.data, null, 2);
      $("#waiting-note").hidden = !(out.data && out.data.__interrupt__ && out.data.__interrupt__.length);
    } else {
      flash(problemOf(out));
    }
    this.section.classList.add("ended");
  }
}

function initRun() {
  const section = $("#live");
  if (!section) return;
  const view = new RunView(section);
  view.follow();
  const cancel = $("#cancel-run");
  if (cancel) {
    cancel.addEventListener("click", async () => {
      const r = await api("POST", `/threads/${view.tid}/runs/${view.rid}/cancel`);
      if (!r.ok) flash(problemOf(r));
    });
  }
}

// --- knowledge ---------------------------------------------------------------------------------

function initKnowledge() {
  const upload = $("#upload-form");
  if (!upload) return;
  upload.addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $(".result", upload);
    if (!upload.file.files.length) return show(out, "Choose a file to upload.", "problem");
    const data = new FormData(upload);
    for (const k of ["namespace", "title"]) if (!String(data.get(k) || "").trim()) data.delete(k);
    show(out, "Uploading and indexing…", "ok");
    const r = await api("POST", "/knowledge/documents", data);
    if (!r.ok) return show(out, problemOf(r), "problem");
    show(out, `Indexed "${r.data.title || r.data.source}": ${r.data.status}, ${r.data.chunk_count} chunks.`, "ok");
    setTimeout(() => window.location.reload(), 800);
  });
  for (const b of $$(".delete-doc")) {
    b.addEventListener("click", async () => {
      if (!window.confirm(`Delete "${b.dataset.name}" and its chunks?`)) return;
      const r = await api("DELETE", "/knowledge/documents/" + encodeURIComponent(b.dataset.docId));
      if (!r.ok) return flash(problemOf(r));
      b.closest("tr").remove();
    });
  }
  const search = $("#search-form");
  search.addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $(".result", search);
    const hits = $("#hits");
    hits.replaceChildren();
    const k = Number(search.k.value) || 5;
    const r = await api("POST", "/knowledge/search", {
      query: search.query.value, namespace: search.namespace.value.trim() || "default", mode: search.mode.value, k,
    });
    if (!r.ok) return show(out, problemOf(r), "problem");
    show(out, r.data.hits.length ? "" : "No hits.", "ok");
    for (const h of r.data.hits) {
      const where = ["chunk " + h.chunk_index, "chars " + h.char_start + "–" + h.char_end];
      if (h.page !== null && h.page !== undefined) where.push("page " + h.page);
      if (h.section) where.push("§ " + h.section);
      hits.append(el("li", { class: "hit" },
        el("div", { class: "cite" }, el("strong", {}, h.title || h.source), " · ", where.join(", "),
          " · score ", Number(h.score).toFixed(4)),
        el("div", { class: "hint" }, h.source),
        el("blockquote", {}, preview(h.text, 600))));
    }
  });
}

// --- overview: keep the run counts and tables current ---------------------------------------

// Every few seconds while the tab is visible, fetch the page again and swap in its
// server-rendered (escaped) sections; DOMParser runs no script. Stops when the session ends.
const OVERVIEW_REFRESH_MS = 3000;
const OVERVIEW_PARTS = ["#run-counts", "#in-flight", "#recent-runs"];

function initOverview() {
  if (document.body.dataset.page !== "overview" || !$("#run-counts")) return;
  const timer = setInterval(async () => {
    if (document.hidden) return;
    let resp;
    try {
      resp = await fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } });
    } catch (err) {
      return; // the server is restarting: try again next time
    }
    if (!resp.ok || resp.redirected) { clearInterval(timer); return; }
    const fresh = new DOMParser().parseFromString(await resp.text(), "text/html");
    for (const sel of OVERVIEW_PARTS) {
      const now = $(sel), next = $(sel, fresh);
      if (now && next) now.replaceChildren(...Array.from(next.childNodes, (n) => document.importNode(n, true)));
    }
  }, OVERVIEW_REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  initOverview();
  initSignin();
  initStart();
  initInbox();
  initRun();
  initKnowledge();
});
