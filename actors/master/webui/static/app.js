// Agora's UI: everything it shows comes from the master's push stream of
// state snapshots; tasks are read (GET /tasks) when a snapshot shows their
// counts changed, at most once a second. Nothing here polls.
"use strict";

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const num = (v) => Number(v ?? 0);
const fmt = (rs) => (rs || []).filter((r) => r.scalar || (r.ranges || []).length)
  .map((r) => r.name + ":" + (r.scalar ? +num(r.scalar).toFixed(2) : "[" + r.ranges.map((x) => x.begin + "-" + x.end).join(",") + "]")).join(";") || "-";
const scalar = (rs, name) => (rs || []).filter((r) => r.name === name).reduce((s, r) => s + num(r.scalar), 0);
const rows = (table, html) => { $(table).querySelector("tbody").innerHTML = html.join(""); };
const ago = (nanos, now) => nanos ? Math.round((now - num(nanos)) / 1e9) + "s ago" : "-";

let lastTaskKey = null, taskTimer = null;

function render(st) {
  const now = num(st.snapshot_unix_nano);
  const m = st.master || {};
  $("master").textContent = `master ${m.id} epoch ${m.epoch}${st.leading ? "" : " (standby)"}`;
  $("live").textContent = "updated " + new Date(now / 1e6).toLocaleTimeString();
  const agents = st.agents || [], frameworks = st.frameworks || [];

  const names = ["cpus", "mem", "disk", "gpus"];
  rows("overview", names.map((n) => {
    const cap = agents.filter((a) => a.reachable).reduce((s, a) => s + scalar(a.info.resources, n), 0);
    if (!cap) return "";
    const used = agents.reduce((s, a) => s + scalar(a.used, n), 0);
    const off = frameworks.reduce((s, f) => s + scalar(f.offered, n), 0);
    const pu = Math.min(100, 100 * used / cap), po = Math.min(100 - pu, 100 * off / cap);
    return `<tr><td>${n}</td><td>${+cap.toFixed(2)}</td><td>${+used.toFixed(2)}</td><td>${+off.toFixed(2)}</td>` +
      `<td><span class="bar"><span class="used" style="width:${pu}%"></span><span class="offered" style="left:${pu}%;width:${po}%"></span></span></td></tr>`;
  }));

  $("agent-count").textContent = `(${agents.filter((a) => a.reachable).length} reachable of ${agents.length})`;
  rows("agents", agents.map((a) => `<tr data-agent="${esc(a.info.id.value)}"><td>${esc(a.info.id.value)}</td><td>${esc(a.info.hostname)}</td>` +
    `<td class="${a.reachable ? "" : "bad"}">${a.reachable ? "reachable" : "UNREACHABLE"}</td>` +
    `<td>${a.drain && a.drain.state && a.drain.state !== "DRAIN_STATE_UNSPECIFIED" ? esc(a.drain.state) +
      (a.drain.state === "DRAINING" ? " until " + new Date(num(a.drain.deadline_unix_nano) / 1e6).toLocaleTimeString() : "") : "-"}</td>` +
    `<td>${scalar(a.info.resources, "cpus")} (${+scalar(a.used, "cpus").toFixed(2)})</td><td>${scalar(a.info.resources, "mem")} (${scalar(a.used, "mem")})</td>` +
    `<td>${esc((a.info.attributes || []).map((x) => x.name + ":" + (x.text ?? x.scalar)).join(";") || "-")}</td><td>${ago(a.last_seen_unix_nano, now)}</td></tr>`));

  $("framework-count").textContent = `(${frameworks.length})`;
  rows("frameworks", frameworks.map((f) => {
    const tasks = Object.entries(f.tasks || {}).sort().map(([s, n]) => s.replace("TASK_", "") + ":" + n).join(" ") || "-";
    const p = f.pending || {};
    const why = `${num(p.offers_received)} offers, ${num(p.offers_declined)} declined` +
      ((p.filters || []).length ? `, ${p.filters.length} filters` : "") + ((p.suppressed_roles || []).length ? `, suppressed ${esc(p.suppressed_roles.join(","))}` : "");
    const state = f.tearing_down ? "tearing down" : f.connected ? "connected" : "DISCONNECTED";
    return `<tr data-framework="${esc(f.info.id.value)}"><td>${esc(f.info.id.value)}</td><td>${esc(f.info.name)}</td><td>${esc((f.info.roles || []).join(","))}</td>` +
      `<td class="${f.connected ? "" : "bad"}">${state}</td><td>${esc(tasks)}</td><td>${fmt(f.used)}</td><td>${fmt(f.offered)}</td><td>${why}</td></tr>`;
  }));

  rows("roles", (st.role_usage || []).map((u) => `<tr><td>${esc(u.role)}</td><td>${num(u.weight) || 1}</td><td>${fmt(u.guarantee)}</td>` +
    `<td>${fmt(u.used)}</td><td>${num(u.tasks)}</td><td>${num(u.preemptions)}</td></tr>`));

  // Tasks change when a framework's counts do: read them then.
  const key = JSON.stringify(frameworks.map((f) => [f.info.id.value, f.tasks]));
  if (key !== lastTaskKey && !taskTimer) {
    lastTaskKey = key;
    taskTimer = setTimeout(() => { taskTimer = null; loadTasks(); }, lastTaskKey === null ? 0 : 200);
  }
}

async function loadTasks() {
  try {
    const resp = await fetch("/tasks?limit=200");
    if (!resp.ok) throw new Error("tasks: " + resp.status + " " + (await resp.text()));
    const list = await resp.json();
    rows("tasks", (list.tasks || []).map((t) => `<tr data-task="${esc(t.task_id.value)}"><td>${esc(t.task_id.value)}</td><td>${esc(t.framework_id.value)}</td>` +
      `<td>${esc(t.agent_id?.value)}</td><td class="state">${esc(t.state)}</td><td>${fmt(t.resources)}</td><td>${esc(t.latest_status?.message)}</td></tr>`));
  } catch (e) {
    $("error").textContent = String(e);
  }
}

const events = new EventSource("/events/state");
events.addEventListener("state", (ev) => { $("error").textContent = ""; render(JSON.parse(ev.data)); });
events.onerror = () => { $("error").textContent = "stream interrupted; reconnecting…"; };
