// The HQ page: every store's state from /v1/hq/stores, filters by region and problem, one store's history.
// Everything a store sent is untrusted text: it is only ever put into the page with textContent.
(function () {
  "use strict";
  const I18N = JSON.parse(document.getElementById("i18n").textContent);
  const LANG_KEY = "rxlane.hq.lang";
  let lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh";
  const T = (k, vars) => {
    let s = (I18N[lang] && I18N[lang][k]) || I18N.zh[k] || k;
    for (const [name, value] of Object.entries(vars || {})) s = s.replace("{" + name + "}", value);
    return s;
  };
  const $ = (id) => document.getElementById(id);
  const state = { data: null, detail: null, loading: false, again: false };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function ago(seconds) {
    if (seconds === null || seconds === undefined) return T("never");
    const s = Math.max(0, Math.round(seconds));
    if (s < 120) return T("ago_s", { n: s });
    if (s < 7200) return T("ago_m", { n: Math.round(s / 60) });
    if (s < 172800) return T("ago_h", { n: Math.round(s / 3600) });
    return T("ago_d", { n: Math.round(s / 86400) });
  }

  const problemText = (p) => T("p_" + p);
  const regionName = (r) => (lang === "zh" && state.data && state.data.region_names && state.data.region_names[r]) || r;
  const num = (v) => (v === null || v === undefined ? "—" : String(v));

  function query() {
    const params = new URLSearchParams();
    if ($("region").value) params.set("region", $("region").value);
    if ($("problem").value) params.set("problem", $("problem").value);
    if ($("search").value.trim()) params.set("q", $("search").value.trim());
    return params.toString();
  }

  async function load() {
    if (state.loading) {          // a filter changed while a request was out: ask again once it is back
      state.again = true;
      return;
    }
    state.loading = true;
    try {
      const resp = await fetch("/v1/hq/stores?" + query(), { headers: { Accept: "application/json" } });
      const body = await resp.json();
      if (!resp.ok) throw new Error((body.error && (lang === "en" ? body.error.message : body.error.message_zh)) || resp.status);
      state.data = body;
      $("error").hidden = true;
      render();
    } catch (err) {
      $("error").textContent = T("load_error", { msg: err.message });
      $("error").hidden = false;
    } finally {
      state.loading = false;
      if (state.again) {
        state.again = false;
        load();
      }
    }
  }

  function renderSummary(d) {
    $("n-stores").textContent = d.summary.stores;
    $("n-healthy").textContent = d.summary.healthy;
    $("n-degraded").textContent = d.summary.degraded;
    $("n-down").textContent = d.summary.down;
    const info = $("list-info");
    info.replaceChildren();
    if (d.catalog) {
      info.append(el("b", {}, T("published_list")), " ",
                  el("span", {}, d.catalog.source || ""), " ",
                  el("span", { class: "muted" }, d.catalog.publication_date || ""), " · ",
                  el("code", { title: d.catalog.version }, d.catalog.version.slice(0, 12)), " · ",
                  T("list_rows", { n: d.catalog.rows }), " · ",
                  el("span", { id: "list-on" }, T("list_on", { n: d.summary.list_current, total: d.summary.stores })));
    } else {
      info.append(el("span", {}, T("no_list")));
    }
    $("down-hint").textContent = T("down_hint", { n: Math.round(d.down_after_s / 60) });
    $("updated").textContent = d.now ? d.now.replace("T", " ").slice(0, 19) : "—";
    const region = $("region");
    const chosen = region.value;
    const known = Array.from(region.options).map((o) => o.value);
    for (const r of d.regions) if (!known.includes(r)) region.append(el("option", { value: r }, regionName(r)));
    for (const option of region.options) if (option.value) option.textContent = regionName(option.value);
    region.value = chosen;
  }

  function storeRow(s) {
    const insurer = s.upstream_reachable === true ? el("span", {}, T("reachable"))
      : s.upstream_reachable === false ? el("span", { class: "bad" }, T("unreachable")) : el("span", { class: "muted" }, T("unknown"));
    const list = s.list_current === true ? el("span", {}, T("list_current"))
      : s.list_current === false ? el("span", { class: "bad" }, T("list_outdated")) : el("span", { class: "muted" }, T("list_none"));
    const warn = (v) => el("td", { class: "num" + (v ? " bad" : "") }, num(v));
    const row = el("tr", { "data-store": s.store_id, "data-status": s.status },
      el("td", {}, el("b", {}, s.store_id), el("span", { class: "name" }, s.fixmedins_name || "")),
      el("td", {}, s.region ? regionName(s.region) : "—"),
      el("td", {}, el("span", { class: "badge status-" + s.status }, T(s.status))),
      el("td", { class: s.status === "down" ? "bad" : "" }, ago(s.seen_ago_s)),
      el("td", {}, s.version || "—"),
      el("td", { class: "num" }, num(s.outbox_pending)),
      warn(s.outbox_parked), warn(s.in_doubt), warn(s.device_errors),
      el("td", {}, insurer), el("td", {}, list),
      el("td", { class: "problems" }, s.problems.map(problemText).join("、")));
    row.addEventListener("click", () => openDetail(s.store_id));
    return row;
  }

  function render() {
    const d = state.data;
    if (!d) return;
    renderSummary(d);
    $("stores").replaceChildren(...d.stores.map(storeRow));
    $("empty").hidden = d.stores.length > 0;
    if (state.detail) renderDetail(state.detail);
  }

  async function openDetail(storeId) {
    const resp = await fetch("/v1/hq/stores/" + encodeURIComponent(storeId), { headers: { Accept: "application/json" } });
    if (!resp.ok) return;
    state.detail = await resp.json();
    renderDetail(state.detail);
  }

  function renderDetail(s) {
    $("detail").hidden = false;
    $("detail-title").replaceChildren(el("span", {}, s.store_id), " ", el("span", { class: "name" }, s.fixmedins_name || ""),
                                      " ", el("span", { class: "badge status-" + s.status }, T(s.status)));
    $("detail-problems").textContent = s.problems.map(problemText).join("、");
    $("history").replaceChildren(...s.history.map((h) => el("tr", { "data-seq": h.seq },
      el("td", {}, (h.received_at || "").replace("T", " ").slice(0, 19)), el("td", { class: "num" }, h.seq),
      el("td", {}, h.health === "ok" ? T("healthy") : T("degraded")),
      el("td", {}, h.problems.map(problemText).join("、")), el("td", {}, h.version || "—"),
      el("td", { class: "num" }, num(h.outbox_pending)), el("td", { class: "num" }, num(h.in_doubt)))));
    const reports = s.reports.length ? s.reports.map((r) => el("li", { class: r.flagged ? "flagged" : "" },
      r.month, " · ", T("r_version"), " ", r.version, r.flagged ? " · " + T("r_flagged") : ""))
      : [el("li", { class: "muted" }, T("no_reports"))];
    $("reports").replaceChildren(...reports);
  }

  function applyLang() {
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
    document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = T(node.dataset.i18n); });
    render();
  }

  $("lang").addEventListener("click", () => {
    lang = lang === "en" ? "zh" : "en";
    localStorage.setItem(LANG_KEY, lang);
    applyLang();
  });
  $("refresh").addEventListener("click", load);
  $("region").addEventListener("change", load);
  $("problem").addEventListener("change", load);
  let typing = null;
  $("search").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(load, 250); });
  $("detail-close").addEventListener("click", () => { state.detail = null; $("detail").hidden = true; });

  window.rxlaneHq = { state, load };
  if (lang !== "zh") applyLang();
  load();
  setInterval(load, 30000);
})();
