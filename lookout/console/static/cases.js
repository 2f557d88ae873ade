// The cases page: the outbox's cases with filters (type, camera, zone, grid cell,
// status, dates), and the selected case's evidence, ground position, sightings, status
// and verdict history. Operators record a verdict (docs/CASE_STATUS.md) or release a
// case the second look held (docs/LEARNING.md); the viewer role only looks (its
// buttons are disabled, and the server answers 403 anyway).
"use strict";

const { $, enc, fact } = LO;
const FILTERS = { type: "f-type", camera: "f-camera", zone: "f-zone", grid: "f-grid",
  status: "f-status", from: "f-from", to: "f-to" };
const Cases = { selected: null };

function query() {
  const q = new URLSearchParams();
  for (const [key, id] of Object.entries(FILTERS)) {
    const v = $(id).value.trim();
    if (v) q.set(key, v);
  }
  return q;
}

function reportLink() {
  const q = new URLSearchParams();
  if ($("f-from").value) q.set("from", $("f-from").value);
  if ($("f-to").value) q.set("to", $("f-to").value);
  const s = q.toString();
  $("report-link").href = s ? `/report?${s}` : "/report";
}

function statusBadge(status) {
  return LO.el("span", { class: `status status-${status}`, text: status.replace("_", " ") });
}

// The second look's false-alarm score, shown beside a held case's status.
function scoreText(c) {
  return c.score == null ? "" : ` ${c.score.toFixed(2)}`;
}

// A case about a group (a cluster of bicycles) says how many it counted.
function countText(c, sep) {
  return c.count == null ? "" : `${sep}count ${c.count}`;
}

function caseRow(c) {
  const tr = LO.el("tr", { "data-case": c.id, class: "case-row", tabIndex: 0 });
  tr.append(
    LO.el("td", { text: c.confirmed_at.replace("T", " ") }),
    LO.el("td", { class: "case-type", text: c.type + countText(c, " · ") }),
    LO.el("td", { text: c.camera_id + (c.preset ? ` / ${c.preset}` : "") }),
    LO.el("td", { text: c.zone_id }),
    LO.el("td", { text: c.grid_code || "–" }),
    LO.el("td", { class: "num", text: `${Math.round(c.dwell_s)} s` }),
    LO.el("td", { class: "status-cell" }, statusBadge(c.status),
      c.held ? LO.el("span", { class: "score", text: scoreText(c) }) : ""),
  );
  if (c.id === Cases.selected) tr.classList.add("selected");
  tr.addEventListener("click", () => select(c.id));
  tr.addEventListener("keydown", (e) => { if (e.key === "Enter") select(c.id); });
  return tr;
}

async function loadList() {
  reportLink();
  try {
    const d = await LO.getJSON(`/api/cases?${query()}`);
    const body = $("cases-table").querySelector("tbody");
    body.replaceChildren(...d.cases.map(caseRow));
    let note = `${d.cases.length} case(s), newest first.`;
    if (!d.outbox) note = "No SQLite outbox configured: no cases to review.";
    else if (d.cases.length >= d.limit) note += ` Showing the first ${d.limit}; narrow the filters.`;
    $("cases-note").textContent = note;
    document.body.dataset.loaded = "1";
  } catch (e) {
    $("cases-note").textContent = `Could not load the cases: ${e.message}`;
  }
}

function picture(kind, url) {
  return LO.el("figure", { class: `ev ev-${kind}` },
    LO.el("a", { href: url, target: "_blank", rel: "noopener" },
      LO.el("img", { src: url, alt: `${kind} evidence`, loading: "lazy" })),
    LO.el("figcaption", { text: kind }));
}

