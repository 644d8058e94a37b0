// The console's few interactions. The token lives in an HTTP-only cookie; these calls send it by being same-origin.
"use strict";
const $ = (sel) => document.querySelector(sel);

async function call(path, { method = "POST", body, raw } = {}) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (raw !== undefined) {
    init.body = raw;
    init.headers["Content-Type"] = "application/octet-stream";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const reply = await fetch("/console/api" + path, init);
  const data = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Error((data.error && data.error.message) || reply.statusText);
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
}

function selected(select) {
  return select ? Array.from(select.selectedOptions).map((o) => o.value) : [];
}

function on(sel, event, handler) {
  const node = $(sel);
  if (node) node.addEventListener(event, handler);
}

// --- login / logout -------------------------------------------------------------------------------------
on("#login-form", "submit", async (e) => {
  e.preventDefault();
  try {
    await call("/login", { body: { token: $("#token").value } });
    location.href = "/console/";
  } catch (err) {
    $("#login-error").hidden = false;
    $("#login-error").textContent = err.message;
  }
});
on("#logout", "click", async () => {
  await call("/logout");
  location.href = "/console/login";
});

// --- chat -----------------------------------------------------------------------------------------------
let responseId = null;

on("#ask-form", "submit", async (e) => {
  e.preventDefault();
  $("#ask-status").textContent = "waiting for the answer…";
  $("#ask").disabled = true;
  try {
    const body = { question: $("#question").value, mode: $("#mode").value, knowledge_bases: selected($("#kbs")), user_id: "console" };
    await stream("/ask", body, {
      accepted: (ids) => startAnswer(ids.response_id),
      delta: (d) => $("#answer-text").append(d.text),
      response: (status) => showAnswer(status.response),
      error: (err) => { throw new Error(err.message); },
    });
    $("#ask-status").textContent = "";
  } catch (err) {
    $("#ask-status").textContent = err.message;
  } finally {
    $("#ask").disabled = false;
  }
});

// Server-sent events from a POST (EventSource only does GET): each "event:"/"data:" block goes to its handler.
async function stream(path, body, handlers) {
  const reply = await fetch("/console/api" + path, {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!reply.ok) {
    const data = await reply.json().catch(() => ({}));
    throw new Error((data.error && data.error.message) || reply.statusText);
  }
  const reader = reply.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data && handlers[name]) handlers[name](JSON.parse(data));
    }
  }
}

function startAnswer(id) {
  responseId = id;
  $("#answer").hidden = false;
  $("#answer-text").textContent = "";
  for (const sel of ["#strategy", "#adapter", "#latency"]) $(sel).textContent = "…";
  $("#response-id").textContent = id;
  $("#citations").replaceChildren();
  $("#curated").hidden = true;
  $("#feedback-status").textContent = "";
  $("#ask-status").textContent = "answering…";
}

function showAnswer(r) {
  responseId = r.response_id;
  $("#answer").hidden = false;
  $("#answer-text").textContent = r.error ? "error: " + r.error : r.answer;
  $("#strategy").textContent = r.strategy || r.mode;
  $("#adapter").textContent = r.adapter_version || "base model";
  $("#latency").textContent = Math.round(r.latency_ms) + " ms";
  $("#response-id").textContent = r.response_id;
  const box = $("#citations");
  box.replaceChildren();
  if (r.citations.length) box.append(el("h3", {}, "Sources"));
  for (const c of r.citations) {
    const link = el("a", { href: `/console/knowledge/${encodeURIComponent(c.knowledge_base)}/chunks/${encodeURIComponent(c.chunk_id)}` }, c.title || c.document_id);
    const score = c.score == null ? "" : ` · score ${c.score.toFixed(3)}`;
    box.append(el("blockquote", { class: "citation" }, el("div", { class: "meta" }, link, ` · ${c.knowledge_base}${score}`), c.quote));
  }
  $("#curated").hidden = true;
  $("#feedback-status").textContent = "";
}

async function sendFeedback(extra) {
  if (!responseId) return;
  const body = { response_id: responseId, user_id: "console", ...extra };
  const rating = $("#rating").value;
  const correction = $("#correction").value.trim();
  const source = $("#source-doc").value.trim();
  if (rating) body.rating = Number(rating);
  if (correction) body.correction = correction;
  if (source) body.source_document_ids = [source];
  try {
    await call("/feedback", { body });
    $("#feedback-status").textContent = "feedback sent; waiting for the curator…";
    watchCuration(responseId);
  } catch (err) {
    $("#feedback-status").textContent = err.message;
  }
}

