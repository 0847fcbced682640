/* The overview heatmap (like Elastic's swimlane), drawn with uPlot (vendored, works offline).
 *
 * Rows are groups (worst first), columns time buckets; a cell is coloured by the severity of
 * its worst result (neutral when normal, blank without a result), open incidents are outlined.
 * Clicking a cell opens the entity page on that group, around that time, with the bucket selected.
 * The data is the page's embedded JSON (the same as /api/.../overview).
 */
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const data = JSON.parse($("overview-data").textContent);
  const root = $("overview-heatmap"), tip = $("overview-tip");
  const SEVERITY = { warning: "#8bc8fb", minor: "#fdec25", major: "#fba740", critical: "#fe5050" };
  const NORMAL = "#dfe5ec";
  const PEER = "#14273e";  // the dot on a peer anomaly's cell
  const ROW_H = 24, HOUR = 3600e3, DAY = 24 * HOUR;
  const rows = data.groups.length, n = data.buckets.length;
  const iso = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");

  // --- range form: the quick spans end where the range ends --------------------------------
  document.querySelectorAll(".quick button").forEach((b) => b.addEventListener("click", () => {
    let end = Date.parse($("range-end").value.trim().replace(" ", "T").replace(/([^Z])$/, "$1Z"));
    if (isNaN(end)) end = data.end_ms;
    $("range-end").value = iso(end);
    $("range-start").value = iso(end - Number(b.dataset.span));
    $("range-form").submit();
  }));

  /* Time ticks in UTC, 24-hour: "05-11" at midnight or for day steps, else "14:00". */
  function utcTicks(u, splits, axisIdx, space, incr) {
    return splits.map((t) => {
      const s = new Date(t).toISOString();
      return (incr >= DAY || t % DAY === 0) ? s.slice(5, 10) : s.slice(11, 16);
    });
  }

  function label(g) {
    const text = g.label || "(all)";
    return data.scope === "project" ? g.entity_title + " · " + text : text;
  }

  /* The entity page on row r around bucket i, the bucket selected. */
  function cellHref(r, i) {
    const g = data.groups[r], from = data.buckets[i], to = from + data.bucket_ms;
    const pad = Math.max(8 * data.bucket_ms, 3 * HOUR);
    const q = new URLSearchParams({ start: from - pad, end: to + pad, focus_start: from, focus_end: to });
    if (g.label) q.set("group", g.label);
    return "/entities/" + g.entity_id + "?" + q;
  }
  document.querySelectorAll("#overview-rows tr[data-row]").forEach((tr) => {
    const r = Number(tr.dataset.row), worst = data.groups[r].worst_bucket;
    tr.querySelector("a.open-group").href = worst === null ? "/entities/" + data.groups[r].entity_id : cellHref(r, worst);
  });

  if (!rows || typeof uPlot === "undefined") { root.dataset.rendered = "true"; root.dataset.rows = String(rows); return; }

  const ctxFont = "12px system-ui, sans-serif";
  const measure = document.createElement("canvas").getContext("2d");
  measure.font = ctxFont;
  const labels = data.groups.map(label);
  const labelWidth = Math.min(320, Math.max(80, ...labels.map((t) => measure.measureText(t).width))) + 16;
  const short = (t) => {
    if (measure.measureText(t).width <= labelWidth - 16) return t;
    while (t.length > 4 && measure.measureText(t + "…").width > labelWidth - 16) t = t.slice(0, -1);
    return t + "…";
  };
  const xs = data.buckets.concat([data.buckets[n - 1] + data.bucket_ms]);

  function cellRect(u, r, i) {
    const x0 = u.valToPos(data.buckets[i], "x", true), x1 = u.valToPos(data.buckets[i] + data.bucket_ms, "x", true);
    const y0 = u.valToPos(r - 0.5, "y", true), y1 = u.valToPos(r + 0.5, "y", true);
    return [Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0)];
  }

  function drawCells(u) {
    const ctx = u.ctx, dpr = uPlot.pxRatio, gap = Math.max(1, dpr);
    ctx.save();
    ctx.beginPath(); ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height); ctx.clip();
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < n; i++) {
        const score = data.scores[r][i];
        if (score === null) continue;  // no result: the blank background
        const [x, y, w, h] = cellRect(u, r, i);
        ctx.fillStyle = SEVERITY[data.severities[r][i]] || NORMAL;
        ctx.fillRect(x + gap / 2, y + gap / 2, Math.max(w - gap, 1), Math.max(h - gap, 1));
        if (data.groups[r].peer && data.severities[r][i]) {
          // a peer anomaly: this group against the others in the bucket, not against its own past
          ctx.fillStyle = PEER;
          ctx.beginPath();
          ctx.arc(x + w / 2, y + h / 2, Math.max(2, Math.min(w, h) / 5), 0, 2 * Math.PI);
          ctx.fill();
        }
      }
    }
    // incidents: an outline over the buckets they span (open: thick and dark; resolved: thin)
    for (const inc of data.incidents) {
      // whole buckets from its start through its end (open: to the range's end), the end included:
      // a window's result is stamped at the window's end, which is the incident's end
      const last = Math.max(inc.end === null ? xs[n] : inc.end + 1, (inc.peak_timestamp || 0) + 1);
      const snap = (t, up) => xs[0] + (up ? Math.ceil : Math.floor)((t - xs[0]) / data.bucket_ms) * data.bucket_ms;
      const from = Math.max(snap(inc.start, false), xs[0]), to = Math.min(snap(last, true), xs[n]);
      if (to <= from) continue;
      const x0 = u.valToPos(from, "x", true), x1 = u.valToPos(to, "x", true);
      const [, y, , h] = cellRect(u, inc.row, 0);
      ctx.lineWidth = (inc.open ? 2.5 : 1) * dpr;
      ctx.strokeStyle = inc.open ? "#14273e" : "#8a96a3";
      ctx.setLineDash(inc.open ? [] : [4 * dpr, 3 * dpr]);
      ctx.strokeRect(x0 + ctx.lineWidth / 2, y + ctx.lineWidth / 2, x1 - x0 - ctx.lineWidth, h - ctx.lineWidth);
    }
    ctx.restore();
  }

  function cellAt(u) {
    const left = u.cursor.left, top = u.cursor.top;
    if (left == null || left < 0 || top == null || top < 0) return null;
    const t = u.posToVal(left, "x"), r = Math.round(u.posToVal(top, "y"));
    const i = Math.floor((t - data.buckets[0]) / data.bucket_ms);
    return (r >= 0 && r < rows && i >= 0 && i < n) ? [r, i] : null;
  }

  function showTip(u) {
    const at = cellAt(u);
    if (!at) { tip.hidden = true; u.over.style.cursor = "default"; return; }
    const [r, i] = at, score = data.scores[r][i], band = data.severities[r][i];
    const open = data.incidents.filter((inc) => inc.row === r && inc.open && inc.start < data.buckets[i] + data.bucket_ms &&
      (inc.end === null || inc.end > data.buckets[i]));
    tip.textContent = [labels[r], iso(data.buckets[i]) + " → " + iso(data.buckets[i] + data.bucket_ms),
      score === null ? "no result" : "worst score " + score.toFixed(2) + (band ? " (" + band + ")" : " (normal)")]
      .concat(band && data.groups[r].peer ? ["peer anomaly: unlike the other groups in this bucket"] : [])
      .concat(open.length ? ["open incident, peak " + open[0].peak_score.toFixed(2)] : []).join("\n");
    tip.hidden = false;
    u.over.style.cursor = score === null ? "default" : "pointer";
    const box = tip.parentElement.getBoundingClientRect(), over = u.over.getBoundingClientRect();
    tip.style.left = Math.min(over.left - box.left + u.cursor.left + 14, box.width - 260) + "px";
    tip.style.top = (over.top - box.top + u.cursor.top + 14) + "px";
  }

  const opts = {
    width: Math.max(400, root.clientWidth),
    height: rows * ROW_H + 44,
    ms: 1,
    tzDate: (ts) => uPlot.tzDate(new Date(ts), "Etc/UTC"),
    legend: { show: false },
    cursor: { x: false, y: false, points: { show: false }, drag: { x: false, y: false } },
    scales: {
      x: { time: true, auto: false, range: () => [xs[0], xs[n]] },
      y: { auto: false, dir: -1, range: () => [-0.5, rows - 0.5] },
    },
    axes: [
      { stroke: "#444", grid: { stroke: "#eef1f4" }, ticks: { stroke: "#ccd4dc" }, values: utcTicks },
      {
        stroke: "#1d2733", size: labelWidth, gap: 6, font: ctxFont,
        grid: { show: false }, ticks: { show: false },
        splits: () => data.groups.map((_, r) => r),
        values: (u, splits) => splits.map((r) => short(labels[r] || "")),
      },
    ],
    series: [{}, { label: "worst score", paths: () => null, points: { show: false } }],
    hooks: {
      draw: [drawCells],
      setCursor: [showTip],
    },
  };
  const chart = new uPlot(opts, [xs, xs.map(() => null)], root);
  chart.over.addEventListener("mouseleave", () => { tip.hidden = true; });
  chart.over.addEventListener("click", () => {
    const at = cellAt(chart);
    if (at && data.scores[at[0]][at[1]] !== null) window.location.href = cellHref(at[0], at[1]);
  });
  window.addEventListener("resize", () => chart.setSize({ width: Math.max(400, root.clientWidth), height: opts.height }));

  /* For the browser tests and for scripting: where a cell is, and where it leads. */
  window.admonOverview = {
    chart,
    cellHref,
    /* The centre of cell (r, i) in CSS pixels from the centre of the plotting area (uPlot's `over`). */
    cellOffset(r, i) {
      const x = chart.valToPos(data.buckets[i] + data.bucket_ms / 2, "x"), y = chart.valToPos(r, "y");
      return { x: x - chart.over.clientWidth / 2, y: y - chart.over.clientHeight / 2 };
    },
  };
  root.dataset.rows = String(rows);
  root.dataset.buckets = String(n);
  root.dataset.rendered = "true";
})();
