// The mooring dashboard: plain JS against the engine's API (docs/api.md), no build step, no CDN.
// The token lives in sessionStorage and goes in an Authorization header on every request; the event
// stream is read with fetch (EventSource cannot send a header) and parsed as Server-Sent Events.
"use strict";

const TOKEN_KEY = "mooring.token";
const $ = (sel) => document.querySelector(sel);
const state = { token: sessionStorage.getItem(TOKEN_KEY), session: null, app: null, stream: null, refresh: null, selected: null, poll: null };
const APPS_EVERY_MS = 5000; // the app list has no stream of its own: it is read again while shown

// --- API ---------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.hint = body && body.hint;
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const reply = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await reply.text();
  const data = text ? JSON.parse(text) : null;
  if (reply.status === 401) { signOut("Your token was refused: " + ((data && data.message) || "401")); throw new ApiError(401, data); }
  if (!reply.ok) throw new ApiError(reply.status, data);
  return data;
}

// Server-Sent Events over fetch: calls onEvent(frame) for each event; resumes after the last id.
async function follow(app, onEvent, onLive) {
  const controller = new AbortController();
  let last = null;
  let delay = 500;
  const run = async () => {
    while (!controller.signal.aborted) {
      try {
        const qs = last === null ? "" : `?since=${last}`;
        const reply = await fetch(`/v1/apps/${encodeURIComponent(app)}/events${qs}`, {
          headers: { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" },
          signal: controller.signal,
        });
        if (reply.status === 401) { signOut("Your token was refused"); return; }
        if (!reply.ok || !reply.body) throw new Error(`HTTP ${reply.status}`);
        onLive(true);
        delay = 500;
        const reader = reply.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const frame = parseFrame(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (frame) { last = frame.id; onEvent(frame); }
          }
        }
      } catch (err) {
        if (controller.signal.aborted) return;
      }
      onLive(false);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10000);
    }
  };
  run();
  return controller;
}

function parseFrame(text) {
  const frame = { id: null, event: "message", data: "" };
  for (const line of text.split("\n")) {
    if (line.startsWith(":")) continue; // keepalive comment
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
    if (field === "id") frame.id = Number(value);
    else if (field === "event") frame.event = value;
    else if (field === "data") frame.data += value;
  }
  if (frame.id === null) return null;
  frame.data = frame.data ? JSON.parse(frame.data) : {};
  return frame;
}

// --- helpers -----------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");
function took(r) {
  if (!r.finished_at) return r.status === "in_progress" ? "running" : "–";
  const s = (new Date(r.finished_at) - new Date(r.started_at || r.created_at)) / 1000;
  return s < 90 ? `${s.toFixed(1)}s` : `${Math.round(s / 60)}m`;
}
function uptime(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 90) return `${Math.round(seconds)}s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)}m`;
  return `${Math.round(seconds / 3600)}h`;
}
function show(view) {
  for (const id of ["login-view", "apps-view", "app-view"]) $("#" + id).hidden = id !== view;
}
const canWrite = () => state.session && (state.session.scope === "write" || state.session.scope === "admin");

// --- sign in -----------------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.session = null;
  stopStream();
  $("#who").textContent = "";
  $("#logout").hidden = true;
  $("#engine-info").textContent = "";
  show("login-view");
  $("#login-error").textContent = message || "";
}

async function signIn(token) {
  state.token = token;
  try {
    state.session = await api("GET", "/v1/session");
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) signOut(err.message);
    return false;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  const engine = await api("GET", "/v1/engine");
  $("#engine-info").textContent = `engine ${engine.version} · pid ${engine.pid}`;
  $("#who").textContent = `${state.session.name || "local"} (${state.session.scope})`;
  $("#logout").hidden = false;
  return true;
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const token = $("#token").value.trim();
  if (!token) { $("#login-error").textContent = "Paste a token first."; return; }
  $("#login-error").textContent = "";
  if (await signIn(token)) { $("#token").value = ""; route(); }
});
$("#logout").addEventListener("click", () => { signOut(""); location.hash = "#/"; });

// --- apps --------------------------------------------------------------------------------------

async function showApps() {
  stopStream();
  show("apps-view");
  state.poll = setTimeout(() => { if (!location.hash.startsWith("#/app/")) showApps().catch(() => {}); }, APPS_EVERY_MS);
  const apps = await api("GET", "/v1/apps");
  const body = $("#apps-table tbody");
  body.replaceChildren(...apps.map((a) => {
    const r = a.current_release;
    return el("tr", { "data-app": a.app },
      el("td", {}, el("a", { href: `#/app/${encodeURIComponent(a.app)}`, class: "app-link", "data-app": a.app }, a.app)),
      el("td", {}, r ? `#${r.number} ${r.id}` : "–"),
      el("td", {}, r ? el("span", { class: `status ${r.status}` }, r.status) : "–"),
      el("td", {}, r ? el("span", { class: `pill ${r.rollout.state}` }, r.rollout.state) : "–"),
      el("td", {}, `${a.instances.healthy}/${a.instances.total} healthy`),
      el("td", { class: "muted" }, when(a.updated_at)));
  }));
  $("#apps-empty").hidden = apps.length > 0;
}

