// The zone editor: zones per camera and PTZ preset drawn on the preset's snapshot,
// their policies and detect settings, the region plan as the zones change, and the
// calibration on the picture with the grid cells it projects. The server checks every
// change with the config's own models (errors come back per field) and saves through
// the round-trip writer; see docs/ARCHITECTURE.md, "The zone editor". Every word comes
// from the catalogue (editor.po, common.po: docs/I18N.md); ids, codes, class names and
// numbers are data, marked translate="no".
"use strict";

const Ed = {
  camera: "",
  preset: "",        // "" = a fixed camera (zones without a preset)
  state: null,       // GET /api/editor/{camera}
  zones: [],         // [{original_id, id, polygon, grid_code, policies}]
  sel: -1,           // selected zone
  vertex: -1,        // selected point of the selected zone
  detect: null,
  detectDirty: false,
  cal: [],           // [{image: [x, y], lonlat: [lon, lat], err_px, err_m}]
  grid: [],
  plan: null,
  errors: [],        // [{field, message}]
  mode: "zones",
  moving: false,
  drag: null,
  timer: null,
  imgN: 0,
};

const { $, enc, t, term } = LO;
const TYPES = ["illegal_parking", "street_vendor", "occupation", "non_motor_parking", "illegal_construction"];
const NEW_POLICY = {
  illegal_parking: { type: "illegal_parking", classes: ["vehicle"], dwell_s: 60 },
  street_vendor: { type: "street_vendor", classes: ["person"], dwell_s: 60 },
  occupation: { type: "occupation", classes: ["static_object"], dwell_s: 300 },
  non_motor_parking: { type: "non_motor_parking", classes: ["non_motor"], dwell_s: 300 },
  illegal_construction: { type: "illegal_construction" },
};
const FIELDS = {
  illegal_parking: ["classes", "support_classes", "min_confidence", "dwell_s", "allowed"],
  street_vendor: ["classes", "support_classes", "min_confidence", "dwell_s", "allowed"],
  occupation: ["classes", "person_classes", "attended_radius", "min_confidence", "dwell_s", "stationary_radius", "allowed"],
  non_motor_parking: ["classes", "min_count", "cluster_radius", "quiet_s", "min_confidence", "dwell_s", "stationary_radius", "allowed"],
  illegal_construction: ["survey_interval_s", "min_visits", "min_span_h", "classes", "min_confidence", "allowed"],
};
// A policy field's label: editor.field.<name> of the catalogue.
const fieldLabel = (f) => t(`editor.field.${f}`);
const LISTS = new Set(["classes", "support_classes", "person_classes"]);

const r1 = (v) => Math.round(v * 10) / 10;
const base = () => `/api/editor/${enc(Ed.camera)}`;

// -- loading ---------------------------------------------------------------------------
async function loadCameras() {
  const d = await LO.getJSON("/api/cameras");
  if (!d.cameras.length) {  // the daemon is still starting its cameras
    setTimeout(() => loadCameras().catch(() => {}), 1000);
    return;
  }
  const sel = $("camera-select");
  sel.replaceChildren(...d.cameras.map((c) => LO.el("option", { value: c.id, text: c.id })));
  const asked = new URLSearchParams(location.search).get("camera");
  Ed.camera = asked && d.cameras.some((c) => c.id === asked) ? asked : (d.cameras[0] || {}).id || "";
  sel.value = Ed.camera;
  if (Ed.camera) await loadState();
}

async function loadState() {
  const q = Ed.preset ? `?preset=${enc(Ed.preset)}` : "";
  let d;
  try {
    d = await LO.getJSON(base() + q);
  } catch (e) {
    if (e.status == null) throw e;  // no answer at all
    if (e.status !== 401) $("ptz-status").textContent = e.data.error || t("editor.http", { code: e.status });
    return;  // 401: LO.getJSON went to the login page
  }
  Ed.state = d;
  Ed.zones = d.zones.map((z) => ({ ...z, original_id: z.id }));
  Ed.sel = Ed.zones.length ? 0 : -1;
  Ed.vertex = -1;
  Ed.detect = { ...d.detect };
  Ed.detectDirty = false;
  Ed.cal = d.calibration.own && d.calibration.fit ? d.calibration.fit.points.map((p) => ({ ...p })) : [];
  Ed.grid = d.grid;
  Ed.plan = d.plan;
  Ed.errors = [];
  renderPresets();
  $("ptz-status").textContent = d.ptz_error ? t("editor.ptz_error", { error: d.ptz_error })
    : (d.current_preset ? t("editor.at_preset", { preset: d.current_preset }) : "");
  $("detect-legend").textContent = Ed.preset ? t("editor.detect_at", { preset: Ed.preset }) : t("editor.detect");
  loadPicture();
  renderAll();
}

