/* The counter page: a keyboard-and-scanner client of the rxlane POS API (docs/pos-integration.md).
 *
 * Why it is shaped like this:
 * - A pharmacist holds a scanner, not a mouse: every action has a function key, the scan field always gets the
 *   focus back, and a keyboard-wedge scan is just text followed by Enter.
 * - Money is never computed in floating point: amounts stay two-decimal strings from the API, and the one sum the
 *   page shows (大额 + 大病) is done in integer fen.
 * - Every POST carries an Idempotency-Key. One key per user action; it is reused only when the request got no
 *   answer (network failure), so a retry cannot settle twice (stripe-python's rule). A second press of the same
 *   action while the first is still running is dropped.
 * - Errors are shown with the API's message_zh (message in English mode): they already say what to do next. Each
 *   error is shown once — beside the scan field when a scan caused it, in the alert box otherwise — and never as a
 *   raw code (the code stays in data-code for the curious and for tests).
 * - What the keyboard does to a scan (Caps Lock, an input method, a split scan) is watched by scanguard.js; a scan
 *   altered on the way never identifies anyone or opens a prescription.
 * - A sale left open (reload, another patient, a walk-away) is resumed when its prescription is chosen again,
 *   switching patient asks first, and a pack an open sale holds can be released from it (plugin/drafts.py).
 * - Layout: at 1366×768 the split and the prescription list stay on screen after F2/F4; panels scroll inside,
 *   the page itself never scrolls.
 */
