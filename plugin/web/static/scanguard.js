/* What the keyboard and the input method do to a keyboard-wedge scan before the page sees it
 * (plugin/scanhints.py says the same from the server's side).
 *
 * - Caps Lock swaps the case of every letter the scanner types: the page shows a warning while it is on
 *   (KeyboardEvent.getModifierState("CapsLock"), read on every key).
 * - A scanner that sends FNC1/GS as Ctrl+] loses it in a browser (no character is inserted): the guard inserts the
 *   control character itself, so the GS1 fields stay apart.
 * - An input method in Chinese mode composes the scanner's letters and may commit part of a scan early, so one
 *   scan arrives as two Enter-terminated pieces. A scan typed during a composition is refused; so is a scan-speed
 *   burst that goes on within `splitWindowMs` after its Enter — both pieces — because either piece alone could be
 *   read as another ID number or prescription. A human never types that fast, so hand-typed input is untouched.
 */
(() => {
  "use strict";

  const FAST_MS = 35;        // a scanner types a character every few ms; a person every 100 ms or more
  const FAST_MIN_CHARS = 6;

  window.RxlaneScanGuard = function (input, opts) {
    const splitWindowMs = opts.splitWindowMs || 60;
    const onCaps = opts.onCaps || (() => {});
    const gs = "\x1d";
    let burst = fresh();
    let last = null;         // the entry of the last Enter: {raw, fast, composed, split, tail, at}
    let caps = false;

    function fresh(tail) {
      return { first: 0, lastAt: 0, count: 0, composed: false, tail: !!tail };
    }

    function noteCaps(ev) {
      if (!ev.getModifierState) return;
      const on = ev.getModifierState("CapsLock");
      if (on !== caps) { caps = on; onCaps(on); }
    }

    function noteKey(ev) {
      const now = performance.now();
      if (ev.isComposing || ev.key === "Process" || ev.keyCode === 229) burst.composed = true;
      if (ev.ctrlKey && !ev.altKey && !ev.metaKey && (ev.code === "BracketRight" || ev.key === "]")) {
        // Ctrl+] is how a wedge scanner types GS; the browser would drop it
        ev.preventDefault();
        insert(gs);
        count(now);
        return;
      }
      if (ev.key.length !== 1 || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      if (!burst.count && last && last.fast && now - last.at < splitWindowMs) {
        // the scan went on after its Enter: the Enter came from the input method, not the scanner
        last.split = true;
        burst = fresh(true);
      }
      count(now);
    }

    function count(now) {
      if (!burst.count) burst.first = now;
      burst.lastAt = now;
      burst.count += 1;
    }

    function insert(text) {
      const start = input.selectionStart ?? input.value.length;
      const end = input.selectionEnd ?? start;
      input.value = input.value.slice(0, start) + text + input.value.slice(end);
      input.selectionStart = input.selectionEnd = start + text.length;
    }

    /* Enter in the scan field: the entry to act on once `settled` says it was not split. */
    function take(raw) {
      const now = performance.now();
      const n = burst.count;
      const fast = n >= FAST_MIN_CHARS && (burst.lastAt - burst.first) / Math.max(1, n - 1) < FAST_MS;
      const entry = { raw, fast: fast || burst.tail, composed: burst.composed, split: false, tail: burst.tail, at: now };
      last = entry;
      burst = fresh();
      return entry;
    }

    function settled(entry) {
      return new Promise((resolve) => setTimeout(() => resolve(entry), entry.fast ? splitWindowMs : 0));
    }

    input.addEventListener("compositionstart", () => { burst.composed = true; });
    document.addEventListener("keydown", noteCaps, true);
    document.addEventListener("keyup", noteCaps, true);
    window.addEventListener("blur", () => { burst = fresh(); });

    return { noteKey, take, settled, get capsLock() { return caps; } };
  };
})();