function loadPicture() {
  const img = $("editor-img");
  const w = Ed.state.frame.width;
  $("stage-empty").hidden = w > 0;
  if (!w) {  // no picture of this preset yet: ask again shortly
    setTimeout(() => { if (Ed.state && !Ed.state.frame.width) loadState(); }, 1500);
    return;
  }
  const q = Ed.preset ? `preset=${enc(Ed.preset)}&` : "";
  img.src = `/api/cameras/${enc(Ed.camera)}/snapshot.jpg?${q}n=${++Ed.imgN}`;
}

function renderPresets() {
  const sel = $("preset-select");
  const opts = [LO.el("option", { value: "", text: Ed.state.ptz ? t("editor.preset_choose") : t("editor.preset_none") })];
  for (const p of Ed.state.presets) {
    opts.push(LO.el("option", { value: p.token, translate: false, text: p.name !== p.token ? `${p.token} (${p.name})` : p.token }));
  }
  sel.replaceChildren(...opts);
  sel.value = Ed.preset;
}

async function choosePreset(token) {
  Ed.preset = token;
  if (token && Ed.state && Ed.state.ptz) {
    Ed.moving = true;
    renderAll();
    $("ptz-status").textContent = t("editor.moving", { preset: token });
    const r = await LO.post(`${base()}/goto`, { preset: token });
    Ed.moving = false;
    if (r.status !== 200) {
      $("ptz-status").textContent = r.data.error || t("editor.http", { code: r.status });
    }
  }
  await loadState();
}

// -- the picture -----------------------------------------------------------------------
function frameSize() {
  const f = Ed.state ? Ed.state.frame : { width: 0, height: 0 };
  return [f.width, f.height];
}

function strokeScale() {
  const [w] = frameSize();
  const shown = $("editor-img").clientWidth || w || 1;
  return w / shown;
}

function pointsAttr(poly) {
  return poly.map(([x, y]) => `${x},${y}`).join(" ");
}

