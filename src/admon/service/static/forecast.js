/* A forecast entity's link, drawn with uPlot (vendored, works offline): the history, the
 * forecast mean with its band, the rule's threshold, and the predicted episodes shaded.
 * The data is the page's embedded JSON (the same as /api/entities/{id}/forecast). */
(function () {
  "use strict";
  const root = document.getElementById("forecast-plot"), tip = document.getElementById("forecast-tip");
  const d = JSON.parse(document.getElementById("forecast-data").textContent);
  if (typeof uPlot === "undefined") return;
  // one time axis for every series: the union of the history's and the forecast's times
  const xs = Array.from(new Set(d.history.timestamp.concat(d.forecast.timestamp))).sort((a, b) => a - b);
  const at = (ts, vs) => { const m = new Map(ts.map((t, i) => [t, vs[i]])); return xs.map((t) => (m.has(t) ? m.get(t) : null)); };
  const history = at(d.history.timestamp, d.history.value);
  const mean = at(d.forecast.timestamp, d.forecast.mean), lower = at(d.forecast.timestamp, d.forecast.lower);
  const upper = at(d.forecast.timestamp, d.forecast.upper);
  const threshold = xs.map(() => d.threshold);
  const iso = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");
  const num = (v) => (v === null || v === undefined ? "-" : Math.abs(v) >= 1e6 ? (v / 1e6).toFixed(1) + "M" : v.toFixed(1));
  const ticks = (u, splits, i, space, incr) => splits.map((t) => {
    const s = new Date(t).toISOString();
    return (incr >= 86400e3 || t % 86400e3 === 0) ? s.slice(5, 10) : s.slice(11, 16);
  });

  function episodes(u) {
    const ctx = u.ctx;
    ctx.save();
    ctx.fillStyle = "rgba(214, 39, 40, 0.15)";
    for (const e of d.episodes) {
      const x0 = Math.max(u.valToPos(e.start_ms, "x", true), u.bbox.left);
      const x1 = Math.min(u.valToPos(e.end_ms, "x", true), u.bbox.left + u.bbox.width);
      if (x1 > x0) ctx.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
    }
    ctx.restore();
  }

  const chart = new uPlot({
    width: Math.max(400, root.clientWidth), height: 380,
    ms: 1, tzDate: (ts) => uPlot.tzDate(new Date(ts), "Etc/UTC"),
    legend: { show: false },
    cursor: { drag: { x: true, y: false }, points: { show: false } },
    scales: { x: { time: true } },
    axes: [
      { stroke: "#444", grid: { stroke: "#f1f1f1" }, values: ticks },
      { stroke: "#555", grid: { stroke: "#eee" }, size: 70, label: d.value_column, labelSize: 14,
        labelFont: "11px system-ui, sans-serif", values: (u, s) => s.map(num) },
    ],
    series: [
      {},
      { label: d.value_column, stroke: "#1f77b4", width: 1.4, points: { show: false } },
      { label: "forecast", stroke: "#ff7f0e", width: 1.4, dash: [5, 3], spanGaps: true, points: { show: false } },
      { label: "upper", stroke: "rgba(255,127,14,0.35)", width: 1, spanGaps: true, points: { show: false } },
      { label: "lower", stroke: "rgba(255,127,14,0.35)", width: 1, spanGaps: true, points: { show: false } },
      { label: "threshold", stroke: "#d62728", width: 1.2, dash: [8, 4], show: d.threshold !== null, points: { show: false } },
    ],
    bands: [{ series: [3, 4], fill: "rgba(255,127,14,0.18)" }],
    hooks: {
      drawClear: [episodes],
      setCursor: [(u) => {
        const i = u.cursor.idx;
        if (i === null || i === undefined || u.cursor.left < 0) { tip.hidden = true; return; }
        tip.textContent = [iso(xs[i]), d.value_column + ": " + num(history[i]),
          "forecast: " + num(mean[i]) + " (" + num(lower[i]) + " – " + num(upper[i]) + ")"].join("\n");
        tip.hidden = false;
        const box = tip.parentElement.getBoundingClientRect(), over = u.over.getBoundingClientRect();
        tip.style.left = Math.min(over.left - box.left + u.cursor.left + 14, box.width - 240) + "px";
        tip.style.top = (over.top - box.top + u.cursor.top + 12) + "px";
      }],
    },
  }, [xs, history, mean, upper, lower, threshold], root);
  chart.over.addEventListener("mouseleave", () => { tip.hidden = true; });
  window.addEventListener("resize", () => chart.setSize({ width: Math.max(400, root.clientWidth), height: 380 }));
  root.dataset.rendered = "true";
  root.dataset.points = String(d.history.timestamp.length);
  root.dataset.forecastSteps = String(d.forecast.timestamp.length);
  root.dataset.episodes = String(d.episodes.length);
})();