// --- one app -----------------------------------------------------------------------------------

function stopStream() {
  if (state.stream) state.stream.abort();
  state.stream = null;
  clearTimeout(state.refresh);
  clearTimeout(state.poll);
}

async function showApp(app) {
  if (state.app !== app || !state.stream) {
    stopStream();
    state.app = app;
    state.selected = null;
    $("#events").replaceChildren();
    $("#timeline-card").hidden = true;
    $("#app-name").textContent = app;
    state.stream = await follow(app, onEvent, setLive);
  }
  show("app-view");
  $("#controls").hidden = !canWrite();
  await refreshApp();
}

function setLive(live) {
  const pill = $("#live");
  pill.textContent = live ? "● live" : "○ reconnecting";
  pill.className = "pill " + (live ? "live" : "muted");
}

function onEvent(frame) {
  const e = frame.data;
  const list = $("#events");
  const detail = [e.batch ? `batch ${e.batch}` : null, e.target || e.service || e.cron, e.status || e.message].filter(Boolean).join(" · ");
  list.prepend(el("li", { "data-type": frame.event },
    el("span", { class: "seq" }, frame.id),
    el("span", { class: "type" }, frame.event),
    el("span", { class: "muted" }, String(detail))));
  while (list.children.length > 60) list.lastChild.remove();
  // Apply a target's change at once; the full views follow a moment later (events come in bursts).
  if (e.target && e.state) paintTarget(e.target, e.state, e.reason);
  clearTimeout(state.refresh);
  state.refresh = setTimeout(() => refreshApp().catch(() => {}), 150);
}

async function refreshApp() {
  const app = state.app;
  let status;
  try {
    status = await api("GET", `/v1/apps/${encodeURIComponent(app)}/status`);
  } catch (err) {
    if (err.status === 404) { renderRelease(null); return; }
    throw err;
  }
  if (app !== state.app) return;
  renderRelease(status.current_release);
  renderInstances(status.instances);
  await Promise.all([renderHistory(app), renderExplain(app, status.current_release)]);
}

function renderRelease(r) {
  $("#release-number").textContent = r ? `#${r.number} ${r.id}` : "no release";
  const st = $("#release-status");
  st.textContent = r ? r.status : "";
  st.className = `status ${r ? r.status : ""}`;
  const rs = $("#rollout-state");
  rs.textContent = r ? r.rollout.state : "";
  rs.className = `pill ${r ? r.rollout.state : ""}`;
  const cs = $("#control-state");
  cs.textContent = r ? r.rollout.control : "";
  cs.className = `pill ${r && r.rollout.control !== "active" ? r.rollout.control : "muted"}`;
  $("#release-message").textContent = r ? r.message : "";
  const open = r && (r.status === "pending" || r.status === "in_progress");
  $("#btn-pause").disabled = !open || r.rollout.control !== "active";
  $("#btn-resume").disabled = !open || r.rollout.control !== "paused";
  $("#btn-cancel").disabled = !open;
  $("#btn-rollback").disabled = !r;
  if (!r) { $("#batches").replaceChildren(); $("#counts").textContent = ""; return; }
  const c = r.rollout.targets;
  $("#counts").textContent = `${c.ready} ready · ${c.failed} failed · ${c.left} left · ${c.unchanged} unchanged · ${c.removed} removed (of ${c.total})`;
  const batches = new Map();
  for (const t of r.targets) {
    const key = t.action === "remove" ? "remove" : t.batch;
    if (!batches.has(key)) batches.set(key, []);
    batches.get(key).push(t);
  }
  const rows = [...batches.entries()].sort((a, b) => (a[0] === "remove") - (b[0] === "remove") || a[0] - b[0]);
  $("#batches").replaceChildren(...rows.map(([batch, targets]) =>
    el("div", { class: "batch", "data-batch": batch },
      el("span", { class: "label" }, batch === "remove" ? "removed after cutover" : batch === 0 ? "unchanged" : `batch ${batch} · ${targets[0].service}`),
      targets.map((t) => el("span", {
        class: `target state-${t.state}`, id: `target-${t.target}`, "data-state": t.state, title: t.detail || t.action,
      }, el("span", { class: "name" }, t.target), el("span", { class: "why" }, t.reason ? `${t.state}: ${t.reason}` : `${t.state} · ${t.action}`))))));
}

function paintTarget(name, stateName, reason) {
  const node = document.getElementById(`target-${name}`);
  if (!node) return;
  node.className = `target state-${stateName}`;
  node.dataset.state = stateName;
  node.querySelector(".why").textContent = reason ? `${stateName}: ${reason}` : stateName;
}