document.querySelectorAll(".thumb").forEach((b) => b.addEventListener("click", () => sendFeedback({ thumbs: b.dataset.thumbs })));
on("#send-feedback", "click", () => sendFeedback({}));

async function watchCuration(id) {
  for (let i = 0; i < 120 && id === responseId; i++) {
    const found = await call(`/curated?response_id=${id}`, { method: "GET" }).catch(() => []);
    if (found.length) return showCurated(found[0]);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function showCurated(result) {
  const box = $("#curated");
  box.hidden = false;
  box.replaceChildren();
  const ex = result.instruction;
  if (ex) {
    const kind = !ex.accepted ? "rejected pair" : ex.rejected_output ? "corrected" : "accepted";
    box.append(el("b", {}, `curated: ${kind}`), ` — target “${ex.output}”`);
    if (result.raft) box.append(el("div", { class: "muted" }, `RAFT example with ${result.raft.documents.length} documents`));
  } else {
    box.append(el("b", {}, `curated: ${result.outcome}`), ` — ${result.reason || (result.rejection && result.rejection.reason) || ""}`);
  }
  const pii = Object.entries(result.pii_counts || {});
  if (pii.length) box.append(el("div", { class: "muted" }, "PII removed: " + pii.map(([k, v]) => `${k} ${v}`).join(", ")));
  $("#feedback-status").textContent = "";
}

// --- knowledge bases --------------------------------------------------------------------------------------
on("#upload-form", "submit", async (e) => {
  e.preventDefault();
  const file = $("#upload-file").files[0];
  const kb = $("#upload-kb").value;
  try {
    await call(`/knowledge/${encodeURIComponent(kb)}/upload?filename=${encodeURIComponent(file.name)}`, { raw: await file.arrayBuffer() });
    $("#upload-status").textContent = `${file.name} sent to ${kb}; the indexer is storing it`;
  } catch (err) {
    $("#upload-status").textContent = err.message;
  }
});

on("#search-form", "submit", async (e) => {
  e.preventDefault();
  const params = new URLSearchParams({ q: $("#search-q").value, mode: $("#search-mode").value, alpha: $("#search-alpha").value, top_k: $("#search-k").value });
  for (const kb of selected($("#search-kbs"))) params.append("kb", kb);
  const table = $("#search-results");
  try {
    const hits = await call("/knowledge/search?" + params, { method: "GET" });
    const body = table.querySelector("tbody");
    body.replaceChildren();
    hits.forEach((h, i) => {
      const link = el("a", { href: `/console/knowledge/${encodeURIComponent(h.chunk.knowledge_base)}/chunks/${encodeURIComponent(h.chunk.chunk_id)}` }, h.chunk.title || h.chunk.document_id);
      body.append(el("tr", {}, el("td", {}, String(i + 1)), el("td", { class: "num" }, h.score.toFixed(3)), el("td", {}, h.chunk.knowledge_base), el("td", {}, link), el("td", {}, h.chunk.text.slice(0, 240))));
    });
    table.hidden = false;
    $("#search-status").textContent = `${hits.length} hits (${params.get("mode")}, alpha ${params.get("alpha")})`;
  } catch (err) {
    $("#search-status").textContent = err.message;
  }
});

// --- datasets ---------------------------------------------------------------------------------------------
on("#snapshot", "click", async () => {
  try {
    const m = await call("/datasets/snapshot");
    location.href = `/console/datasets?version=${m.version}`;
  } catch (err) {
    $("#snapshot-status").textContent = err.message;
  }
});

// --- adapters: every change asks first ----------------------------------------------------------------------
async function adapterAction(question, path, body) {
  if (!confirm(question)) return;
  try {
    const event = await call(path, { body });
    $("#adapter-status").textContent = `${event.action} ${event.version} published to serving`;
    setTimeout(() => location.reload(), 800);
  } catch (err) {
    $("#adapter-status").textContent = err.message;
  }
}

document.querySelectorAll("button.promote").forEach((b) =>
  b.addEventListener("click", () => adapterAction(`Promote ${b.dataset.version} for every user of tenant ${$("#tenant").textContent}?`, `/adapters/${b.dataset.version}/promote`)),
);
document.querySelectorAll("button.canary").forEach((b) =>
  b.addEventListener("click", () => {
    const share = Number(b.parentElement.querySelector("input.share").value);
    adapterAction(`Send ${Math.round(share * 100)}% of users to ${b.dataset.version}?`, `/adapters/${b.dataset.version}/canary`, { share });
  }),
);
on("#rollback", "click", () => adapterAction("Roll back to the previously promoted adapter?", "/adapters/rollback"));
