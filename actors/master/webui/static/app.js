// Agora's UI: everything it shows comes from the master's push stream
// (GET /events/state: "state" snapshots, and "history": the last hour of
// cluster totals and the timeline, then their changes). Tasks are read
// (GET /tasks) when a snapshot shows their counts changed; a selected
// task's sandbox and output come through the master (GET
// /tasks/ID/files, and GET /tasks/ID/log/FILE, a stream of its own).
// Nothing here polls.
"use strict";

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const num = (v) => Number(v ?? 0);
const round = (v) => +num(v).toFixed(2);
const fmt = (rs) => (rs || []).filter((r) => r.scalar || (r.ranges || []).length)
  .map((r) => r.name + ":" + (r.scalar ? round(r.scalar) : "[" + r.ranges.map((x) => x.begin + "-" + x.end).join(",") + "]") + (r.revocable ? "(rev)" : "")).join(";") || "-";
const scalar = (rs, name) => (rs || []).filter((r) => r.name === name).reduce((s, r) => s + num(r.scalar), 0);
const rows = (table, html) => { $(table).querySelector("tbody").innerHTML = html.join(""); };
const ago = (nanos, now) => num(nanos) ? Math.max(0, Math.round((now - num(nanos)) / 1e9)) + "s ago" : "-";
const clock = (nanos) => new Date(num(nanos) / 1e6).toLocaleTimeString();
const RESOURCES = ["cpus", "mem", "disk", "gpus"];

let lastTaskKey = null, taskTimer = null, snapshot = null, tasks = [];
// The cluster's totals: the capacity dominant shares are taken against.
let capacity = {};

// dominant is DRF's dominant share: the largest fraction of the cluster's
// capacity of any resource that rs holds.
const dominant = (rs) => {
  let best = 0, which = "";
  for (const r of rs || []) {
    const cap = capacity[r.name];
    if (cap && num(r.scalar) / cap > best) { best = num(r.scalar) / cap; which = r.name; }
  }
  return best ? (100 * best).toFixed(1) + "% " + which : "-";
};