function renderPicture() {
  const [w, h] = frameSize();
  const svg = $("editor-svg");
  svg.setAttribute("viewBox", `0 0 ${w || 1} ${h || 1}`);
  svg.style.pointerEvents = Ed.moving || !w ? "none" : "auto";
  const sw = strokeScale();
  const grid = $("grid-layer"), plan = $("plan-layer"), zl = $("zone-layer"), cl = $("cal-layer");
  for (const g of [grid, plan, zl, cl]) g.replaceChildren();
  if ($("show-grid").checked) {
    for (const c of Ed.grid) {
      grid.append(LO.svg("polygon", { points: pointsAttr(c.polygon), class: "grid-cell", "stroke-width": 1.5 * sw, "data-code": c.code }));
      const [x, y] = c.polygon.reduce(([a, b], [px, py]) => [a + px / c.polygon.length, b + py / c.polygon.length], [0, 0]);
      grid.append(LO.svg("text", { x, y, class: "grid-label", "font-size": 12 * sw, "text-anchor": "middle", translate: "no", text: c.code }));
    }
  }
  if ($("show-plan").checked && Ed.plan) {
    for (const [x, y, cw, ch] of Ed.plan.crops) {
      plan.append(LO.svg("rect", { x, y, width: cw, height: ch, class: "crop moving plan-crop", "stroke-width": 2 * sw }));
    }
  }
  Ed.zones.forEach((z, i) => {
    const poly = z.polygon.length ? z.polygon : (z.shown || []);  // a map zone: projected
    if (!poly.length) return;
    const cls = i === Ed.sel && Ed.mode === "zones" ? "zone selected" : "zone other";
    zl.append(LO.svg("polygon", { points: pointsAttr(poly), class: cls, "stroke-width": 2 * sw, "data-zone": z.id }));
    zl.append(LO.svg("text", { x: poly[0][0], y: poly[0][1] - 5 * sw, class: "zone-label", "font-size": 12 * sw, translate: "no", text: z.id }));
  });
  const z = Ed.zones[Ed.sel];
  if (Ed.mode === "zones" && z && !z.ground_polygon) {
    z.polygon.forEach(([x, y], k) => {
      const n = z.polygon[(k + 1) % z.polygon.length];
      if (z.polygon.length > 1) {
        const s = 4 * sw;
        zl.append(LO.svg("rect", { x: (x + n[0]) / 2 - s, y: (y + n[1]) / 2 - s, width: 2 * s, height: 2 * s, class: "midpoint", "data-after": k, "stroke-width": sw }));
      }
      zl.append(LO.svg("circle", { cx: x, cy: y, r: 5 * sw, class: k === Ed.vertex ? "vertex selected" : "vertex", "data-index": k, "stroke-width": sw }));
    });
  }
  if (Ed.mode === "calibration") {
    Ed.cal.forEach((p, k) => {
      const [x, y] = p.image;
      if (p.err_px != null) cl.append(LO.svg("circle", { cx: x, cy: y, r: Math.max(3, p.err_px) * 1.0 + 6 * sw, class: "cal-error", "stroke-width": 1.5 * sw }));
      cl.append(LO.svg("circle", { cx: x, cy: y, r: 5 * sw, class: "cal-point", "data-index": k, "stroke-width": sw }));
      const label = p.err_px == null ? `${k}` : `${k}: ${p.err_px.toFixed(2)} px`;
      cl.append(LO.svg("text", { x: x + 8 * sw, y: y - 8 * sw, class: "cal-label", "font-size": 12 * sw, translate: "no", text: label }));
    });
  }
}

function toFrame(ev) {
  const svg = $("editor-svg");
  const pt = svg.createSVGPoint();
  pt.x = ev.clientX;
  pt.y = ev.clientY;
  const p = pt.matrixTransform(svg.getScreenCTM().inverse());
  const [w, h] = frameSize();
  return [r1(Math.min(Math.max(p.x, 0), w)), r1(Math.min(Math.max(p.y, 0), h))];
}

function onPointerDown(ev) {
  if (ev.button !== 0 || Ed.moving) return;
  const t = ev.target;
  const xy = toFrame(ev);
  ev.preventDefault();
  if (Ed.mode === "calibration") {
    if (t.classList.contains("cal-point")) {
      Ed.drag = { kind: "cal", index: Number(t.dataset.index) };
    } else {
      Ed.cal.push({ image: xy, lonlat: [null, null], err_px: null, err_m: null });
      renderCalibration();
    }
    renderPicture();
    return;
  }
  if (Ed.sel < 0 || Ed.zones[Ed.sel].ground_polygon) newZone();  // a map zone is edited in YAML
  const z = Ed.zones[Ed.sel];
  if (t.classList.contains("vertex")) {
    Ed.vertex = Number(t.dataset.index);
    Ed.drag = { kind: "vertex", index: Ed.vertex };
  } else if (t.classList.contains("midpoint")) {
    Ed.vertex = Number(t.dataset.after) + 1;
    z.polygon.splice(Ed.vertex, 0, xy);
    Ed.drag = { kind: "vertex", index: Ed.vertex };
    changed();
  } else {
    z.polygon.push(xy);
    Ed.vertex = z.polygon.length - 1;
    changed();
  }
  renderPicture();
  renderZoneForm();
}

function onPointerMove(ev) {
  if (!Ed.drag) return;
  const xy = toFrame(ev);
  if (Ed.drag.kind === "cal") {
    Ed.cal[Ed.drag.index].image = xy;
    Ed.cal[Ed.drag.index].err_px = null;
    renderCalibration();
  } else {
    Ed.zones[Ed.sel].polygon[Ed.drag.index] = xy;
    $("zone-polygon").value = JSON.stringify(Ed.zones[Ed.sel].polygon);
  }
  renderPicture();
}