function renderInstances(instances) {
  $("#instances tbody").replaceChildren(...instances.map((i) => el("tr", { "data-instance": i.id },
    el("td", {}, `${i.service}-${i.replica}`, el("div", { class: "muted" }, i.id)),
    el("td", {}, i.state),
    el("td", {}, i.health ? el("span", { class: `pill health-${i.health}` }, i.health) : "–"),
    el("td", {}, i.restarts),
    el("td", {}, uptime(i.uptime)),
    el("td", { class: "muted" }, i.release_id))));
}

async function renderHistory(app) {
  const releases = await api("GET", `/v1/apps/${encodeURIComponent(app)}/releases?limit=20`);
  $("#history tbody").replaceChildren(...releases.map((r) => el("tr", { "data-release": r.id, class: r.id === state.selected ? "selected" : null },
    el("td", {}, r.number),
    el("td", {}, r.id, r.current ? el("span", { class: "pill" }, "current") : null, r.previous_successful ? el("span", { class: "pill" }, "previous ok") : null),
    el("td", {}, r.trigger === "rollback" ? `rollback of ${r.source_release_id}` : r.trigger),
    el("td", {}, el("span", { class: `status ${r.status}` }, r.status)),
    el("td", {}, `${r.rollout.targets.ready}/${r.rollout.targets.total} ready`),
    el("td", { class: "muted" }, when(r.created_at)),
    el("td", {}, took(r)),
    el("td", {}, el("button", { class: "timeline-btn", onclick: () => showTimeline(r.id) }, "timeline")))));
}

async function showTimeline(releaseId) {
  state.selected = releaseId;
  const events = await api("GET", `/v1/releases/${releaseId}/events`);
  $("#timeline-release").textContent = releaseId;
  const start = events.length ? new Date(events[0].at) : null;
  $("#timeline").replaceChildren(...events.map((e) => el("li", { "data-type": e.type },
    el("span", { class: "seq" }, `+${((new Date(e.at) - start) / 1000).toFixed(2)}s`),
    el("span", { class: "type" }, e.type),
    el("span", { class: "muted" }, [e.batch ? `batch ${e.batch}` : null, e.target || e.service, e.state, e.reason, e.message].filter(Boolean).join(" · ")))));
  $("#timeline-card").hidden = false;
  for (const row of document.querySelectorAll("#history tbody tr")) row.classList.toggle("selected", row.dataset.release === releaseId);
}

async function renderExplain(app, r) {
  const card = $("#explain-card");
  const waiting = r && (r.rollout.control !== "active" || ["blocked", "degraded", "failed"].includes(r.rollout.state) || ["failed", "partially_failed"].includes(r.status));
  if (!waiting) { card.hidden = true; return; }
  let x;
  try { x = await api("GET", `/v1/apps/${encodeURIComponent(app)}/explain`); } catch (err) { card.hidden = true; return; }
  const parts = [];
  if (x.gate) parts.push(el("div", { class: "explain-gate" }, el("b", {}, `${x.gate.kind} gate`), x.gate.batch ? ` (batch ${x.gate.batch}${x.gate.service ? ", " + x.gate.service : ""})` : "", ": ", x.gate.detail));
  for (const t of x.targets) {
    parts.push(el("div", {}, el("b", {}, t.target), ` ${t.state}`, t.reason ? ` (${t.reason})` : "", t.detail ? `: ${t.detail}` : "",
      t.probe && t.probe.detail ? el("div", { class: "muted" }, `last probe: ${t.probe.detail}`) : null,
      t.logs && t.logs.length ? el("pre", { class: "logs" }, t.logs.join("\n")) : null));
  }
  if (x.next.length) parts.push(el("div", { class: "explain-next" }, el("h3", {}, "Next"), x.next.map((n) => el("code", {}, n))));
  $("#explain").replaceChildren(...parts);
  card.hidden = false;
}

for (const button of document.querySelectorAll("#controls button")) {
  button.addEventListener("click", async () => {
    const action = button.dataset.action;
    $("#control-error").textContent = "";
    button.disabled = true;
    try {
      if (action === "rollback") await api("POST", `/v1/apps/${encodeURIComponent(state.app)}/rollback`, {});
      else await api("POST", `/v1/apps/${encodeURIComponent(state.app)}/rollout/${action}`);
    } catch (err) {
      $("#control-error").textContent = `${action}: ${err.message}${err.hint ? " — " + err.hint : ""}`;
    }
    await refreshApp().catch(() => {});
  });
}

// --- routing -----------------------------------------------------------------------------------

async function route() {
  if (!state.token || !state.session) {
    if (state.token && (await signIn(state.token))) return route();
    show("login-view");
    return;
  }
  const match = location.hash.match(/^#\/app\/([^/]+)/);
  try {
    if (match) await showApp(decodeURIComponent(match[1]));
    else await showApps();
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) console.error(err);
  }
}

window.addEventListener("hashchange", route);
route();