(() => {
  "use strict";

  const I18N = JSON.parse(document.getElementById("i18n").textContent);
  const DIVISIONS = JSON.parse(document.getElementById("divisions").textContent);
  const SETTINGS = JSON.parse(document.getElementById("settings").textContent);
  const LANG_KEY = "rxlane.counter.lang";
  let lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh";
  const T = (k) => (I18N[lang] && I18N[lang][k]) || I18N.zh[k] || k;
  const $ = (id) => document.getElementById(id);
  const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ESC[c]);
  const say = (o) => (o ? (lang === "en" ? o.message || o.message_zh : o.message_zh || o.message) || o.code : "");
  const SALE_ID = /^S\d{8}[0-9A-F]{12}$/i;
  const SETL_ID = /^ST\d{10,30}$/;
  const IN_DOUBT_STATES = ["in_doubt", "refund_in_doubt", "settling", "refunding"];
  const OPEN_STATES = ["draft", "presettled", "reversed"];
  const BLOCKING_HINTS = ["caps_lock", "input_method", "id_number_invalid", "card_sn_needed"];
  const CERT_TYPE = { ecard: "01", id_card: "02", ss_card: "03" };
  const REFUND_REASONS = ["refund_reason_1", "refund_reason_2", "refund_reason_3", "refund_reason_4"];
  const CONFIRM_DELAY_MS = 300;   // an empty Enter confirms an offer only when pressed after the offer was shown

  const S = {
    patient: null,       // identify answer
    rxs: null,           // prescriptions (null: not loaded)
    sale: null,          // sale view
    money: null,         // {title, split, mismatch, setl_id}
    selfpay: false,
    refundArmed: false,
    health: null,
    dayOpen: false,
    daySales: [],
    traceMissing: false, // POST trace-codes answered 404: the endpoint is not there yet
    live: false,         // the event stream is open (device scans arrive through it)
    acctUsed: true,      // the personal account pays (F6 turns it off where the region allows)
    openDrafts: [],      // unsettled sales of the current patient (GET /v1/sales/open)
    pendingSwitch: null, // {scanRef, masked, kind}: another patient scanned while a sale is open
    offer: null,         // {kind, text, at, run, code?}: what an empty Enter (or the offer's button) does now
    refundReason: "",
    selfpayBlocked: null, // lines the API said cannot be sold self-paid (LINES_INELIGIBLE, confirmable false)
  };
  const scan = $("scan");
  const guard = window.RxlaneScanGuard(scan, { onCaps: (on) => { $("caps").hidden = !on; } });

  // ---- money: integer fen only -------------------------------------------------------------------------------
  function fen(s) {
    const m = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(String(s ?? "0").trim());
    if (!m) return 0;
    return (m[1] ? -1 : 1) * (parseInt(m[2], 10) * 100 + parseInt((m[3] || "0").padEnd(2, "0"), 10));
  }
  function yuan(f) {
    const a = Math.abs(f);
    return (f < 0 ? "-" : "") + Math.floor(a / 100) + "." + String(a % 100).padStart(2, "0");
  }
  const money = (s) => (s == null ? "—" : yuan(fen(s)));

  // ---- the API client ----------------------------------------------------------------------------------------
  const keys = new Map();      // action → Idempotency-Key, kept until the action gets an answer
  const inflight = new Set();  // actions whose request is on the wire

  function newKey() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return "ui-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    const action = method + " " + path + " " + (body === undefined ? "" : JSON.stringify(body));
    const init = { method, headers };
    if (method !== "GET") {
      if (inflight.has(action)) return { ok: false, status: 0, dropped: true, error: null };
      if (!keys.has(action)) keys.set(action, newKey());
      headers["Idempotency-Key"] = keys.get(action);
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body === undefined ? {} : body);
      inflight.add(action);
    }
    busy(+1);
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      // No answer: keep the key, so pressing the key again retries the same request, never a second one.
      return { ok: false, status: 0, error: { code: "NETWORK", message: I18N.en.network_error,
                                              message_zh: I18N.zh.network_error } };
    } finally {
      inflight.delete(action);
      busy(-1);
    }
    keys.delete(action);
    if (method !== "GET" && path !== "/v1/scans") healthSoon();
    let data = null;
    const type = resp.headers.get("Content-Type") || "";
    if (type.includes("json")) {
      try { data = await resp.json(); } catch (e) { data = null; }
    }
    if (!resp.ok) {
      const error = (data && data.error) || { code: "HTTP_" + resp.status, message: "HTTP " + resp.status,
                                               message_zh: "请求失败（HTTP " + resp.status + "）" };
      return { ok: false, status: resp.status, error, data };
    }
    return { ok: true, status: resp.status, data };
  }

  /* After a call to the insurer the connection state may have changed: refresh the status bar shortly. */
  let healthTimer = null;
  function healthSoon() {
    if (healthTimer) return;
    healthTimer = setTimeout(() => { healthTimer = null; refreshHealth(); }, 100);
  }

  let busyCount = 0;
  function busy(d) {
    busyCount += d;
    document.body.classList.toggle("busy", busyCount > 0);
  }

  // ---- messages ----------------------------------------------------------------------------------------------
  function scanMsg(text, kind) {
    const el = $("scan-msg");
    el.textContent = text || "";
    el.className = "scan-msg" + (kind ? " " + kind : "");
  }
  function showError(err, where) {
    if (!err) return;
    const text = say(err);
    const box = $("alert");
    if (where === "scan") {
      // once, beside the scan field where the pharmacist is looking; the alert box keeps only the code
      scanMsg(text, "error");
      $("scan-msg").dataset.code = err.code || "";
      box.hidden = true;
      box.textContent = "";
      box.dataset.code = err.code || "";
      return;
    }
    box.hidden = false;
    box.className = "alert error" + (err.code === "SETTLEMENT_IN_DOUBT" ? " in-doubt" : "");
    box.dataset.code = err.code || "";
    box.innerHTML = `<strong>${esc(T("error"))}</strong> ${esc(text)}` + lineReasons(err);
  }
  function lineReasons(err) {
    const lines = err.details && Array.isArray(err.details.lines) ? err.details.lines : [];
    if (!lines.length) return "";
    const name = (l) => {
      const line = S.sale && S.sale.lines.find((x) => x.line_no === l.line_no);
      return line ? line.generic_name : l.med_list_codg;
    };
    return "<ul>" + lines.map((l) => `<li>${esc(l.line_no ?? "")} ${esc(name(l) ?? "")}: ` +
      (l.reasons || []).map((r) => esc(say(r))).join("；") + "</li>").join("") + "</ul>";
  }
  function showInfo(text) {
    const box = $("alert");
    box.hidden = false;
    box.className = "alert info";
    box.dataset.code = "";
    box.textContent = text;
  }
  function showWarning(html) {
    const box = $("alert");
    box.hidden = false;
    box.className = "alert warning";
    box.dataset.code = "";
    box.innerHTML = html;
  }

  /* An offer: something the pharmacist may confirm with its button, an empty Enter, or (for a pack) the same scan
   * again; Esc or the next action drops it. */
  function offer(kind, text, label, run, extra) {
    S.offer = { kind, run, at: performance.now(), ...(extra || {}) };
    const el = $("offer");
    el.hidden = false;
    el.innerHTML = `<span>${esc(text)}</span> <button type="button" tabindex="-1" data-action="offer">${esc(label)}` +
      ` <kbd>Enter</kbd></button>`;
  }
  function dropOffer() {
    S.offer = null;
    $("offer").hidden = true;
    $("offer").innerHTML = "";
  }
  async function runOffer() {
    const o = S.offer;
    if (!o) return;
    dropOffer();
    return o.run();
  }
  function clearAlert() {
    const box = $("alert");
    box.hidden = true;
    box.textContent = "";
    box.dataset.code = "";
  }

  // ---- scanning ----------------------------------------------------------------------------------------------
  /* Keystrokes are a type-ahead stream: a scan followed at once by F4 must settle with that pack on the sale, so
   * scans and actions run one after another, in the order they were typed. */
  let queue = Promise.resolve();
  function enqueue(fn) {
    queue = queue.then(fn).catch((e) => showError({ code: "INTERNAL", message: String(e), message_zh: String(e) }));
    return queue;
  }

  /* One Enter in the scan field, after scanguard.js had its say on how the text arrived. */
  async function onEntry(entry, pressedAt) {
    if (entry.composed) return scanMsg(T("ime_altered"), "error");
    if (entry.split || entry.tail) return scanMsg(T("scan_split"), "error");
    return onScanEnter(entry.raw, pressedAt);
  }

  async function onScanEnter(raw, pressedAt) {
    const text = raw.trim();
    if (!text) {
      if (S.offer && (pressedAt ?? performance.now()) - S.offer.at > CONFIRM_DELAY_MS) return runOffer();
      if (S.rxs && S.rxs.length && !S.sale) return chooseRx(0);
      return;
    }
    if (S.refundArmed) {
      if (/^[1-9]$/.test(text) || /[^\x00-\x7f]/.test(text)) {   // the refund's reason: a number of the list, or words
        S.refundReason = refundReason(text);
        return showRefundWarning();
      }
      S.refundArmed = false;       // a scan is not a reason: the refund waits for another F8
      $("btn-refund").classList.remove("armed");
      clearAlert();
    }
    if (/^\d{1,2}$/.test(text) && S.rxs && S.rxs.length && !S.sale) return chooseRx(parseInt(text, 10) - 1);
    if (SALE_ID.test(text)) return loadSale(text.toUpperCase());
    if (SETL_ID.test(text) && await openBySetlId(text)) return;
    const r = await api("POST", "/v1/scans", { raw });
    if (r.dropped) return;
    if (!r.ok) return showError(r.error, "scan");
    return handleScan(r.data, raw, null);
  }

  /* One classified scan, typed (raw known) or from a serial device (the event's answer, masked). */
  async function handleScan(ans, raw, device) {
    const hints = Array.isArray(ans.hints) ? ans.hints : [];
    const blocking = hints.find((h) => BLOCKING_HINTS.includes(h.code));
    switch (ans.kind) {
      case "ecard":
      case "id_card":
      case "ss_card": {
        // an altered credential is not looked up: it would be another person's, or nobody's
        if (blocking) return scanMsg(say(blocking), "error");
        // the service keeps the number and hands out a scan_ref: the page never holds an ID or card number
        if (!ans.scan_ref) return scanMsg(T("device_masked") + (device ? ` (${device})` : ""), "error");
        return askOrIdentify(ans);
      }
      case "trace_code":
      case "gs1":
      case "other_code":
        return addPack(raw != null ? raw.trim() : packFromAnswer(ans));
      case "prescription":
        return pickRxByNumber(ans.hi_rxno);
      default:
        if (raw != null && !ans.error && await openBySetlId(raw.trim())) return;
        if (ans.error) return showError(ans.error, "scan");
        if (hints.length) return scanMsg(say(hints[0]), "error");
        return scanMsg(T("unknown_scan"), "error");
    }
  }

  /* A device scan event carries the parsed pack, not the raw text: rebuild a string the classifier reads. */
  function packFromAnswer(ans) {
    if (ans.kind === "trace_code" || ans.kind === "other_code") return ans.code;
    let s = "(01)" + ans.gtin;
    if (ans.expiry) s += "(17)" + ans.expiry.slice(2, 4) + ans.expiry.slice(5, 7) + ans.expiry.slice(8, 10);
    if (ans.lot) s += "(10)" + ans.lot;
    if (ans.serial) s += "(21)" + ans.serial;
    return s;
  }

  // ---- patient and prescriptions -----------------------------------------------------------------------------
  /* A credential while a sale is open for someone else: ask first (the open sale holds its packs). Scanning the
   * same credential again, or an empty Enter, switches and keeps the sale open to resume; a button cancels it. */
  async function askOrIdentify(ans) {
    const masked = ans.masked || ans.token_masked || "";
    // an e-voucher is answered by a fresh token, never by its QR value: remember what was scanned as well
    const scanned = `${ans.kind}:${masked}`;
    if (S.patient && (S.patient.scanned === scanned ||
                      (S.patient.cert_type === CERT_TYPE[ans.kind] && S.patient.cert_no === masked))) {
      return scanMsg(T("same_patient"), "ok");
    }
    if (S.sale && OPEN_STATES.includes(S.sale.state)) {
      const p = S.pendingSwitch;
      if (p && p.masked === masked && p.kind === ans.kind) return switchPatient(ans.scan_ref, false);
      S.pendingSwitch = { scanRef: ans.scan_ref, masked, kind: ans.kind };
      return showSwitchPrompt();
    }
    return identify(ans.scan_ref, scanned);
  }

  function showSwitchPrompt() {
    const s = S.sale;
    const packs = s.lines.reduce((n, l) => n + (l.trace_codes || []).length, 0);
    const el = $("prompt");
    el.hidden = false;
    el.innerHTML = `<p>${esc(T("switch_prompt").replace("{id}", s.id).replace("{state}", T("state_" + s.state))
        .replace("{packs}", packs))}</p>
      <button type="button" tabindex="-1" data-action="switch-keep">${esc(T("btn_switch_keep"))} <kbd>Enter</kbd></button>
      <button type="button" tabindex="-1" data-action="switch-cancel" class="danger">${esc(T("btn_switch_cancel"))}</button>
      <button type="button" tabindex="-1" data-action="switch-stay">${esc(T("btn_stay"))} <kbd>Esc</kbd></button>`;
    offer("switch", T("switch_offer"), T("btn_switch_keep"), () => switchPatient(S.pendingSwitch.scanRef, false));
  }
  function hidePrompt() {
    S.pendingSwitch = null;
    $("prompt").hidden = true;
    $("prompt").innerHTML = "";
    if (S.offer && S.offer.kind === "switch") dropOffer();
  }
  async function switchPatient(scanRef, cancelOpen) {
    const p = S.pendingSwitch;
    const scanned = p ? `${p.kind}:${p.masked}` : "";
    hidePrompt();
    if (cancelOpen && S.sale && OPEN_STATES.includes(S.sale.state)) {
      const r = await api("DELETE", `/v1/sales/${S.sale.id}`);
      if (r.dropped) return;
      if (!r.ok && r.status !== 404) return showError(r.error);
    }
    return identify(scanRef, scanned);
  }

  async function identify(scanRef, scanned) {
    clearAlert();
    dropOffer();
    const r = await api("POST", "/v1/patients/identify", { scan_ref: scanRef });
    if (r.dropped) return;
    if (!r.ok) return showError(r.error, "scan");
    resetSale();
    S.patient = { ...r.data, scanned: scanned || "" };
    S.rxs = null;
    S.openDrafts = [];
    S.acctUsed = true;
    scanMsg("");
    render();
    const ref = encodeURIComponent(S.patient.patient_ref);
    const p = await api("GET", "/v1/prescriptions?patient_ref=" + ref);
    if (!p.ok) { S.rxs = []; render(); return showError(p.error); }
    S.rxs = p.data.prescriptions || [];
    const o = await api("GET", "/v1/sales/open?patient_ref=" + ref);
    S.openDrafts = o.ok ? o.data.sales || [] : [];
    render();
  }

  /* A scanned prescription number opens that prescription only if it is one of this patient's: a fragment of
   * another code must not send the insurer looking for a prescription that is not there. */
  async function pickRxByNumber(hiRxno) {
    const want = String(hiRxno || "").toUpperCase();
    const i = (S.rxs || []).findIndex((rx) => rx.hi_rxno.toUpperCase() === want || "RX" + rx.hi_rxno === want);
    if (S.patient && i >= 0) return chooseRx(i);
    if (await openBySetlId(String(hiRxno || ""))) return;   // a settlement id may read like a prescription number
    if (!S.patient) return scanMsg(T("need_patient"), "error");
    return scanMsg(T("rx_not_listed").replace("{rx}", hiRxno), "error");
  }

  /* The slip's barcode carries the insurer's settlement id, whose format is the insurer's own: ask rxlane which
   * sale has it (any day: a refund from an older slip). True when a sale was opened. */
  async function openBySetlId(text) {
    if (!/^[0-9A-Za-z_-]{6,64}$/.test(text)) return false;
    const r = await api("GET", "/v1/sales?setl_id=" + encodeURIComponent(text));
    if (!r.ok || !(r.data.sales || []).length) return false;
    await loadSale(r.data.sales[0].id);
    return true;
  }

  async function chooseRx(i) {
    if (!S.patient || !S.rxs || i < 0 || i >= S.rxs.length) return;
    if (S.sale) return;
    const rx = S.rxs[i];
    // the same prescription again: carry on with its open sale (and its packs) rather than start another
    const q = "/v1/sales/open?patient_ref=" + encodeURIComponent(S.patient.patient_ref) + "&hi_rxno=" +
      encodeURIComponent(rx.hi_rxno);
    const open = await api("GET", q);
    if (open.ok && (open.data.sales || []).length) return resumeSale(open.data.sales[0]);
    const lines = rx.lines.filter((l) => l.payment_standard != null)
      .map((l) => ({ med_list_codg: l.med_list_codg, qty: String(l.qty), price: l.payment_standard }));
    return createSale({ hi_rxno: rx.hi_rxno, lines });
  }

  function resumeSale(sale) {
    clearAlert();
    setSale(sale);
    S.acctUsed = sale.acct_used;
    if (sale.presettle && sale.presettle.split) {
      S.money = { title: "presettle_title", split: sale.presettle.split, mismatch: sale.presettle.mismatch || [] };
    }
    const packs = sale.lines.reduce((n, l) => n + (l.trace_codes || []).length, 0);
    render();
    showInfo(T("draft_resumed").replace("{id}", sale.id).replace("{packs}", packs));
  }

  async function createSale({ hi_rxno, lines }) {
    clearAlert();
    const r = await api("POST", "/v1/sales", { patient_ref: S.patient.patient_ref, hi_rxno, lines,
                                               acct_used: S.acctUsed });
    if (r.dropped) return;
    if (!r.ok) return showError(r.error);
    setSale(r.data);
    scanMsg("");
  }

  async function loadSale(id) {
    const r = await api("GET", "/v1/sales/" + id);
    if (!r.ok) return showError(r.error, "scan");
    resetSale();
    setSale(r.data);
    if (r.data.split) {
      S.money = { title: r.data.state === "refunded" ? "refunded_title" : "settled_title", split: r.data.split,
                  mismatch: r.data.mismatch, setl_id: r.data.setl_id, refunded: r.data.state === "refunded",
                  refund: r.data.refund };
    }
    render();
    if (["settled", "refunded"].includes(r.data.state)) showSlip();
  }

  function setSale(sale) {
    if (!S.sale || S.sale.id !== sale.id) S.selfpayBlocked = null;
    S.sale = sale;
    S.selfpay = !!sale.confirm_selfpay;
    render();
  }

  // ---- packs -------------------------------------------------------------------------------------------------
  async function addPack(code, distinctFrom) {
    if (!S.sale) return scanMsg(T(S.patient ? "need_sale" : "need_patient"), "error");
    if (S.offer && S.offer.kind === "release" && S.offer.code === code) return runOffer();   // scanned again: yes
    dropOffer();
    const body = { codes: [code] };
    if (distinctFrom) body.distinct_from = [distinctFrom];
    const r = await api("POST", `/v1/sales/${S.sale.id}/trace-codes`, body);
    if (r.dropped) return;
    if (!r.ok) {
      const err = r.error || {};
      const d = err.details || {};
      if (r.status === 404 && err.code === "NOT_FOUND" && !d.id) {
        S.traceMissing = true;
        return scanMsg(T("trace_unavailable"), "error");
      }
      showError(err, "scan");
      if (err.code === "TRACE_CODE_ALREADY_SOLD" && d.releasable && d.sale_id !== S.sale.id) {
        offer("release", T("offer_release").replace("{id}", d.sale_id), T("btn_release"),
              () => releaseAndAdd(code, d), { code });
      } else if (err.code === "TRACE_CODE_CASE_VARIANT") {
        offer("distinct", T("offer_distinct").replace("{id}", d.sale_id),
              T("btn_distinct").replace("{id}", d.sale_id), () => addPack(code, d.sale_id));
      }
      return;
    }
    clearAlert();
    if (r.data && r.data.lines) setSale({ ...S.sale, ...r.data });
    const warnings = ((r.data && r.data.added) || []).flatMap((a) => a.warnings || []);
    if (warnings.length) scanMsg(T("pack_added") + " " + code + " — " + warnings.map(say).join("；"), "warn");
    else scanMsg(T("pack_added") + " " + code, "ok");
    flashLineFor(code);
  }

  /* The pack is on an open sale nobody is finishing: take it off that sale, then put it on this one. */
  async function releaseAndAdd(code, held) {
    const r = await api("DELETE", `/v1/sales/${held.sale_id}/trace-codes`, { codes: [held.code] });
    if (r.dropped) return;
    if (!r.ok) return showError(r.error, "scan");
    return addPack(code);
  }

  /* Delete (scan field empty): take back the last scanned pack, e.g. one scanned too many. */
  async function removeLastPack() {
    if (!S.sale) return;
    const codes = S.sale.lines.flatMap((l) => l.trace_codes || []);
    if (!codes.length) return;
    const code = codes[codes.length - 1];
    const r = await api("DELETE", `/v1/sales/${S.sale.id}/trace-codes`, { codes: [code] });
    if (r.dropped) return;
    if (!r.ok) return showError(r.error, "scan");
    setSale({ ...S.sale, ...r.data });
    scanMsg(T("pack_removed") + " " + code, "ok");
  }

  function flashLineFor(code) {
    if (!S.sale) return;
    const line = S.sale.lines.find((l) => (l.trace_codes || []).some((c) => code.includes(c) || c.includes(code)));
    if (!line) return;
    const row = document.querySelector(`#sale tr[data-line="${line.line_no}"]`);
    if (row) { row.classList.remove("flash"); void row.offsetWidth; row.classList.add("flash"); }
  }

  // ---- money-moving actions ----------------------------------------------------------------------------------
  function needsSelfpay() {
    return !!S.sale && S.sale.lines.some((l) => !l.eligible && !l.donated);
  }
  /* Lines that may not be sold even wholly self-paid (an unusable prescription …): from the sale's lines, or from
   * the API's LINES_INELIGIBLE answer (details.confirmable false). */
  function unconfirmableLines() {
    if (!S.sale) return [];
    const fromLines = S.sale.lines.filter((l) => !l.eligible && !l.donated && l.confirmable === false);
    if (fromLines.length) return fromLines.map((l) => ({ line_no: l.line_no, name: l.generic_name, reasons: l.reasons }));
    return (S.selfpayBlocked || []).map((l) => {
      const line = S.sale.lines.find((x) => x.line_no === l.line_no);
      return { line_no: l.line_no, name: line ? line.generic_name : l.med_list_codg, reasons: l.reasons || [] };
    });
  }
  function selfpayOffered() {
    return needsSelfpay() && !unconfirmableLines().length;
  }
  function settleBody() {
    return needsSelfpay() ? { confirm_selfpay: S.selfpay } : {};
  }

  async function presettle() {
    if (!S.sale) return scanMsg(T(S.patient ? "need_sale" : "need_patient"), "error");
    clearAlert();
    const r = await api("POST", `/v1/sales/${S.sale.id}/presettle`, settleBody());
    if (r.dropped) return;
    if (!r.ok) return afterFailure(r.error);
    setSale(r.data);
    S.money = { title: "presettle_title", split: r.data.split, mismatch: r.data.mismatch || [] };
    render();
    showInfo(T("presettled_ok"));
  }

  /* F6: leave the personal account out of this sale, or put it back (only where the region allows). */
  async function toggleAccount() {
    if (!SETTINGS.account_optional) return;
    const want = !(S.sale ? S.sale.acct_used : S.acctUsed);
    if (!S.sale) { S.acctUsed = want; render(); return showInfo(T(want ? "acct_on" : "acct_off")); }
    if (!OPEN_STATES.includes(S.sale.state)) return;
    const r = await api("POST", `/v1/sales/${S.sale.id}/account`, { acct_used: want });
    if (r.dropped) return;
    if (!r.ok) return showError(r.error);
    S.acctUsed = want;
    S.money = null;    // a pre-settlement with the other choice no longer holds
    setSale(r.data);
    showInfo(T(want ? "acct_on" : "acct_off"));
  }

  async function settle() {
    if (!S.sale) return scanMsg(T(S.patient ? "need_sale" : "need_patient"), "error");
    if (IN_DOUBT_STATES.includes(S.sale.state)) return showError(inDoubtError());
    clearAlert();
    const r = await api("POST", `/v1/sales/${S.sale.id}/settle`, settleBody());
    if (r.dropped) return;
    if (!r.ok) return afterFailure(r.error);
    setSale(r.data);
    S.money = { title: "settled_title", split: r.data.split, mismatch: r.data.mismatch || [],
                setl_id: r.data.setl_id };
    render();
    showInfo(T("settled_ok") + " ¥" + money(r.data.psn_cash_pay));
    showSlip();
    if (S.dayOpen) loadDay();
  }

  function inDoubtError() {
    return { code: "SETTLEMENT_IN_DOUBT", message: I18N.en.in_doubt, message_zh: I18N.zh.in_doubt };
  }

  async function afterFailure(err) {
    if (err && err.code === "LINES_INELIGIBLE" && err.details && err.details.confirmable === false) {
      S.selfpayBlocked = err.details.lines || [];
    }
    showError(err);
    // The sale may have moved (in doubt, or refused and back to draft): show what the ledger says now.
    if (S.sale) {
      const r = await api("GET", "/v1/sales/" + S.sale.id);
      if (r.ok) { S.sale = r.data; render(); }
    }
    if (err && err.code === "SETTLEMENT_IN_DOUBT") refreshHealth();
  }

  function refundReason(text) {
    const n = /^[1-9]$/.test(text) ? parseInt(text, 10) - 1 : -1;
    return n >= 0 && n < REFUND_REASONS.length ? I18N.zh[REFUND_REASONS[n]] : text.slice(0, 200);
  }

  /* F8 once: a warning (not a success) with what will go back and why; F8 again refunds. */
  function showRefundWarning() {
    const split = (S.sale && S.sale.split) || {};
    const reasons = REFUND_REASONS.map((k, i) =>
      `<li class="${I18N.zh[k] === S.refundReason ? "chosen" : ""}"><kbd>${i + 1}</kbd> ${esc(T(k))}</li>`).join("");
    showWarning(`<p><strong>${esc(T("refund_confirm"))}</strong></p>
      <p>${esc(T("refund_will_return"))} <span class="amount">${esc(T("refund_cash_back"))} ¥${esc(money(split.psn_cash_pay))}</span>
        · <span class="amount">${esc(T("refund_acct_back"))} ¥${esc(money(split.acct_pay))}</span></p>
      <p>${esc(T("refund_reason_label"))}: <strong id="refund-reason">${esc(S.refundReason)}</strong>
        <small>${esc(T("refund_reason_hint"))}</small></p><ol class="reasons">${reasons}</ol>`);
  }

  async function refund(typed) {
    if (!S.sale) return scanMsg(T("need_sale"), "error");
    if (typed) S.refundReason = refundReason(typed);
    if (!S.refundArmed) {
      S.refundArmed = true;
      if (!typed) S.refundReason = I18N.zh[REFUND_REASONS[0]];
      $("btn-refund").classList.add("armed");
      return showRefundWarning();
    }
    S.refundArmed = false;
    $("btn-refund").classList.remove("armed");
    clearAlert();
    const r = await api("POST", `/v1/sales/${S.sale.id}/refund`, { reason: S.refundReason });
    if (r.dropped) return;
    if (!r.ok) return afterFailure(r.error);
    setSale(r.data);
    const split = r.data.split || {};
    S.money = { title: "refunded_title", split, mismatch: [], setl_id: r.data.setl_id, refunded: true,
                refund: r.data.refund };
    render();
    showInfo(T("refunded_give_back").replace("{cash}", money(split.psn_cash_pay))
      .replace("{acct}", money(split.acct_pay)).replace("{reason}", S.refundReason));
    showSlip();
    if (S.dayOpen) loadDay();
  }

  async function print() {
    if (!S.sale) return scanMsg(T("need_sale"), "error");
    const r = await api("POST", `/v1/sales/${S.sale.id}/print`, {});
    if (r.dropped) return;
    if (r.ok) return showInfo(T("printed"));
    if (r.status === 404 || r.status === 405) return showInfo(T("print_unavailable"));
    showError(r.error);
  }

  async function resolve(id) {
    const r = await api("POST", `/v1/sales/${id}/resolve`, {});
    if (r.dropped) return;
    if (!r.ok) return showError(r.error);
    if (S.sale && S.sale.id === id) { S.sale = r.data; render(); }
    clearAlert();
    refreshHealth();
    if (S.dayOpen) loadDay();
  }

  /* The slip: PNG if the service renders one, else the text slip, else a note. */
  function showSlip() {
    if (!S.sale) return;
    const box = $("slip");
    const id = S.sale.id;
    box.hidden = false;
    box.innerHTML = `<h3>${esc(T("slip"))}</h3><div class="slip-body"></div>`;
    const body = box.querySelector(".slip-body");
    const img = new Image();
    img.alt = T("slip");
    img.onload = () => { if (S.sale && S.sale.id === id) { body.innerHTML = ""; body.appendChild(img); } };
    img.onerror = async () => {
      let text = null;
      try {
        const resp = await fetch(`/v1/sales/${id}/slip.txt`);
        if (resp.ok && !(resp.headers.get("Content-Type") || "").includes("json")) text = await resp.text();
      } catch (e) { text = null; }
      if (!S.sale || S.sale.id !== id) return;
      body.innerHTML = text ? `<pre>${esc(text)}</pre>` : `<p class="empty">${esc(T("slip_unavailable"))}</p>`;
    };
    img.src = `/v1/sales/${id}/slip.png?t=${Date.now()}`;
  }

  function resetSale() {
    S.sale = null;
    S.money = null;
    S.selfpay = false;
    S.selfpayBlocked = null;
    S.refundArmed = false;
    dropOffer();
    $("btn-refund").classList.remove("armed");
    $("slip").hidden = true;
    $("slip").innerHTML = "";
  }

  /* Esc: first the half-typed scan; then the customer. A draft sale is cancelled so its packs are free again. */
  async function clearAll() {
    if (S.sale && ["draft", "presettled", "reversed"].includes(S.sale.state)) {
      const r = await api("DELETE", `/v1/sales/${S.sale.id}`);
      if (r.dropped) return;
      if (!r.ok && r.status !== 404 && r.status !== 405) return showError(r.error);
    }
    resetSale();
    hidePrompt();
    S.patient = null;
    S.rxs = null;
    S.openDrafts = [];
    S.acctUsed = true;
    clearAlert();
    scanMsg("");
    render();
  }

  // ---- rendering ---------------------------------------------------------------------------------------------
  function render() {
    renderPatient();
    renderRxs();
    renderSale();
    renderMoney();
    renderButtons();
  }

  /* 参保地: the division's name where the page knows it (divisions.json), with the code. */
  function divisionName(code) {
    const c = String(code || "");
    if (!/^\d{6}$/.test(c)) return c;
    const prov = DIVISIONS.province[c.slice(0, 2)] || "";
    const city = DIVISIONS.city[c.slice(0, 4)] || "";
    const dist = DIVISIONS.district[c] || "";
    return prov ? `${prov}${city}${dist}` : "";
  }
  /* Physicians are codes in a filing; a prescription names its prescriber: use the names the page has seen. */
  function physicianNames() {
    const names = {};
    (S.rxs || []).forEach((rx) => { if (rx.physician_code && rx.physician_name) names[rx.physician_code] = rx.physician_name; });
    return names;
  }

  function renderPatient() {
    const el = $("patient");
    const p = S.patient;
    if (!p) { el.innerHTML = `<p class="empty">${esc(T("no_patient"))}</p>`; return; }
    const insu = I18N[lang]["insutype_" + p.insutype] ? T("insutype_" + p.insutype) : p.insutype;
    const doctors = physicianNames();
    const doctor = (code) => doctors[code] ? `${doctors[code]}（${code}）` : code;
    // a 5301 row names the disease and its dates only; drug, hospital and physicians where a record has them
    const filings = (p.filings || []).map((f) => `
      <li class="${f.valid_today ? "" : "bad"}">
        <strong>${esc(f.opsp_dise_name || f.generic_name || "")}</strong>
        ${f.opsp_dise_code ? `<small class="mono">${esc(f.opsp_dise_code)}</small>` : ""}
        ${f.generic_name && f.opsp_dise_name ? `<span>${esc(f.generic_name)}</span>` : ""}
        ${f.institution_code ? `<span>${esc(f.institution_name || f.institution_code)}</span>` : ""}
        ${f.physicians ? `<span>${esc(T("filing_physicians"))}: ${esc(f.physicians.map(doctor).join("、"))}</span>` : ""}
        <span>${esc(T("filing_valid"))}: ${esc(f.begin)} ~ ${esc(f.end)}${f.valid_today ? "" : " · " + esc(T("filing_invalid"))}</span>
        ${f.review === "pending" ? `<span class="warn">${esc(T("review_pending"))}</span>` : ""}
        ${f.review === "approved" ? `<span>${esc(T("review_approved"))}</span>` : ""}
      </li>`).join("");
    const place = divisionName(p.insuplc_admdvs);
    const after = S.money && S.money.split && S.money.title === "settled_title" ? S.money.split.balc : null;
    el.innerHTML = `
      <dl class="facts">
        <dt>${esc(T("name"))}</dt><dd id="p-name" class="big">${esc(p.person.psn_name)}</dd>
        <dt>${esc(T("certno"))}</dt><dd id="p-certno" class="mono">${esc(p.person.certno)}</dd>
        <dt>${esc(T("insutype"))}</dt><dd id="p-insutype">${esc(insu)} <small>(${esc(p.insutype)})</small></dd>
        <dt>${esc(T("insuplc"))}</dt><dd id="p-insuplc">${place ? esc(place) + " " : ""}<small class="mono">${esc(p.insuplc_admdvs)}</small></dd>
        <dt>${esc(T("balance"))}</dt><dd id="p-balc" class="amount">¥${esc(money(p.balc))}</dd>
        ${after != null ? `<dt>${esc(T("balc_after_settle"))}</dt><dd id="p-balc-after" class="amount">¥${esc(money(after))}</dd>` : ""}
      </dl>
      <details class="filings-box" ${(p.filings || []).length <= 2 ? "open" : ""}><summary>${esc(T("filings"))} (${(p.filings || []).length})</summary>
      ${filings ? `<ul class="filings">${filings}</ul>` : `<p class="warn">${esc(T("no_filings"))}</p>`}</details>`;
  }

  function renderRxs() {
    const el = $("rx-list");
    if (!S.patient || S.rxs === null) { el.innerHTML = S.patient ? `<p class="empty">${esc(T("working"))}</p>` : ""; return; }
    if (!S.rxs.length) { el.innerHTML = `<p class="warn">${esc(T("no_prescriptions"))}</p>`; return; }
    el.innerHTML = "<ol class=\"rxs\">" + S.rxs.map((rx, i) => {
      const chosen = S.sale && S.sale.hi_rxno === rx.hi_rxno;
      const st = I18N.zh["rx_status_" + rx.status] ? T("rx_status_" + rx.status) : rx.status;
      const open = (S.openDrafts || []).find((d) => d.hi_rxno === rx.hi_rxno && OPEN_STATES.includes(d.state));
      const lines = rx.lines.map((l) => `<li>${esc(l.generic_name || l.med_list_codg)} ${esc(l.spec)} × ${esc(l.qty)}
          ${l.eligible ? `<span class="ok">✓</span>${insurerChecks(l)}`
            : l.reasons.map((r) => `<span class="reason">${esc(say(r))}</span>`).join("")}</li>`).join("");
      return `<li class="rx${chosen ? " chosen" : ""}${rx.status !== "valid" ? " stale" : ""}" data-rx="${i}">
          <button type="button" tabindex="-1" data-action="rx" data-index="${i}"><kbd>${i + 1}</kbd> ${esc(T(open && !chosen ? "rx_resume" : "rx_choose"))}</button>
          <div><strong class="mono">${esc(rx.hi_rxno)}</strong> <span class="rx-status">${esc(st)}</span>
            ${open && !chosen ? `<span class="draft-badge">${esc(T("draft_open_badge").replace("{id}", open.id))}</span>` : ""}</div>
          <div>${esc(rx.institution_name || rx.institution_code)} · ${esc(T("physician"))} ${esc(rx.physician_name || rx.physician_code)}
               · ${esc(T("issued_at"))} ${esc(rx.issued_at)}</div>
          <ul>${lines}</ul></li>`;
    }).join("") + "</ol>";
  }

  /* Rules the counter had no facts for (the line's `unknown`): the insurer decides them at settlement. */
  function insurerChecks(line) {
    const rules = line.unknown || [];
    if (!rules.length) return "";
    return `<span class="insurer-checks" title="${esc(rules.map(say).join("；"))}"
      data-codes="${esc(rules.map((r) => r.code).join(" "))}">${esc(T("insurer_checks"))}</span>`;
  }

  function unitOf(spec) {
    const m = /\/([^\/\s]+)$/.exec(spec || "");
    return m && m[1].length <= 2 ? m[1] : T("packs_unit");
  }
  function packsNeeded(qty) {
    const f = fen(qty);
    return Math.max(1, Math.ceil(f / 100));
  }

  function renderSelfpay() {
    const s = S.sale;
    const box = $("selfpay");
    box.hidden = !needsSelfpay() || !s || !OPEN_STATES.includes(s.state);
    if (box.hidden) return;
    const blocked = unconfirmableLines();
    box.classList.toggle("blocked", blocked.length > 0);
    $("selfpay-label").hidden = blocked.length > 0;
    $("selfpay-text").innerHTML = blocked.length
      ? esc(T("selfpay_blocked")) + "<ul>" + blocked.map((l) => `<li>${esc(T("line_n").replace("{n}", l.line_no))} ` +
          `${esc(l.name || "")}：${(l.reasons || []).map((r) => esc(say(r))).join("；")}</li>`).join("") + "</ul>"
      : esc(T("selfpay_needed"));
    $("selfpay-box").checked = S.selfpay;
  }

  function renderSale() {
    const el = $("sale");
    const s = S.sale;
    $("sale-id").textContent = s ? s.id : "";
    const st = $("sale-state");
    st.textContent = s ? T("state_" + s.state) : "";
    st.className = "state" + (s ? " st-" + s.state : "");
    const acct = $("acct-flag");
    const acctUsed = s ? s.acct_used : S.acctUsed;
    acct.hidden = !SETTINGS.account_optional || (!s && acctUsed);
    acct.textContent = T(acctUsed ? "acct_used_label" : "acct_not_used_label");
    acct.className = "acct-flag" + (acctUsed ? "" : " off");
    renderSelfpay();
    if (!s) { el.innerHTML = `<p class="empty">${esc(T("no_sale"))}</p>`; return; }
    const rows = s.lines.map((l) => {
      const have = (l.trace_codes || []).length;
      const need = packsNeeded(l.qty);
      const unit = lang === "en" ? T("packs_unit") : unitOf(l.spec);
      const elig = l.eligible
        ? `<span class="ok" title="${esc(T("eligible"))}">✓ ${esc(T("eligible"))}</span>${insurerChecks(l)}`
        : (l.reasons || []).map((r) => `<div class="reason" data-code="${esc(r.code)}">${esc(say(r))}</div>`).join("");
      return `<tr data-line="${l.line_no}" class="${l.eligible ? "" : "ineligible"}">
        <td>${l.line_no}</td>
        <td><strong>${esc(l.generic_name)}</strong><br><small>${esc(l.drug_name)} ${esc(l.spec)} · ${esc(l.category)}</small></td>
        <td class="num">${esc(l.qty)}</td><td class="num">${esc(money(l.price))}</td>
        <td class="num">${esc(money(l.line_total))}</td><td class="elig">${elig}</td>
        <td class="packs ${have >= need ? "done" : ""}"><span class="pack-count">${have} / ${need} ${esc(unit)}</span>
          ${(l.trace_codes || []).map((c) => `<div class="code mono">${esc(c)}</div>`).join("")}</td></tr>`;
    }).join("");
    el.innerHTML = `<table class="lines"><thead><tr><th>${esc(T("col_no"))}</th><th>${esc(T("col_drug"))}</th>
      <th>${esc(T("col_qty"))}</th><th>${esc(T("col_price"))}</th><th>${esc(T("col_total"))}</th>
      <th>${esc(T("col_elig"))}</th><th>${esc(T("col_packs"))}</th></tr></thead><tbody>${rows}</tbody>
      <tfoot><tr><td colspan="4">${esc(T("medfee_sumamt"))}</td><td class="num" id="sale-total">${esc(money(s.medfee_sumamt))}</td><td colspan="2"></td></tr></tfoot></table>`;
    if (IN_DOUBT_STATES.includes(s.state) && s.state !== "settling" && s.state !== "refunding") {
      showError(inDoubtError());
    }
  }

  /* The split as one strip at the top of the sale: what the fund pays, the account, the cash — and after a
   * refund, what goes back. Amounts are the insurer's, shown as given. */
  function renderMoney() {
    const el = $("split");
    const m = S.money;
    if (!m || !m.split) { el.innerHTML = ""; el.hidden = true; return; }
    el.hidden = false;
    const x = m.split;
    const cell = (key, value, id, cls) =>
      `<div class="cell ${cls || ""}"><span class="label">${esc(T(key))}</span><span class="num" id="${id}">¥${esc(value)}</span></div>`;
    const mism = (m.mismatch || []).length ? `
      <div class="mismatch"><p>${esc(T("mismatch"))}</p><table><thead><tr><th>${esc(T("mm_field"))}</th>
        <th>${esc(T("mm_insurer"))}</th><th>${esc(T("mm_estimate"))}</th></tr></thead><tbody>
        ${m.mismatch.map((d) => `<tr><td>${esc(I18N.zh["f_" + d.field] ? T("f_" + d.field) : "")} <small class="mono">${esc(d.field)}</small></td><td class="num">${esc(d.insurer)}</td>
          <td class="num">${esc(d.estimate)}</td></tr>`).join("")}</tbody></table></div>` : "";
    const head = `<h3>${esc(T(m.title))}${m.setl_id ? ` <small>${esc(T("setl_id"))} <span class="mono" id="setl-id">${esc(m.setl_id)}</span></small>` : ""}</h3>`;
    if (m.refunded) {
      const reason = (m.refund && m.refund.reason) || "";
      el.innerHTML = `${head}<div class="money refunded">
        ${cell("medfee_sumamt", money(x.medfee_sumamt), "m-total")}
        ${cell("refund_fund_back", money(x.fund_pay_sumamt), "m-hifp")}
        ${cell("refund_acct_back", money(x.acct_pay), "m-acct")}
        ${cell("refund_cash_back", money(x.psn_cash_pay), "m-cash", "cash back")}
        </div>${reason ? `<p class="refund-reason">${esc(T("refund_reason_label"))}: <span id="m-reason">${esc(reason)}</span></p>` : ""}`;
      return;
    }
    el.innerHTML = `${head}<div class="money">
        ${cell("medfee_sumamt", money(x.medfee_sumamt), "m-total")}
        ${cell("hifp_pay", money(x.hifp_pay), "m-hifp")}
        ${cell("hifob_hifmi", yuan(fen(x.hifob_pay) + fen(x.hifmi_pay)), "m-big")}
        ${cell("acct_pay", money(x.acct_pay), "m-acct")}
        ${fen(x.fulamt_ownpay_amt) ? cell("fulamt_ownpay_amt", money(x.fulamt_ownpay_amt), "m-ownpay", "minor") : ""}
        ${cell("psn_cash_pay", money(x.psn_cash_pay), "m-cash", "cash")}
        ${cell("balc_after", money(x.balc), "m-balc", "minor")}
      </div>${mism}`;
  }

  function renderButtons() {
    const s = S.sale;
    const st = s ? s.state : null;
    $("btn-presettle").disabled = !s || !OPEN_STATES.includes(st);
    $("btn-settle").disabled = !s || !OPEN_STATES.includes(st);
    $("btn-account").disabled = !SETTINGS.account_optional || (!!s && !OPEN_STATES.includes(st));
    $("btn-selfpay").disabled = !selfpayOffered() || $("selfpay").hidden;
    $("btn-refund").disabled = st !== "settled";
    $("btn-print").disabled = !["settled", "refunded"].includes(st);
  }

  function applyLang() {
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = T(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = T(el.dataset.i18nPlaceholder); });
    render();
    renderStatus();
    if (S.dayOpen) renderDay();
  }

  function toggleLang() {
    lang = lang === "en" ? "zh" : "en";
    localStorage.setItem(LANG_KEY, lang);
    applyLang();
  }

  // ---- status bar, day view, live events ---------------------------------------------------------------------
  async function refreshHealth() {
    const r = await api("GET", "/v1/health");
    S.health = r.ok ? r.data : null;
    if (S.health && S.health.in_doubt) await loadDayData();
    renderStatus();
  }

  function renderStatus() {
    const el = $("status");
    const h = S.health;
    if (!h) { el.innerHTML = `<span class="bad">${esc(T("network_error"))}</span>`; return; }
    const up = h.upstream || {};
    const reach = up.reachable === true ? "status_online" : up.reachable === false ? "status_offline" : "status_unknown";
    const devs = (h.devices || []).map((d) => `<span class="dev dev-${esc(d.state)}" title="${esc(d.error || "")}">
        ${esc(d.name)}: ${esc(T("dev_" + d.state))}${d.error ? " – " + esc(devError(d)) : ""}${d.read_on_request ?
          ` <button type="button" tabindex="-1" data-action="read-card" data-name="${esc(d.name)}">${esc(T("btn_read_card"))} <kbd>F5</kbd></button>` : ""}</span>`).join(" ");
    // Today's in-doubt sales come from the day list; `in_doubt_ids` (if health ever lists them) covers older ones.
    const doubt = !h.in_doubt ? [] : Array.isArray(h.in_doubt_ids) ? h.in_doubt_ids.map((id) => ({ id }))
      : S.daySales.filter((s) => ["in_doubt", "refund_in_doubt"].includes(s.state));
    const outbox = h.outbox || {};
    const depth = outbox.pending ?? outbox.depth ?? outbox.total ?? 0;
    el.innerHTML = `
      <span class="${up.reachable === false ? "bad" : up.reachable ? "ok" : ""}">${esc(T("status_insurer"))}: ${esc(T(reach))}</span>
      <span class="${up.signed_in ? "ok" : "bad"}">${esc(T(up.signed_in ? "status_signed_in" : "status_not_signed_in"))}</span>
      <span>${esc(T("status_devices"))}: ${devs || esc(T("status_no_devices"))}</span>
      <span id="st-outbox">${esc(T("status_outbox"))}: ${esc(depth)}${outbox.parked ? ` (${esc(outbox.parked)}!)` : ""}</span>
      <span id="st-doubt" class="${h.in_doubt ? "bad" : ""}">${esc(T("status_in_doubt"))}: ${esc(h.in_doubt)}
        ${doubt.map((s) => `<button type="button" tabindex="-1" data-action="resolve" data-id="${esc(s.id)}">${esc(T("btn_resolve"))} ${esc(s.id)}</button>`).join("")}</span>
      <span class="ver">rxlane ${esc(h.version)}</span>`;
  }

  /* A device's error in the page's language: the Chinese message when the driver gave one. */
  function devError(d) {
    return lang === "zh" && d.message_zh ? d.message_zh : d.error;
  }

  /* Readers that are asked (a vendor's card library): read a card now. Its scan arrives as an event like any other
     device scan (and identifies the patient); without the event stream the answer itself is used. */
  async function readCard(name) {
    const readers = ((S.health && S.health.devices) || []).filter((d) => d.read_on_request);
    const dev = name || (readers[0] && readers[0].name);
    if (!dev) return scanMsg(T("no_card_reader"), "error");
    clearAlert();
    scanMsg(T("reading_card"));
    const r = await api("POST", "/v1/devices/" + encodeURIComponent(dev) + "/read");
    if (r.dropped) return;
    if (!r.ok) return showError(r.error, "scan");
    scanMsg("");
    if (!S.live) return handleScan(r.data, null, dev);
  }

  async function loadDayData() {
    const today = new Date();
    const day = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, "0")}-${String(today.getDate()).padStart(2, "0")}`;
    const r = await api("GET", "/v1/sales?date=" + day);
    if (r.ok) S.daySales = r.data.sales || [];
  }
  async function loadDay() {
    await loadDayData();
    renderDay();
    renderStatus();
  }
  function renderDay() {
    const el = $("day-list");
    if (!S.daySales.length) { el.innerHTML = `<p class="empty">${esc(T("day_empty"))}</p>`; return; }
    el.innerHTML = `<table class="day-table"><thead><tr><th>${esc(T("col_time"))}</th><th>${esc(T("sale"))}</th>
      <th>${esc(T("col_state"))}</th><th>${esc(T("medfee_sumamt"))}</th><th>${esc(T("col_fund"))}</th>
      <th>${esc(T("col_cash"))}</th><th></th></tr></thead><tbody>` + S.daySales.map((s) => `
      <tr><td>${esc((s.created_at || "").slice(11, 19))}</td><td class="mono"><a href="#" data-action="open" data-id="${esc(s.id)}" tabindex="-1">${esc(s.id)}</a></td>
        <td class="st-${esc(s.state)}">${esc(T("state_" + s.state))}</td><td class="num">${esc(money(s.medfee_sumamt))}</td>
        <td class="num">${esc(money(s.fund_pay_sumamt))}</td><td class="num">${esc(money(s.psn_cash_pay))}</td>
        <td>${["in_doubt", "refund_in_doubt"].includes(s.state) ? `<button type="button" tabindex="-1" data-action="resolve" data-id="${esc(s.id)}">${esc(T("btn_resolve"))}</button>` : ""}</td></tr>`).join("") +
      "</tbody></table>";
  }
  function toggleDay() {
    S.dayOpen = !S.dayOpen;
    $("day").hidden = !S.dayOpen;
    if (S.dayOpen) loadDay();
  }

  function listen() {
    if (!window.EventSource) return;
    const es = new EventSource("/v1/events");
    es.onopen = () => { S.live = true; };
    es.onerror = () => { S.live = false; };
    es.addEventListener("scan", (ev) => {
      let data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      enqueue(() => handleScan(data, data.raw != null ? data.raw : null, data.device || "scanner"));
    });
    es.addEventListener("device", () => refreshHealth());
    es.addEventListener("sale", async (ev) => {
      let data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      if (S.sale && S.sale.id === data.id && S.sale.state !== data.state) {
        const r = await api("GET", "/v1/sales/" + data.id);
        if (r.ok && S.sale && S.sale.id === data.id) { S.sale = { ...S.sale, ...r.data }; render(); }
      }
      if (S.dayOpen) loadDay();
    });
  }

  // ---- keyboard and focus ------------------------------------------------------------------------------------
  const ACTIONS = {
    presettle, settle, refund, print, clear: clearAll, day: toggleDay, lang: toggleLang, account: toggleAccount,
    selfpay: () => { if (selfpayOffered()) { S.selfpay = !S.selfpay; render(); } },
    "read-card": () => readCard(),
  };
  // F5 reads the card (and never reloads the page mid-sale); F6 is the personal-account switch.
  const KEYS = { F2: "presettle", F4: "settle", F5: "read-card", F6: "account", F7: "selfpay", F8: "refund", F9: "print",
                 F3: "day", Escape: "clear" };

  /* Esc steps back one thing at a time: the half-typed scan, a question, an offer, an armed refund, then the
   * customer. */
  function escapeOne() {
    if (scan.value) { scan.value = ""; return true; }
    if (S.pendingSwitch) { hidePrompt(); scanMsg(""); return true; }
    if (S.offer) { dropOffer(); return true; }
    if (S.refundArmed) {
      S.refundArmed = false;
      $("btn-refund").classList.remove("armed");
      clearAlert();
      return true;
    }
    return false;
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.target === scan) guard.noteKey(ev);
    if (ev.defaultPrevented) return;
    const name = KEYS[ev.key];
    if (name) {
      ev.preventDefault();
      if (name === "clear" && escapeOne()) return;
      if (name !== "refund" && S.refundArmed) { S.refundArmed = false; $("btn-refund").classList.remove("armed"); }
      if (name !== "day" && name !== "selfpay") scanMsg("");
      let typed = "";
      if (name === "refund" && S.refundArmed) { typed = scan.value.trim(); scan.value = ""; }
      scan.focus();
      if (name === "day") return toggleDay();
      enqueue(() => {
        const btn = document.querySelector(`[data-action="${name}"]`);
        if (btn && btn.disabled && name !== "clear") return;
        return name === "refund" ? refund(typed) : ACTIONS[name]();
      });
      return;
    }
    if (ev.key === "Delete" && ev.target === scan && !scan.value) {
      ev.preventDefault();
      enqueue(removeLastPack);
    } else if (ev.key === "Enter" && ev.target === scan) {
      ev.preventDefault();
      if (ev.isComposing) return;          // the input method's own Enter: the composition is still going on
      const raw = scan.value;
      scan.value = "";
      const entry = guard.take(raw);
      const pressedAt = performance.now();
      enqueue(async () => onEntry(await guard.settled(entry), pressedAt));
    } else if (ev.key.length === 1 && document.activeElement !== scan && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
      // A scanner firing while something else has focus: send the keystrokes to the scan field.
      scan.focus();
    }
  }, true);

  document.addEventListener("click", (ev) => {
    const t = ev.target.closest("[data-action]");
    if (t) {
      ev.preventDefault();
      const a = t.dataset.action;
      if (a === "rx") enqueue(() => chooseRx(parseInt(t.dataset.index, 10)));
      else if (a === "resolve") enqueue(() => resolve(t.dataset.id));
      else if (a === "open") enqueue(() => loadSale(t.dataset.id));
      else if (a === "read-card") enqueue(() => readCard(t.dataset.name));
      else if (a === "offer") enqueue(runOffer);
      else if (a === "switch-keep" && S.pendingSwitch) { const p = S.pendingSwitch; enqueue(() => switchPatient(p.scanRef, false)); }
      else if (a === "switch-cancel" && S.pendingSwitch) { const p = S.pendingSwitch; enqueue(() => switchPatient(p.scanRef, true)); }
      else if (a === "switch-stay") hidePrompt();
      else if (a === "day" || a === "lang") ACTIONS[a]();
      else if (ACTIONS[a] && !t.disabled) enqueue(ACTIONS[a]);
    } else {
      const rx = ev.target.closest("li.rx");
      if (rx) enqueue(() => chooseRx(parseInt(rx.dataset.rx, 10)));
    }
    scan.focus();
  });
  $("selfpay-box").addEventListener("change", (ev) => { S.selfpay = ev.target.checked; render(); scan.focus(); });

  // The scan field keeps the focus: a keyboard-wedge scanner types wherever the focus is.
  document.addEventListener("focusout", () => setTimeout(() => {
    const a = document.activeElement;
    if (!a || a === document.body || a.tagName === "BUTTON" || a.tagName === "A" || a.type === "checkbox") scan.focus();
  }, 0));
  window.addEventListener("focus", () => scan.focus());

  applyLang();
  scan.focus();
  refreshHealth();
  setInterval(refreshHealth, 10000);
  listen();
  // For tests and the curious: the page state, read-only by convention.
  window.rxlaneCounter = { state: S };
})();