function onPointerUp() {
  if (Ed.drag && Ed.drag.kind === "vertex") changed();
  Ed.drag = null;
}

// -- zones -----------------------------------------------------------------------------
function newZone() {
  const ids = new Set(Ed.zones.map((z) => z.id));
  let n = Ed.zones.length + 1;
  while (ids.has(`zone-${n}`)) n += 1;
  Ed.zones.push({ original_id: null, id: `zone-${n}`, polygon: [], grid_code: null, policies: [{ ...NEW_POLICY.illegal_parking }] });
  Ed.sel = Ed.zones.length - 1;
  Ed.vertex = -1;
  renderAll();
}

function renderZoneList() {
  const bad = new Set(Ed.errors.map((e) => (/^zones\[(\d+)\]/.exec(e.field) || [])[1]).filter((x) => x != null).map(Number));
  $("zone-list").replaceChildren(...Ed.zones.map((z, i) => {
    const b = LO.el("button", { type: "button", class: `zone-item${i === Ed.sel ? " selected" : ""}${bad.has(i) ? " invalid" : ""}`, "data-zone": z.id },
      z.id ? LO.el("span", { text: z.id, translate: false }) : LO.el("span", { text: t("editor.no_id"), translate: true }),
      z.ground_polygon ? LO.el("span", { text: t("editor.map_zone"), translate: true }) : "");
    b.addEventListener("click", () => { Ed.sel = i; Ed.vertex = -1; renderAll(); });
    return b;
  }));
}

function listText(v) { return Array.isArray(v) ? v.join(", ") : ""; }
function windowsText(v) { return (v || []).map((w) => `${w.start.slice(0, 5)}-${w.end.slice(0, 5)}`).join(", "); }

function parseField(name, text) {
  const s = text.trim();
  if (LISTS.has(name)) return s ? s.split(/[,\s]+/).filter(Boolean) : [];
  if (name === "allowed") {
    return s ? s.split(",").map((w) => { const [start, end] = w.trim().split("-"); return { start: (start || "").trim(), end: (end || "").trim() }; }) : [];
  }
  if (s === "") return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : s;
}

function errorSpan(field) {
  return LO.el("span", { class: "field-error", "data-field": field });
}

function renderPolicies(z) {
  const box = $("policies");
  const names = (Ed.state ? Ed.state.classes.concat(Ed.state.roles) : []);
  box.replaceChildren(...z.policies.map((p, k) => {
    const fs = LO.el("fieldset", { class: "policy", "data-index": k });
    const type = LO.el("select", { class: "policy-type" }, ...TYPES.map((v) => LO.el("option", { value: v, text: term("type", v) })));
    type.value = p.type;
    type.addEventListener("change", () => { z.policies[k] = { ...NEW_POLICY[type.value] }; renderZoneForm(); changed(); });
    fs.append(LO.el("legend", { text: t("editor.policy", { n: k + 1 }) }), LO.el("label", { text: t("editor.policy_type") }, type), errorSpan(`policies[${k}].type`));
    for (const f of FIELDS[p.type] || []) {
      const input = LO.el("input", { class: `policy-${f.replace(/_/g, "-")}`, translate: false });
      if (LISTS.has(f)) { input.value = listText(p[f]); input.setAttribute("list", "class-names"); }
      else if (f === "allowed") input.value = windowsText(p[f]);
      else input.value = p[f] == null ? "" : String(p[f]);
      const d = Ed.state && Ed.state.policy_defaults[p.type];
      if (d && !LISTS.has(f) && f !== "allowed" && d[f] != null) input.placeholder = t("editor.default", { value: d[f] });
      input.addEventListener("input", () => {
        const v = parseField(f, input.value);
        if (v === undefined) delete p[f]; else p[f] = v;
        changed();
      });
      fs.append(LO.el("label", { text: fieldLabel(f) }, input), errorSpan(`policies[${k}].${f}`));
    }
    const rm = LO.el("button", { type: "button", class: "remove-policy", text: t("editor.remove_policy") });
    rm.addEventListener("click", () => { z.policies.splice(k, 1); renderZoneForm(); changed(); });
    fs.append(errorSpan(`policies[${k}]`), rm);
    return fs;
  }));
  let dl = $("class-names");
  if (!dl) { dl = LO.el("datalist", { id: "class-names" }); document.body.append(dl); }
  dl.replaceChildren(...names.map((n) => LO.el("option", { value: n })));
}

