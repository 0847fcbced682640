/* The labelling queue page: label the shown window (its incident's verdict when it has one,
   else a range label), then the next; the count done and left. */
(function () {
  "use strict";
  const queue = document.getElementById("queue");
  if (!queue) return;
  const message = document.getElementById("queue-message");
  const done = document.getElementById("queue-done"), left = document.getElementById("queue-left");
  const items = Array.from(queue.querySelectorAll(".queue-item"));
  const VERDICT = { anomaly: "confirmed", normal: "false_alarm", expected: "expected" };
  let labelled = 0;

  function next(item) {
    item.hidden = true;
    left.textContent = String(Number(left.textContent) - 1);
    const following = items[Number(item.dataset.index) + 1];
    if (following) following.hidden = false;
    else message.textContent = "queue done";
  }

  async function post(url, body) {
    const r = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const answer = await r.json().catch(() => ({ detail: r.statusText }));
    if (!r.ok) throw new Error(typeof answer.detail === "string" ? answer.detail : JSON.stringify(answer.detail));
  }

  items.forEach((item) => item.querySelectorAll("button[data-label]").forEach((b) => b.addEventListener("click", async () => {
    const label = b.dataset.label;
    try {
      if (label) {
        if (item.dataset.incident) {
          await post("/api/incidents/" + encodeURIComponent(item.dataset.incident) + "/label", { verdict: VERDICT[label] });
        } else {
          await post("/api/entities/" + queue.dataset.entity + "/annotations", {
            label, start_ms: Number(item.dataset.start), end_ms: Number(item.dataset.end),
            group_key: JSON.parse(item.dataset.group), kind: "queue",
          });
        }
        labelled += 1;
        done.textContent = String(labelled);
        message.textContent = "labelled " + label; message.className = "ok";
      }
      next(item);
    } catch (e) { message.textContent = e.message; message.className = "error"; }
  })));
})();
