// The cases page: the outbox's cases with filters (type, camera, zone, grid cell,
// status, dates), and the selected case's evidence, ground position, sightings, status
// and verdict history. Operators record a verdict (docs/CASE_STATUS.md) or release a
// case the second look held (docs/LEARNING.md); the viewer role only looks (its
// buttons are disabled, and the server answers 403 anyway). Every word comes from the
// catalogue (cases.po, common.po: docs/I18N.md); data (ids, codes, numbers) is marked
// translate="no".
"use strict";

const { $, enc, t, term } = LO;
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
  return LO.el("span", { class: `status status-${status}`, text: term("status", status) });
}

// One name/value pair of the facts list; data values are not for translating.
function fact(dl, name, value, id, data) {
  dl.append(LO.el("dt", { text: name }), LO.el("dd", { text: value, id: id || "", translate: !data }));
}

// The second look's false-alarm score, shown beside a held case's status.
function scoreText(c) {
  return c.score == null ? "" : ` ${c.score.toFixed(2)}`;
}

// A case about a group (a cluster of bicycles) says how many it counted.
function countText(c, sep) {
  return c.count == null ? "" : sep + t("cases.count_of", { n: c.count });
}

function caseRow(c) {
  const tr = LO.el("tr", { "data-case": c.id, class: "case-row", tabIndex: 0 });
  tr.append(
    LO.el("td", { text: LO.when(c.confirmed_at), translate: false }),
    LO.el("td", { class: "case-type", text: term("type", c.type) + countText(c, " · ") }),
    LO.el("td", { text: c.camera_id + (c.preset ? ` / ${c.preset}` : ""), translate: false }),
    LO.el("td", { text: c.zone_id, translate: false }),
    LO.el("td", { text: c.grid_code || "–", translate: false }),
    LO.el("td", { class: "num", text: t("unit.seconds", { n: Math.round(c.dwell_s) }) }),
    LO.el("td", { class: "status-cell" }, statusBadge(c.status),
      c.held ? LO.el("span", { class: "score", text: scoreText(c), translate: false }) : ""),
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
    let note = t("cases.count", { n: d.cases.length });
    if (!d.outbox) note = t("cases.no_outbox");
    else if (d.cases.length >= d.limit) note += t("cases.capped", { limit: d.limit });
    $("cases-note").textContent = note;
    document.body.dataset.loaded = "1";
  } catch (e) {
    $("cases-note").textContent = t("cases.load_failed", { error: (e.data && e.data.error) || e.message });
  }
}

function picture(kind, url) {
  return LO.el("figure", { class: `ev ev-${kind}` },
    LO.el("a", { href: url, target: "_blank", rel: "noopener" },
      LO.el("img", { src: url, alt: t("cases.evidence.alt", { kind: t(`cases.evidence.${kind}`) }), loading: "lazy" })),
    LO.el("figcaption", { text: t(`cases.evidence.${kind}`) }));
}

// Who gave a verdict: an account's name is data (not translated); a shared role
// password records the role, a word of the catalogue.
function byCell(by) {
  const role = ["viewer", "operator", "admin"].includes(by);
  return LO.el("td", { class: "by", text: role ? term("role", by) : by, translate: role });
}

function renderDetail(d) {
  const box = $("detail");
  box.hidden = false;
  box.dataset.case = d.id;
  box.dataset.status = d.status;
  box.dataset.version = String(d.version);
  $("d-title").replaceChildren(`${term("type", d.type)} · `,
    LO.el("span", { text: `${d.camera_id} · ${d.zone_id}`, translate: false }), " ", statusBadge(d.status));
  const order = ["full", "crop", "before", "after"];
  $("d-evidence").replaceChildren(
    ...order.filter((k) => d.evidence[k]).map((k) => picture(k, d.evidence[k])));
  if (!Object.keys(d.evidence).length) $("d-evidence").append(LO.el("p", { class: "note", text: t("cases.no_evidence") }));
  const dl = $("d-facts");
  dl.replaceChildren();
  fact(dl, t("cases.fact.id"), d.id, "d-id", true);
  fact(dl, t("cases.fact.code"), `${d.code} ${d.code_name}`, "", true);
  fact(dl, t("cases.fact.object"), t("cases.object", { cls: d.object_class, confidence: d.confidence }) + countText(d, ", "), "d-object");
  fact(dl, t("cases.fact.grid"), d.grid_code || "–", "d-grid", true);
  if (d.grid_unit) fact(dl, t("cases.fact.unit"), d.grid_unit, "d-unit", true);
  fact(dl, t("cases.fact.location"), d.location
    ? t("cases.location", { lat: d.location.lat.toFixed(7), lon: d.location.lon.toFixed(7) }) : t("cases.not_located"), "d-location");
  fact(dl, t("cases.fact.first_seen"), LO.when(d.first_seen), "", true);
  fact(dl, t("cases.fact.case_made"), LO.when(d.confirmed_at), "", true);
  fact(dl, t("cases.fact.last_seen"), LO.when(d.last_seen), "d-last-seen", true);
  fact(dl, t("cases.fact.dwell"), LO.age(d.dwell_s));
  if (d.case.support && d.case.support.length) fact(dl, t("cases.fact.support"), d.case.support.join(", "), "", true);
  fact(dl, t("cases.fact.status"), t("cases.status_version", { status: term("status", d.status), version: d.version }), "d-status");
  if (d.score != null) {
    fact(dl, t("cases.fact.second_look"), t("cases.score", { score: scoreText(d).trim() }) + (d.held ? t("cases.held_note") : ""), "d-score");
  }
  $("v-release").hidden = !d.held;
  $("v-rebase-label").hidden = d.type !== "illegal_construction";
  $("v-rebase").checked = false;
  const rows = d.history.map((u) => LO.el("tr", { "data-version": String(u.version) },
    LO.el("td", { class: "num", text: String(u.version) }),
    LO.el("td", {}, statusBadge(u.status)),
    LO.el("td", { text: u.previous ? term("status", u.previous) : "–" }),
    byCell(u.by),
    LO.el("td", { text: LO.when(u.at), translate: false }),
    LO.el("td", { text: (u.note || "") + (u.rebase ? t("cases.rebase_tag") : "") })));
  if (!rows.length) rows.push(LO.el("tr", {}, LO.el("td", { colSpan: 6, text: t("cases.no_verdict") })));
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
    $("v-result").textContent = t("cases.case_load_failed", { error: (e.data && e.data.error) || e.message });
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
    said = t("cases.recorded", { status: term("status", u.status), version: u.version, by: term("role", u.by) });
    $("v-note").value = "";
  } else {
    said = t("cases.refused", { code: r.status, error: r.data.error || "" });
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
  const said = r.status === 200 ? t("cases.released", { by: term("role", r.data.by) })
    : t("cases.refused", { code: r.status, error: r.data.error || "" });
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