function renderZoneForm() {
  const z = Ed.zones[Ed.sel];
  const form = $("zone-form");
  form.hidden = !z;
  $("delete-zone").disabled = !z;
  $("delete-point").disabled = !z || Ed.vertex < 0;
  if (!z) return;
  $("zone-id").value = z.id;
  $("zone-polygon").value = JSON.stringify(z.polygon);
  $("zone-grid").value = z.grid_code || "";
  renderPolicies(z);
  renderErrors();
}

function renderDetect() {
  const d = Ed.detect || {};
  $("detect-mode").value = d.mode || "auto";
  $("detect-min-object").value = d.min_object_px ?? "";
  $("detect-overlap").value = d.overlap_px ?? "";
  $("detect-max-crops").value = d.max_crops ?? "";
  $("detect-full-frame").checked = !!d.full_frame;
}

function renderErrors() {
  const shown = new Set();
  for (const span of document.querySelectorAll(".field-error[data-field]")) {
    const rel = span.dataset.field;
    const full = rel.startsWith("detect.") || rel === "calibration" ? rel : `zones[${Ed.sel}].${rel}`;
    const hits = Ed.errors.filter((e) => e.field === full || (rel === "calibration" && e.field.startsWith("calibration")));
    span.textContent = hits.map((e) => e.message).join("; ");
    hits.forEach((e) => shown.add(e));
  }
  $("errors").replaceChildren(...Ed.errors.filter((e) => !shown.has(e)).map((e) => {
    const m = /^zones\[(\d+)\]\.?(.*)$/.exec(e.field);
    const where = m ? `${(Ed.zones[Number(m[1])] || {}).id || t("editor.zone")}${m[2] ? "." + m[2] : ""}` : e.field;
    return LO.el("li", {}, where ? LO.el("span", { text: `${where}: `, translate: false }) : "", e.message);
  }));
  renderZoneList();
}

function renderPlanInfo() {
  const p = Ed.plan;
  if (!p) { $("plan-info").textContent = ""; return; }
  let text = p.mode === "whole"
    ? t("editor.plan.whole", { px: p.smallest_px })
    : t(p.full_frame ? "editor.plan.crops_full" : "editor.plan.crops", { n: p.crops.length, scale: p.scale, px: p.smallest_px });
  if (p.capped) text += t("editor.plan.capped");
  const zs = Object.entries(p.zones).map(([id, z]) => `${id}: ` + (p.mode === "whole"
    ? t("editor.plan.zone_whole", { px: z.smallest_px }) : t("editor.plan.zone_crops", { n: z.crops, px: z.smallest_px })));
  $("plan-info").textContent = [text, ...zs].join("  ·  ");
}

function renderAll() {
  renderZoneList();
  renderZoneForm();
  renderDetect();
  renderPicture();
  renderPlanInfo();
  renderCalibration();
}

function payload() {
  const body = {
    preset: Ed.preset || null,
    zones: Ed.zones.map((z) => {
      const out = { original_id: z.original_id, id: z.id, polygon: z.polygon, policies: z.policies };
      if (z.grid_code) out.grid_code = z.grid_code;
      if (z.ground_polygon) { out.ground_polygon = z.ground_polygon; out.polygon = []; }
      return out;
    }),
  };
  if (Ed.detectDirty) body.detect = Ed.detect;
  return body;
}

function changed() {
  $("save-result").textContent = "";
  clearTimeout(Ed.timer);
  Ed.timer = setTimeout(preview, 150);
}

async function preview() {
  if (!Ed.camera) return;
  const r = await LO.post(`${base()}/preview`, payload());
  if (r.status !== 200) return;
  Ed.errors = r.data.errors;
  Ed.plan = r.data.plan;
  renderErrors();
  renderPicture();
  renderPlanInfo();
  document.body.dataset.previewed = String(Number(document.body.dataset.previewed || 0) + 1);
}