function render(st) {
  snapshot = st;
  const now = num(st.snapshot_unix_nano);
  const m = st.master || {};
  $("master").textContent = `master ${m.id} epoch ${m.epoch}${st.leading ? "" : " (standby)"}`;
  $("live").textContent = "updated " + clock(now);
  const agents = st.agents || [], frameworks = st.frameworks || [];

  capacity = {};
  for (const a of agents.filter((a) => a.reachable)) for (const r of a.info.resources || []) capacity[r.name] = (capacity[r.name] || 0) + num(r.scalar);
  rows("overview", RESOURCES.map((n) => {
    const cap = capacity[n];
    if (!cap) return "";
    const used = agents.reduce((s, a) => s + scalar(a.used, n), 0);
    const off = frameworks.reduce((s, f) => s + scalar(f.offered, n), 0);
    const rev = (st.role_usage || []).reduce((s, u) => s + scalar(u.revocable_used, n), 0);
    const pu = Math.min(100, 100 * used / cap), po = Math.min(100 - pu, 100 * off / cap);
    return `<tr><td>${n}</td><td>${round(cap)}</td><td>${round(used)}</td><td>${round(off)}</td><td>${round(rev)}</td>` +
      `<td><span class="bar"><span class="used" style="width:${pu}%"></span><span class="offered" style="left:${pu}%;width:${po}%"></span></span></td></tr>`;
  }));

  // byState writes a count of tasks by state as RUNNING:2 STAGING:1.
  const byState = (counts) => Object.entries(counts || {}).sort().map(([s, n]) => s.replace("TASK_", "") + ":" + n).join(" ") || "-";
  $("agent-count").textContent = `(${agents.filter((a) => a.reachable).length} reachable of ${agents.length})`;
  rows("agents", agents.map((a) => `<tr data-agent="${esc(a.info.id.value)}"><td>${esc(a.info.id.value)}</td><td>${esc(a.info.hostname)}</td>` +
    `<td class="${a.reachable ? "" : "bad"}">${a.reachable ? "reachable" : "UNREACHABLE"}</td>` +
    `<td>${a.drain && a.drain.state && a.drain.state !== "DRAIN_STATE_UNSPECIFIED" ? esc(a.drain.state) +
      (a.drain.state === "DRAINING" ? " until " + clock(a.drain.deadline_unix_nano) : "") : "-"}</td>` +
    `<td>${esc(byState(a.tasks))}</td>` +
    `<td>${scalar(a.info.resources, "cpus")} (${round(scalar(a.used, "cpus"))})</td><td>${scalar(a.info.resources, "mem")} (${scalar(a.used, "mem")})</td>` +
    `<td>${esc((a.info.attributes || []).map((x) => x.name + ":" + (x.text ?? x.scalar)).join(";") || "-")}</td><td>${ago(a.last_seen_unix_nano, now)}</td></tr>`));

  $("framework-count").textContent = `(${frameworks.length})`;
  rows("frameworks", frameworks.map((f) => {
    const tasks = byState(f.tasks);
    const p = f.pending || {};
    // A framework that declined for an hour filters every agent: the
    // snapshot counts them per role and names only the soonest few.
    const fl = p.filters || [];
    const fs = p.filter_summaries || [];
    const total = fs.reduce((n, x) => n + num(x.agents), 0);
    const filters = fl.slice(0, 5).map((x) => `${esc(x.agent_id)}${x.role ? " (" + esc(x.role) + ")" : ""} until ${clock(x.until_unix_nano)}`).join("<br>") +
      (total > 5 ? `<br><span class="muted">… ${total} agents in all (${fs.map((x) => esc(x.role || "*") + ":" + num(x.agents) +
        " until " + clock(x.latest_until_unix_nano)).join(", ")})</span>` : "") || "-";
    const state = f.tearing_down ? "tearing down" : f.connected ? "connected" : "DISCONNECTED";
    // Declines by the reason the framework gave (a Mesos framework gives
    // none: "unspecified"), highest count first as the master orders them.
    const declines = (p.declines || []).map((d) => `${num(d.offers)} ${esc(d.reason)}`).join("<br>") || "-";
    // A stated demand larger than every agent waits for a larger agent:
    // say so under the framework's row, where it cannot be missed.
    const u = p.demand_unfit;
    const unfit = u && (u.unfit || []).length ? `<tr class="unfit" data-unfit="${esc(f.info.id.value)}"><td></td><td colspan="11">` +
      `fits no agent: ${esc(u.unfit.map((q) => fmt(q.resources)).join(" and "))} (the most any of the cluster's ${num(u.agents)} agents has: ` +
      `${esc(fmt(u.largest))}); it waits until a larger agent registers</td></tr>` : "";
    return `<tr data-framework="${esc(f.info.id.value)}"><td>${esc(f.info.id.value)}</td><td>${esc(f.info.name)}</td><td>${esc((f.info.roles || []).join(","))}</td>` +
      `<td class="${f.connected ? "" : "bad"}">${state}</td><td>${esc(tasks)}</td><td>${fmt(f.used)}</td><td>${dominant(f.used)}</td>` +
      `<td>${fmt(f.offered)} (${num(f.outstanding_offers)})</td><td>${num(p.offers_received)} / ${num(p.offers_declined)}` +
      `${num(p.last_offer_unix_nano) ? `<br><span class="muted">last ${ago(p.last_offer_unix_nano, now)}</span>` : ""}</td>` +
      `<td class="declines">${declines}</td><td>${filters}</td><td>${esc((p.suppressed_roles || []).join(",")) || "-"}</td></tr>` + unfit;
  }));

  rows("roles", (st.role_usage || []).map((u) => `<tr><td>${esc(u.role)}</td><td>${num(u.weight) || 1}</td><td>${fmt(u.guarantee)}</td><td>${fmt(u.limit)}</td>` +
    `<td>${fmt(u.used)}</td><td>${fmt(u.offered)}</td><td>${dominant(u.used)}</td><td>${num(u.tasks)}</td>` +
    `<td>${num(u.preemptions)}${num(u.preempting) ? ` (${num(u.preempting)} stopping)` : ""}</td></tr>`));

  drawCharts();
  // Tasks change when a framework's counts do: read them then.
  const key = JSON.stringify(frameworks.map((f) => [f.info.id.value, f.tasks]));
  if (key !== lastTaskKey && !taskTimer) {
    const first = lastTaskKey === null;
    lastTaskKey = key;
    taskTimer = setTimeout(() => { taskTimer = null; loadTasks(); }, first ? 0 : 200);
  }
}

