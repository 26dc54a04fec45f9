// Review screen: keyboard navigation and feedback (j/k, Enter, r/t/f), and new events without a reload
// (polls a small endpoint that answers 204 while nothing is new). Plain script, no library.
"use strict";
(function () {
  const events = document.getElementById("events");
  const live = document.getElementById("live");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const POLL_MS = 3000;
  let current = null; // id of the card that has the keyboard's attention

  const cards = () => Array.from(events.querySelectorAll(".card"));
  const list = () => events.querySelector(".list");

  function select(card) {
    if (!card) return;
    cards().forEach((c) => c.classList.toggle("current", c === card));
    current = card.dataset.id;
    card.focus();
  }

  function move(step) {
    const all = cards();
    if (!all.length) return;
    const i = all.findIndex((c) => c.dataset.id === current);
    select(all[Math.min(all.length - 1, Math.max(0, i < 0 ? 0 : i + step))]);
  }

  async function mark(card, verdict) {
    const body = new FormData();
    body.append("csrf", csrf);
    body.append("verdict", verdict);
    const r = await fetch(`/ui/events/${card.dataset.id}/feedback`, {
      method: "POST", body, headers: { Accept: "application/json" }, credentials: "same-origin",
    });
    if (!r.ok) { live.textContent = `Could not record the verdict (${r.status}).`; return; }
    const fb = await r.json();
    const label = fb.verdict === "true_positive" ? ["tp", "true positive"]
      : fb.verdict === "false_positive" ? ["fp", "false positive"] : ["rv", "reviewed"];
    card.querySelector(".state").innerHTML = `<span class="verdict ${label[0]}">${label[1]}</span>`;
    const p = fb.rule_precision;
    const row = document.querySelector(`#precision li[data-rule="${CSS.escape(fb.rule_id)}"] .value`);
    if (row && p) {
      row.textContent = p.precision === null ? "no verdicts yet"
        : `${Math.round(100 * p.precision)}% (${p.true_positive} true, ${p.false_positive} false of ${p.events} events)`;
    }
    live.textContent = `Marked ${label[1]}.`;
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.target.closest("input, select, textarea, button, a:not(.card a)")) return;
    const card = cards().find((c) => c.dataset.id === current);
    switch (ev.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "Enter": case "o": if (card) window.location = card.dataset.href; else return; break;
      case "r": if (card) mark(card, "reviewed"); else return; break;
      case "t": if (card) mark(card, "true_positive"); else return; break;
      case "f": if (card) mark(card, "false_positive"); else return; break;
      default: return;
    }
    ev.preventDefault();
  });
  events.addEventListener("focusin", (ev) => {
    const card = ev.target.closest(".card");
    if (card) { current = card.dataset.id; cards().forEach((c) => c.classList.toggle("current", c === card)); }
  });

  async function poll() {
    if (document.visibilityState === "visible") {
      try {
        const top = list() ? list().dataset.top : "";
        const r = await fetch(`${events.dataset.fresh}&top=${encodeURIComponent(top)}`,
          { credentials: "same-origin", headers: { Accept: "text/html" } });
        if (r.status === 200) {
          const before = new Set(cards().map((c) => c.dataset.id));
          const hadFocus = events.contains(document.activeElement);
          events.innerHTML = await r.text();
          const fresh = cards().filter((c) => !before.has(c.dataset.id)).length;
          if (fresh) live.textContent = `${fresh} new event${fresh > 1 ? "s" : ""}.`;
          const again = cards().find((c) => c.dataset.id === current);
          if (again) { again.classList.add("current"); if (hadFocus) again.focus(); }
        } else if (r.status === 401) {
          window.location = "/ui/login";
          return;
        }
      } catch (e) { /* the server is restarting: try again later */ }
    }
    setTimeout(poll, POLL_MS);
  }
  if (!new URLSearchParams(window.location.search).has("cursor")) setTimeout(poll, POLL_MS);
})();