async function save() {
  clearTimeout(Ed.timer);
  $("save-result").textContent = t("editor.saving");
  const r = await LO.post(`${base()}/zones`, payload());
  if (r.status === 200) {
    const d = r.data;
    $("save-result").textContent = !d.changed ? t("editor.unchanged")
      : t(d.reloaded ? "editor.saved_zones" : "editor.saved_zones_not_reloaded", { file: d.file, backup: d.backup });
    Ed.errors = [];
    await loadState();
    $("save-result").dataset.saved = d.changed ? "1" : "0";
  } else {
    Ed.errors = r.data.errors || [{ field: "", message: r.data.error || t("editor.http", { code: r.status }) }];
    $("save-result").textContent = t("editor.not_saved_fields");
    $("save-result").dataset.saved = "0";
    renderErrors();
  }
}

// -- calibration -----------------------------------------------------------------------
function renderCalibration() {
  const body = $("cal-table").querySelector("tbody");
  body.replaceChildren(...Ed.cal.map((p, k) => {
    const num = (v) => (v == null ? "" : String(v));
    const cell = (cls, v, set) => {
      const i = LO.el("input", { class: cls, value: num(v) });
      i.addEventListener("input", () => { set(i.value.trim() === "" ? null : Number(i.value)); p.err_px = null; renderPicture(); });
      return LO.el("td", {}, i);
    };
    const rm = LO.el("button", { type: "button", class: "cal-remove", text: "×", title: t("editor.cal.remove"), ariaLabel: t("editor.cal.remove") });
    rm.addEventListener("click", () => { Ed.cal.splice(k, 1); renderCalibration(); renderPicture(); });
    return LO.el("tr", { "data-index": k },
      LO.el("td", { text: String(k) }),
      cell("cal-x", p.image[0], (v) => { p.image[0] = v; }),
      cell("cal-y", p.image[1], (v) => { p.image[1] = v; }),
      cell("cal-lon", p.lonlat[0], (v) => { p.lonlat[0] = v; }),
      cell("cal-lat", p.lonlat[1], (v) => { p.lonlat[1] = v; }),
      LO.el("td", { class: "num cal-err-px", text: p.err_px == null ? "" : p.err_px.toFixed(2) }),
      LO.el("td", { class: "num cal-err-m", text: p.err_m == null ? "" : p.err_m.toFixed(3) }),
      LO.el("td", {}, rm));
  }));
}

function calPayload() {
  return { preset: Ed.preset || null, points: Ed.cal.map((p) => ({ image: p.image, lonlat: p.lonlat })) };
}

function calErrors(r) {
  Ed.errors = r.data.errors || [{ field: "calibration", message: r.data.error || t("editor.http", { code: r.status }) }];
  renderErrors();
}

async function fit() {
  const r = await LO.post(`${base()}/fit`, calPayload());
  if (r.status !== 200) { calErrors(r); return; }
  Ed.errors = [];
  r.data.fit.points.forEach((q, k) => { Ed.cal[k].err_px = q.err_px; Ed.cal[k].err_m = q.err_m; });
  Ed.grid = r.data.grid;
  $("cal-rms").textContent = t("editor.cal.rms", { rms: r.data.fit.rms_px.toFixed(2), worst_px: r.data.fit.worst_px.toFixed(2),
    worst_m: r.data.fit.worst_m.toFixed(3), cells: Ed.grid.length });
  $("cal-rms").dataset.rms = String(r.data.fit.rms_px);
  renderErrors();
  renderCalibration();
  renderPicture();
}

async function saveCalibration() {
  $("cal-result").textContent = t("editor.saving");
  const r = await LO.post(`${base()}/calibration`, calPayload());
  if (r.status !== 200) { calErrors(r); $("cal-result").textContent = t("editor.not_saved"); return; }
  const d = r.data;
  $("cal-result").textContent = !d.changed ? t("editor.unchanged")
    : t(d.reloaded ? "editor.saved_cal" : "editor.saved_cal_not_reloaded", { file: d.file });
  $("cal-result").dataset.saved = d.changed ? "1" : "0";
}

