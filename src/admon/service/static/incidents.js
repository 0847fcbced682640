/* The incidents page: one click gives a verdict on a whole incident (POST /api/incidents/{id}/label). */
(function () {
  "use strict";
  const message = document.getElementById("incident-message");
  document.querySelectorAll("#incident-list button[data-verdict]").forEach((b) => b.addEventListener("click", async () => {
    const tr = b.closest("tr"), verdict = b.dataset.verdict;
    try {
      const r = await fetch("/api/incidents/" + encodeURIComponent(tr.dataset.incident) + "/label", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ verdict }),
      });
      const body = await r.json().catch(() => ({ detail: r.statusText }));
      if (!r.ok) throw new Error(body.detail || r.statusText);
      const cell = tr.querySelector(".verdict");
      cell.textContent = verdict.replace("_", " "); cell.className = "verdict";
      message.textContent = "judged " + verdict.replace("_", " "); message.className = "ok";
    } catch (e) { message.textContent = e.message; message.className = "error"; }
  }));
})();