function renderDetail(d) {
  const box = $("detail");
  box.hidden = false;
  box.dataset.case = d.id;
  box.dataset.status = d.status;
  box.dataset.version = String(d.version);
  $("d-title").replaceChildren(`${d.type} · ${d.camera_id} · ${d.zone_id} `, statusBadge(d.status));
  const order = ["full", "crop", "before", "after"];
  $("d-evidence").replaceChildren(
    ...order.filter((k) => d.evidence[k]).map((k) => picture(k, d.evidence[k])));
  if (!Object.keys(d.evidence).length) $("d-evidence").append(LO.el("p", { class: "note", text: "No evidence pictures." }));
  const dl = $("d-facts");
  dl.replaceChildren();
  fact(dl, "Case id", d.id, "d-id");
  fact(dl, "Code", `${d.code} ${d.code_name}`);
  fact(dl, "Object", `${d.object_class}, confidence ${d.confidence}${countText(d, ", ")}`, "d-object");
  fact(dl, "Grid cell", d.grid_code ? `${d.grid_code}${d.grid_unit ? ` (${d.grid_unit})` : ""}` : "–");
  fact(dl, "Ground position", d.location
    ? `${d.location.lat.toFixed(7)}, ${d.location.lon.toFixed(7)} (lat, lon)` : "not located (camera not calibrated)", "d-location");
  fact(dl, "First seen", d.first_seen);
  fact(dl, "Case made", d.confirmed_at);
  fact(dl, "Last seen", d.last_seen, "d-last-seen");
  fact(dl, "Dwell at case", LO.age(d.dwell_s));
  if (d.case.support && d.case.support.length) fact(dl, "Support", d.case.support.join(", "));
  fact(dl, "Status", `${d.status} (version ${d.version})`, "d-status");
  if (d.score != null) {
    fact(dl, "Second look", `false-alarm score${scoreText(d)}${d.held ? " (held: not delivered)" : ""}`, "d-score");
  }
  $("v-release").hidden = !d.held;
  $("v-rebase-label").hidden = d.type !== "illegal_construction";
  $("v-rebase").checked = false;
  const rows = d.history.map((u) => LO.el("tr", { "data-version": String(u.version) },
    LO.el("td", { class: "num", text: String(u.version) }),
    LO.el("td", {}, statusBadge(u.status)),
    LO.el("td", { text: u.previous }),
    LO.el("td", { text: u.by }),
    LO.el("td", { text: u.at.replace("T", " ") }),
    LO.el("td", { text: (u.note || "") + (u.rebase ? " [rebase]" : "") })));
  if (!rows.length) rows.push(LO.el("tr", {}, LO.el("td", { colSpan: 6, text: "No verdict yet (draft)." })));
  $("d-history").querySelector("tbody").replaceChildren(...rows);
}

async function select(id) {
  Cases.selected = id;
  for (const tr of document.querySelectorAll("#cases-table tr.case-row")) {
    tr.classList.toggle("selected", tr.dataset.case === id);
  }
  $("v-result").textContent = "";
  try {
    renderDetail(await LO.getJSON(`/api/cases/${enc(id)}`));
  } catch (e) {
    $("v-result").textContent = `Could not load the case: ${e.message}`;
  }
}

async function decide(verdict, btn) {
  const id = Cases.selected;
  if (!id) return;
  for (const b of document.querySelectorAll("button.verdict")) b.disabled = true;
  const body = { verdict, note: $("v-note").value, rebase: $("v-rebase").checked };
  const r = await LO.post(`/api/cases/${enc(id)}/verdict`, body);
  let said;
  if (r.status === 200) {
    const u = r.data.update;
    said = `Recorded: ${u.status} (version ${u.version}) by ${u.by}`;
    $("v-note").value = "";
  } else {
    said = `Refused (${r.status}): ${r.data.error || ""}`;
  }
  for (const b of document.querySelectorAll("button.verdict")) b.disabled = !LO.canAct;
  btn.blur();
  await select(id);  // the new status and history
  const out = $("v-result");
  out.dataset.status = String(r.status);
  out.textContent = said;
  await loadList();
}

async function release(btn) {
  const id = Cases.selected;
  if (!id) return;
  btn.disabled = true;
  const r = await LO.post(`/api/cases/${enc(id)}/release`, {});
  const said = r.status === 200 ? `Released by ${r.data.by}: delivered as a draft`
    : `Refused (${r.status}): ${r.data.error || ""}`;
  btn.disabled = !LO.canAct;
  await select(id);
  const out = $("v-result");
  out.dataset.status = String(r.status);
  out.textContent = said;
  await loadList();
}

document.addEventListener("DOMContentLoaded", () => {
  $("v-release").addEventListener("click", () => release($("v-release")));
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); loadList(); });
  for (const b of document.querySelectorAll("button.verdict")) {
    b.addEventListener("click", () => decide(b.dataset.verdict, b));
  }
  const wanted = new URLSearchParams(location.search).get("case");
  loadList().then(() => { if (wanted) select(wanted); });
  setInterval(loadList, 10000);
});