function setMode(mode) {
  Ed.mode = mode;
  $("tab-zones").classList.toggle("active", mode === "zones");
  $("tab-calibration").classList.toggle("active", mode === "calibration");
  $("pane-zones").hidden = mode !== "zones";
  $("pane-calibration").hidden = mode !== "calibration";
  $("stage-hint").textContent = t(mode === "zones" ? "editor.hint.zones" : "editor.hint.calibration");
  renderPicture();
}

// -- wiring ----------------------------------------------------------------------------
function bindDetect(id, key, parse) {
  const set = () => {
    const v = parse($(id));
    if (v === undefined) delete Ed.detect[key]; else Ed.detect[key] = v;
    Ed.detectDirty = true;
    changed();
  };
  $(id).addEventListener("input", set);
  $(id).addEventListener("change", set);
}

document.addEventListener("DOMContentLoaded", () => {
  const svg = $("editor-svg");
  svg.addEventListener("pointerdown", onPointerDown);
  svg.addEventListener("pointermove", onPointerMove);
  window.addEventListener("pointerup", onPointerUp);
  $("editor-img").addEventListener("load", () => { document.body.dataset.picture = Ed.preset || "-"; renderPicture(); });
  $("camera-select").addEventListener("change", (e) => { Ed.camera = e.target.value; Ed.preset = ""; loadState(); });
  $("preset-select").addEventListener("change", (e) => choosePreset(e.target.value));
  $("show-plan").addEventListener("change", renderPicture);
  $("show-grid").addEventListener("change", renderPicture);
  $("tab-zones").addEventListener("click", () => setMode("zones"));
  $("tab-calibration").addEventListener("click", () => setMode("calibration"));
  $("new-zone").addEventListener("click", newZone);
  $("delete-zone").addEventListener("click", () => {
    if (Ed.sel < 0) return;
    Ed.zones.splice(Ed.sel, 1);
    Ed.sel = Math.min(Ed.sel, Ed.zones.length - 1);
    Ed.vertex = -1;
    renderAll();
    changed();
  });
  $("delete-point").addEventListener("click", () => {
    const z = Ed.zones[Ed.sel];
    if (!z || Ed.vertex < 0) return;
    z.polygon.splice(Ed.vertex, 1);
    Ed.vertex = -1;
    renderZoneForm();
    renderPicture();
    changed();
  });
  document.addEventListener("keydown", (e) => {
    if ((e.key === "Delete" || e.key === "Backspace") && e.target === document.body) $("delete-point").click();
  });
  $("add-policy").addEventListener("click", () => {
    const z = Ed.zones[Ed.sel];
    if (!z) return;
    z.policies.push({ ...NEW_POLICY.illegal_parking });
    renderZoneForm();
    changed();
  });
  $("zone-id").addEventListener("input", (e) => { Ed.zones[Ed.sel].id = e.target.value.trim(); renderZoneList(); changed(); });
  $("zone-grid").addEventListener("input", (e) => { Ed.zones[Ed.sel].grid_code = e.target.value.trim() || null; changed(); });
  $("zone-polygon").addEventListener("change", (e) => {
    try {
      const pts = JSON.parse(e.target.value);
      if (!Array.isArray(pts) || !pts.every((p) => Array.isArray(p) && p.length === 2 && p.every(Number.isFinite))) throw new Error();
      Ed.zones[Ed.sel].polygon = pts.map(([x, y]) => [r1(x), r1(y)]);
      renderPicture();
      changed();
    } catch (err) {
      Ed.errors = [{ field: `zones[${Ed.sel}].polygon`, message: t("editor.error.polygon_text") }];
      renderErrors();
    }
  });
  bindDetect("detect-mode", "mode", (e) => e.value);
  const num = (e) => (e.value === "" ? undefined : Number(e.value));
  bindDetect("detect-min-object", "min_object_px", num);
  bindDetect("detect-overlap", "overlap_px", num);
  bindDetect("detect-max-crops", "max_crops", num);
  bindDetect("detect-full-frame", "full_frame", (e) => e.checked);
  $("zone-form").addEventListener("submit", (e) => e.preventDefault());
  $("save-zones").addEventListener("click", save);
  $("cal-fit").addEventListener("click", fit);
  $("cal-save").addEventListener("click", saveCalibration);
  loadCameras().catch((e) => { $("ptz-status").textContent = String(e); });
});