async function loadTasks() {
  try {
    const resp = await fetch("/tasks?limit=200");
    if (!resp.ok) throw new Error("tasks: " + resp.status + " " + (await resp.text()));
    tasks = (await resp.json()).tasks || [];
    const now = num(snapshot?.snapshot_unix_nano);
    rows("tasks", tasks.map((t) => `<tr data-task="${esc(t.task_id.value)}" data-framework="${esc(t.framework_id.value)}"` +
      `${selected && selected.id === t.task_id.value && selected.fw === t.framework_id.value ? ' class="selected"' : ""}>` +
      `<td>${esc(t.task_id.value)}</td><td>${esc(t.framework_id.value)}</td>` +
      `<td>${esc(t.agent_id?.value)}</td><td class="state">${esc(t.state)}</td><td>${fmt(t.resources)}</td>` +
      `<td>${ago(t.latest_status?.timestamp_unix_nano, now)}</td><td>${esc(t.latest_status?.message)}</td></tr>`));
    if (selected) showStatuses();
  } catch (e) {
    $("error").textContent = String(e);
  }
}

// The selected task: its history, sandbox and live output.
let selected = null, logStream = null, logFile = "stdout";
const LOG_KEEP = 256 << 10; // characters of output the page keeps

$("tasks").addEventListener("click", (ev) => {
  const tr = ev.target.closest("tr[data-task]");
  if (!tr) return;
  for (const r of $("tasks").querySelectorAll("tr.selected")) r.classList.remove("selected");
  tr.classList.add("selected");
  selectTask(tr.dataset.task, tr.dataset.framework);
});
for (const file of ["stdout", "stderr"]) {
  $("log-" + file).addEventListener("click", () => { logFile = file; if (selected) openLog(); });
}

function selectTask(id, fw) {
  selected = { id, fw };
  $("task-detail").hidden = false;
  $("task-title").textContent = `Task ${id}`;
  showStatuses();
  loadFiles();
  openLog();
}

const taskURL = (what) => `/tasks/${encodeURIComponent(selected.id)}/${what}?framework=${encodeURIComponent(selected.fw)}`;

function showStatuses() {
  const t = tasks.find((t) => t.task_id.value === selected.id && t.framework_id.value === selected.fw);
  if (!t) return;
  const agent = (snapshot?.agents || []).find((a) => a.info.id.value === t.agent_id?.value);
  $("task-agent").textContent = agent ? `${agent.info.hostname} (${agent.info.id.value})` : t.agent_id?.value || "-";
  rows("task-statuses", (t.statuses || [t.latest_status]).filter(Boolean).map((s) => `<tr><td>${clock(s.timestamp_unix_nano)}</td><td>${esc(s.state)}</td>` +
    `<td>${s.reason && s.reason !== "REASON_UNSPECIFIED" ? esc(s.reason) : ""}</td><td>${esc(s.message) || (s.exit_code !== undefined ? "exit " + s.exit_code : "")}</td></tr>`));
}

async function loadFiles() {
  const want = selected;
  try {
    const resp = await fetch(taskURL("files"));
    if (want !== selected) return;
    if (!resp.ok) { rows("task-files", [`<tr><td colspan="4" class="muted">${esc(await resp.text())}</td></tr>`]); return; }
    const list = await resp.json();
    rows("task-files", (list.files || []).map((f) => `<tr><td>${esc(f.name)}</td><td>${num(f.size)}</td><td>${esc(f.mode)}</td><td>${clock(f.modified_unix_nano)}</td></tr>`)
      .concat(list.truncated ? ['<tr><td colspan="4" class="muted">… more files</td></tr>'] : []));
  } catch (e) {
    $("error").textContent = String(e);
  }
}

function openLog() {
  if (logStream) logStream.close();
  for (const f of ["stdout", "stderr"]) $("log-" + f).classList.toggle("on", f === logFile);
  const log = $("log");
  log.textContent = "";
  $("log-state").textContent = "following…";
  const stream = logStream = new EventSource(taskURL("log/" + logFile));
  const append = (text) => {
    const follow = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.textContent = (log.textContent + text).slice(-LOG_KEEP);
    if (follow) log.scrollTop = log.scrollHeight;
  };
  stream.addEventListener("output", (ev) => append(JSON.parse(ev.data).data));
  stream.addEventListener("skipped", (ev) => append(`\n… ${JSON.parse(ev.data).bytes} bytes skipped …\n`));
  stream.addEventListener("end", (ev) => { stream.close(); $("log-state").textContent = "task ended: " + JSON.parse(ev.data); });
  stream.addEventListener("failure", (ev) => { stream.close(); $("log-state").textContent = JSON.parse(ev.data); });
  stream.onerror = () => { if (stream.readyState === EventSource.CLOSED) $("log-state").textContent = "output unavailable (see the task's files)"; };
}

