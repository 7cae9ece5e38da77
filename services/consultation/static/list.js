// The list of consultations (视频会商): read again every few seconds, so that a call ringing
// shows without reloading the page. A reload (<meta refresh>) would wipe what a clerk is typing
// in the form above and move a keyboard user's focus (WCAG 2.2.1); this replaces the list
// alone, never while focus is in it, and says how many calls ring (role=status) when that
// changes. Every text comes from the server's page, translated there.
"use strict";
(() => {
  const list = document.getElementById("consultations");
  const status = document.getElementById("list-status");
  if (!list || !status) return;
  const every = Number(list.dataset.refreshSeconds || 10) * 1000;

  async function refresh() {
    try {
      const answer = await fetch(location.pathname, { credentials: "same-origin" });
      const page = answer.ok ? new DOMParser().parseFromString(await answer.text(), "text/html") : null;
      const fresh = page && page.getElementById("consultations");
      if (fresh && !list.contains(document.activeElement)) {
        if (fresh.innerHTML !== list.innerHTML) list.innerHTML = fresh.innerHTML;
        if (fresh.dataset.ringing !== list.dataset.ringing) {
          list.dataset.ringing = fresh.dataset.ringing;
          status.textContent = fresh.dataset.ringing;
        }
      }
    } catch (error) {
      // Offline for a moment: the next round tries again.
    }
    setTimeout(refresh, every);
  }
  setTimeout(refresh, every);
})();
