/* The run history of the entity page, drawn with uPlot (vendored, works offline): one bar per
 * run at its window end, stacked by stage (seconds), with the run's status as a coloured mark
 * under the bar. The data is the page's embedded JSON (#run-history-data). */
(function () {
  "use strict";
  const root = document.getElementById("run-history"), source = document.getElementById("run-history-data");
  if (!root || !source || typeof uPlot === "undefined") return;
  const h = JSON.parse(source.textContent);
  const runs = h.runs, xs = runs.map((r) => r.window_end_ms);
  if (!runs.length) return;
  const OTHER = "#b8c2cc";
  // cumulative seconds up to each stage, plus what no stage accounts for ("other") on top
  const cum = [];
  let acc = runs.map(() => 0);
  h.stages.forEach((_, k) => { acc = acc.map((v, i) => v + runs[i].stages[k]); cum.push(acc); });
  const total = runs.map((r, i) => Math.max(r.total, acc[i]));
  // drawn largest first: each later (shorter) bar covers the lower part of the one before
  const layers = [{ label: "other", values: total, colour: OTHER }]
    .concat(h.stages.map((name, k) => ({ label: name, values: cum[k], colour: h.colours[k] })).reverse());
  const gaps = xs.slice(1).map((x, i) => x - xs[i]).filter((g) => g > 0);
  const pad = gaps.length ? Math.min(...gaps) : 3600e3;
  const bars = uPlot.paths.bars({ size: [0.7, 28], align: 0 });
  const iso = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");
  const tip = document.getElementById("run-history-tip");

  function statusMarks(u) {
    const ctx = u.ctx, px = uPlot.pxRatio, y = u.bbox.top + u.bbox.height + 2 * px;
    ctx.save();
    runs.forEach((r, i) => {
      const x = u.valToPos(xs[i], "x", true);
      ctx.fillStyle = h.status_colours[r.status] || "#757575";
      ctx.fillRect(x - 5 * px, y, 10 * px, 5 * px);
    });
    ctx.restore();
  }

  const chart = new uPlot({
    width: Math.max(400, root.clientWidth), height: 220,
    ms: 1, tzDate: (ts) => uPlot.tzDate(new Date(ts), "Etc/UTC"),
    legend: { show: false },
    cursor: { drag: { x: false, y: false }, points: { show: false }, y: false },
    scales: {
      x: { time: true, range: () => [xs[0] - pad, xs[xs.length - 1] + pad] },
      y: { range: (u, lo, hi) => [0, Math.max(hi || 0, 0.001) * 1.1] },
    },
    axes: [
      { stroke: "#444", grid: { stroke: "#f1f1f1" }, gap: 10, values: (u, splits, i, space, incr) => splits.map((t) => {
        const s = new Date(t).toISOString();
        return (incr >= 86400e3 || t % 86400e3 === 0) ? s.slice(5, 10) : s.slice(11, 16);
      }) },
      { stroke: "#555", grid: { stroke: "#eee" }, size: 64, label: "seconds", labelSize: 14,
        labelFont: "11px system-ui, sans-serif", values: (u, s) => s.map((v) => (v < 10 ? v.toFixed(2) : v.toFixed(0))) },
    ],
    series: [{}].concat(layers.map((l) => ({ label: l.label, fill: l.colour, stroke: l.colour, width: 0, paths: bars,
      points: { show: false } }))),
    hooks: {
      draw: [statusMarks],
      setCursor: [(u) => {
        const i = u.cursor.idx;
        if (!tip) return;
        if (i === null || i === undefined || u.cursor.left < 0) { tip.hidden = true; return; }
        const r = runs[i];
        tip.textContent = ["window end " + iso(r.window_end_ms), "status " + r.status]
          .concat(h.stages.map((name, k) => name + ": " + r.stages[k].toFixed(3) + " s"))
          .concat(["total " + total[i].toFixed(3) + " s"]).join("\n");
        tip.hidden = false;
        const box = tip.parentElement.getBoundingClientRect(), over = u.over.getBoundingClientRect();
        tip.style.left = Math.min(over.left - box.left + u.cursor.left + 14, box.width - 220) + "px";
        tip.style.top = (over.top - box.top + 10) + "px";
      }],
    },
  }, [xs].concat(layers.map((l) => l.values)), root);
  chart.over.addEventListener("mouseleave", () => { if (tip) tip.hidden = true; });
  window.addEventListener("resize", () => chart.setSize({ width: Math.max(400, root.clientWidth), height: 220 }));
  root.dataset.rendered = "true";
})();