// The history: points of cluster totals (one per step, the newest of a
// step replaced as it changes) and the timeline of events.
let points = [], events = [];
const HOUR = 3600e9;

function addHistory(h) {
  for (const p of h.points || []) {
    if (points.length && points[points.length - 1].unix_nano === p.unix_nano) points[points.length - 1] = p;
    else points.push(p);
  }
  const newest = points.length ? num(points[points.length - 1].unix_nano) : 0;
  points = points.filter((p) => num(p.unix_nano) > newest - HOUR);
  events = events.concat(h.events || []).slice(-500);
  $("timeline").innerHTML = events.slice().reverse().map((e) => `<li data-kind="${esc(e.kind)}"><time>${clock(e.unix_nano)}</time>` +
    `<span class="k">${esc(e.kind.replaceAll("_", " ").toLowerCase())}</span>${esc(e.text)}</li>`).join("");
  drawCharts();
}

// drawCharts draws, per resource, the last hour of capacity, used, offered
// and revocable as step lines (a value holds until the next point).
function drawCharts() {
  if (!points.length) return;
  const end = Math.max(num(snapshot?.snapshot_unix_nano), num(points[points.length - 1].unix_nano));
  // The hour, or what this master has seen of it (at least a minute), so
  // that a young cluster's lines span the chart.
  const start = Math.max(end - HOUR, Math.min(num(points[0].unix_nano), end - 60e9));
  const span = end - start;
  const W = 330, H = 110, pad = 4;
  const names = RESOURCES.filter((n) => points.some((p) => scalar(p.capacity, n)));
  $("charts").innerHTML = names.map((n) => {
    const max = Math.max(...points.map((p) => Math.max(scalar(p.capacity, n), scalar(p.used, n) + scalar(p.offered, n)))) || 1;
    const x = (t) => pad + (W - 2 * pad) * Math.max(0, num(t) - start) / span;
    const y = (v) => H - pad - (H - 2 * pad) * v / max;
    const line = (series) => {
      let d = "";
      points.forEach((p, i) => {
        const v = scalar(p[series], n), next = i + 1 < points.length ? points[i + 1].unix_nano : end;
        d += `${i ? "L" : "M"}${x(p.unix_nano).toFixed(1)},${y(v).toFixed(1)}H${x(next).toFixed(1)}`;
      });
      return d;
    };
    const last = points[points.length - 1];
    const used = line("used");
    return `<div class="chart" data-resource="${n}"><div class="title"><span>${n}, last ${span >= HOUR ? "hour" : Math.round(span / 60e9) + " min"}</span><span class="muted">` +
      `${round(scalar(last.used, n))} used of ${round(scalar(last.capacity, n))}</span></div>` +
      `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none">` +
      `<path class="used-area" d="${used}V${y(0)}H${x(points[0].unix_nano)}Z" fill="#3b6fd8" fill-opacity=".15" stroke="none"/>` +
      `<path class="capacity" d="${line("capacity")}" fill="none" stroke="#1d2433" stroke-width="1.5"/>` +
      `<path class="offered" d="${line("offered")}" fill="none" stroke="#9db8ef" stroke-width="1.5"/>` +
      `<path class="revocable" d="${line("revocable")}" fill="none" stroke="#e08a1e" stroke-width="1.5" stroke-dasharray="3 2"/>` +
      `<path class="used" d="${used}" fill="none" stroke="#3b6fd8" stroke-width="1.5"/></svg></div>`;
  }).join("");
}

const stream = new EventSource("/events/state");
stream.addEventListener("state", (ev) => { $("error").textContent = ""; render(JSON.parse(ev.data)); });
stream.addEventListener("history", (ev) => addHistory(JSON.parse(ev.data)));
stream.onopen = () => { points = []; events = []; }; // a reconnect sends the whole history again
stream.onerror = () => {
  $("error").textContent = "stream interrupted; reconnecting…";
  // A master that no longer leads (it stepped down, or came back after a
  // failover) answers the stream with a 307 to the leader, which a stream
  // does not follow to another origin: it closes. The page itself is
  // redirected: reload it, on whichever master leads now.
  if (stream.readyState === EventSource.CLOSED) {
    $("error").textContent = "this master no longer leads; reloading…";
    setTimeout(() => location.reload(), 2000);
  }
};
