// Shared helpers of the console pages: JSON fetches, CSRF-protected POSTs, DOM and SVG
// builders, formatting, and the page's language: `LO.t(key, params)` reads the
// catalogue the page loaded before this file (/i18n/<lang>.js, docs/I18N.md). Plain
// JavaScript, no build step: every page loads this file before its own script
// (static/_head.html), which takes what it needs from `LO`, e.g.
// `const { $, enc, fact, t } = LO;`.
"use strict";

const LO = (() => {
  const meta = (name) => {
    const m = document.querySelector(`meta[name="${name}"]`);
    return m ? m.content : "";
  };
  const SVG_NS = "http://www.w3.org/2000/svg";
  const lang = document.documentElement.lang || "en";
  const MESSAGES = window.LO_MESSAGES || {};

  // The text of a catalogue key in the page's language, its {name} parameters filled.
  function t(key, params) {
    const text = Object.prototype.hasOwnProperty.call(MESSAGES, key) ? MESSAGES[key] : key;
    if (!params) return text;
    return text.replace(/\{([a-z_]+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
  }

  // A value from the code (a case type, a status, a camera state): its catalogue text
  // under `prefix`, the value itself when the catalogue has none (data, not a word).
  function term(prefix, value) {
    const key = `${prefix}.${value}`;
    return Object.prototype.hasOwnProperty.call(MESSAGES, key) ? MESSAGES[key] : String(value);
  }

  // A time as the site's clock showed it (ISO 8601 with its offset), written the way
  // the page's language writes it: 2026-11-26 09:30:00 in both (zh-CN reads it so too).
  function when(iso) {
    return iso ? String(iso).replace("T", " ").replace(/(\.\d+)?([+-]\d\d:\d\d|Z)$/, "") : "–";
  }
  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;

  // An answer's JSON body; {} when it has none.
  async function jsonOf(r) {
    try { return await r.json(); } catch (e) { return {}; }
  }

  // A GET of JSON. A 401 sends the browser to the login page; any other failed answer
  // throws an Error that carries its `status` and JSON body (`data`).
  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (r.status === 401) {
      location.href = "/login";
      throw Object.assign(new Error("login required"), { status: 401, data: {} });
    }
    if (!r.ok) {
      throw Object.assign(new Error(`${url}: HTTP ${r.status}`), { status: r.status, data: await jsonOf(r) });
    }
    return r.json();
  }

  // A state-changing request: the session's CSRF token goes in a header.
  async function post(url, body) {
    const r = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": meta("csrf-token") },
      body: JSON.stringify(body || {}),
    });
    return { status: r.status, data: await jsonOf(r) };
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("data-")) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    return e;
  }

  // One name/value pair of a facts list (<dl>); `id` names the value.
  function fact(dl, name, value, id) {
    dl.append(el("dt", { text: name }), el("dd", { text: value, id: id || "" }));
  }

  function age(s) {
    if (s == null) return "–";
    if (s < 60) return t("unit.seconds", { n: s.toFixed(1) });
    if (s < 3600) return t("unit.min_s", { m: Math.floor(s / 60), s: Math.round(s % 60) });
    return t("unit.hours", { n: (s / 3600).toFixed(1) });
  }

  function pct(x) {
    return x == null ? "–" : `${(100 * x).toFixed(1)} %`;
  }

  const role = meta("role");
  const user = meta("user");
  // Operators and admins act (verdicts, zones, acknowledgements); an admin also reads
  // the audit log. The server checks both again (lookout/console/auth.py).
  const canAct = role === "operator" || role === "admin";
  const isAdmin = role === "admin";

  // The header: who is logged in ("wang.li · 值班员": the account's name is data, not
  // translated; a shared role password or no login shows the role alone), the audit
  // link for admins; no logout button without logins.
  function header() {
    const who = $("who");
    if (who) {
      const roleText = role ? term("role", role) + (canAct ? "" : t("role.read_only_suffix")) : "";
      const named = user && user !== role && meta("login-required") === "1";
      if (named) who.replaceChildren(el("span", { class: "user", text: user, translate: false }), ` · ${roleText}`);
      else who.textContent = roleText;
    }
    const audit = $("nav-audit");
    if (audit) audit.hidden = !isAdmin;
    const form = $("logout-form");
    if (form && meta("login-required") !== "1") form.hidden = true;
    for (const b of document.querySelectorAll(".act")) {
      b.disabled = !canAct;
      if (!canAct) b.title = t("role.viewer_read_only");
    }
  }

  return { $, enc, getJSON, post, el, svg, fact, age, pct, role, user, canAct, isAdmin, header, meta, t, term, when, lang };
})();

document.addEventListener("DOMContentLoaded", LO.header);
