// The health page: per camera, uptime over the last 24 hours (from the console's
// SQLite history, so it survives a restart), reconnects, drops, a 24 h timeline in
// SVG, and the sink backlogs. Operators can acknowledge a camera's outage.
"use strict";

const { $, enc, t, term } = LO;

function timeline(line) {
  const n = line.length || 96;
  const w = 288, h = 16, bw = w / n;
  const s = LO.svg("svg", { viewBox: `0 0 ${w} ${h}`, width: w, height: h, class: "timeline", role: "img", "aria-label": t("health.timeline") });
  line.forEach((v, i) => {
    const cls = v == null ? "t-none" : v >= 0.99 ? "t-up" : v > 0 ? "t-part" : "t-down";
    const title = v == null ? t("health.not_observed") : t("health.streaming_pct", { pct: Math.round(v * 100) });
    const r = LO.svg("rect", { x: i * bw, y: 0, width: bw + 0.2, height: h, class: cls });
    r.append(LO.svg("title", { text: title }));
    s.append(r);
  });
  if (!line.length) s.append(LO.svg("rect", { x: 0, y: 0, width: w, height: h, class: "t-none" }));
  return s;
}

async function acknowledge(id, btn) {
  const r = await LO.post(`/api/cameras/${enc(id)}/acknowledge`);
  btn.dataset.status = String(r.status);
  btn.textContent = r.status === 200 ? t("health.acknowledged") : t("health.refused", { status: r.status });
  btn.title = r.status === 200 ? "" : r.data.error || "";
  if (r.status === 200) load();
}

function row(c) {
  const tr = LO.el("tr", { "data-camera": c.id });
  const ack = c.acknowledged
    ? t("health.ack_note", { at: LO.when(c.acknowledged.at), state: term("state", c.acknowledged.state) })
    : "";
  const btn = LO.el("button", { type: "button", class: "act ack", text: t("health.acknowledge") });
  btn.disabled = !LO.canAct;
  if (!LO.canAct) btn.title = t("role.viewer_read_only");
  btn.addEventListener("click", () => acknowledge(c.id, btn));
  const pct = LO.pct(c.uptime_24h);
  const uptime = c.observed_24h_s ? t("health.uptime_of", { pct, observed: LO.age(c.observed_24h_s) }) : pct;
  tr.append(
    LO.el("td", { class: "name", text: c.id, translate: false }),
    LO.el("td", {}, LO.el("span", { class: `state state-${c.state}`, text: term("state", c.state) })),
    LO.el("td", { class: "uptime", text: uptime }),
    LO.el("td", { class: "num reconnects", text: String(c.reconnects_24h) }),
    LO.el("td", { class: "num drops", text: String(c.dropped_24h) }),
    LO.el("td", { class: "wide" }, timeline(c.timeline)),
    // The reader's own error text (an exception's message) is a detail for engineers.
    LO.el("td", { class: "error", text: c.last_error || "", translate: false }),
    LO.el("td", {}, btn, LO.el("div", { class: "ack-note", text: ack })),
  );
  return tr;
}

async function load() {
  try {
    const d = await LO.getJSON("/api/health");
    $("health-table").querySelector("tbody").replaceChildren(...d.cameras.map(row));
    const sinks = Object.entries(d.sinks);
    const body = $("sinks-table").querySelector("tbody");
    body.replaceChildren(...sinks.map(([name, s]) => LO.el("tr", { "data-sink": name },
      LO.el("td", { text: name, translate: false }),
      LO.el("td", { class: "num", text: String(s.pending || 0) }),
      LO.el("td", { class: "num", text: String(s.delivered || 0) }),
      LO.el("td", { class: "num", text: String(s.rejected || 0) }))));
    if (!sinks.length) body.append(LO.el("tr", {}, LO.el("td", { colSpan: 4, text: t("health.no_sinks") })));
    $("health-note").textContent = t("health.note", { time: LO.when(d.time) });
    document.body.dataset.loaded = "1";
  } catch (e) { /* next round */ }
}

document.addEventListener("DOMContentLoaded", () => {
  load();
  setInterval(load, 5000);
});
