/* The entity plot, drawn with uPlot (vendored under /static/vendor/uplot: works offline).
 *
 * Panels sharing one time axis and one cursor: one per input series (their scales differ by
 * orders of magnitude; the expected value and its band behind a series when the plot data has
 * them), then the anomaly score with its threshold and the detected anomalies. Labelled ranges
 * are shaded across every panel. Dragging selects a time range (snapped to whole buckets and
 * reported through onSelect), the wheel zooms around the cursor, a double-click shows the whole
 * range again. The container's data-focus-start/-end (a bucket of the overview) start selected.
 *
 * window.AdmonPlot keeps the interface entity.js uses: setData, setAnnotations, toggleSeries,
 * zoomTo, resetZoom, selection, COLOURS.
 */
(function () {
  "use strict";
  const COLOURS = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22"];
  const SHADES = {
    anomaly: "rgba(214, 39, 40, 0.16)", confirmed: "rgba(214, 39, 40, 0.22)",
    expected: "rgba(255, 152, 0, 0.22)", normal: "rgba(44, 160, 44, 0.15)",
    false_alarm: "rgba(120, 120, 120, 0.22)",
  };
  const SELECTION = "rgba(31, 119, 180, 0.18)", SELECTION_EDGE = "rgba(31, 119, 180, 0.8)";
  const HEIGHT = 460, Y_AXIS = 78;
  const utc = (ts) => uPlot.tzDate(new Date(ts), "Etc/UTC");

  function niceNumber(v) {
    if (v === null || v === undefined) return "-";
    const a = Math.abs(v);
    if (a === 0) return "0";
    if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 0 : 1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
    if (a >= 1e3) return (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + "k";
    if (a >= 10) return v.toFixed(0);
    if (a >= 1) return v.toFixed(1);
    return v.toPrecision(2);
  }
  /* Time ticks in UTC, 24-hour: "05-11" at midnight or for day steps, else "14:00". */
  function utcTicks(u, splits, axisIdx, space, incr) {
    return splits.map((t) => {
      const s = new Date(t).toISOString();
      return (incr >= 86400e3 || t % 86400e3 === 0) ? s.slice(5, 10) : s.slice(11, 16);
    });
  }
  function nearest(ts, t, within) {
    let best = -1, dist = Infinity;
    for (let i = 0; i < ts.length; i++) { const d = Math.abs(ts[i] - t); if (d < dist) { dist = d; best = i; } }
    return dist <= within ? best : -1;
  }

  class AdmonPlot {
    constructor(container, options) {
      this.root = container;
      this.options = options || {};
      this.data = null;
      this.annotations = [];
      this.charts = [];
      this.hidden = new Set();
      this.view = null;
      this._selection = null;
      this.syncKey = "admon-plot-" + Math.random().toString(36).slice(2);
      window.addEventListener("resize", () => this._resize());
    }

    get selection() { return this._selection; }
    set selection(range) { this._selection = range; this._redraw(); }

    setData(data) {
      this.data = data;
      this.full = [data.start_ms, data.end_ms];
      this.view = this.full.slice();
      this._selection = null;
      this.annotations = data.annotations || [];
      this._build();
      const f0 = Number(this.root.dataset.focusStart), f1 = Number(this.root.dataset.focusEnd);
      if (f0 && f1 > f0) this._select(f0, f1);
    }
    setAnnotations(list) { this.annotations = list || []; this._redraw(); }
    toggleSeries(name) { this.hidden.has(name) ? this.hidden.delete(name) : this.hidden.add(name); this._build(); }
    zoomTo(t0, t1) {
      if (!this.data || t1 - t0 < 1000) return;
      this.view = [t0, t1];
      for (const u of this.charts) u.setScale("x", { min: t0, max: t1 });
      this._mark();
      if (this.options.onZoom) this.options.onZoom(t0, t1);
    }
    resetZoom() { if (this.full) this.zoomTo(this.full[0], this.full[1]); }

    // --- building the panels ------------------------------------------------------------------
    _build() {
      for (const u of this.charts) u.destroy();
      this.charts = [];
      this.root.innerHTML = "";
      const d = this.data;
      const cols = d.value_columns.filter((c) => !this.hidden.has(c));
      const n = Math.max(1, cols.length);
      const scoreH = Math.round(HEIGHT * (n > 1 ? 0.36 : 0.44)), eachH = Math.floor((HEIGHT - scoreH) / n);
      if (!cols.length) this.charts.push(this._panel([[d.series.timestamp, d.series.timestamp.map(() => null)],
        [{ label: "input", stroke: "#999" }]], "input", eachH, false));
      cols.forEach((c) => {
        const colour = COLOURS[d.value_columns.indexOf(c) % COLOURS.length];
        const expected = d.expected && d.expected[c];
        const data = [d.series.timestamp, d.series[c]];
        const series = [{ label: c, stroke: colour, width: 1.4 }];
        const bands = [];
        if (expected) {  // the expected value and its band, behind the series
          data.push(expected.upper, expected.lower, expected.mean || expected.upper.map(() => null));
          series.push({ label: "upper", stroke: "rgba(31,119,180,0.25)", width: 1, expected: true },
            { label: "lower", stroke: "rgba(31,119,180,0.25)", width: 1, expected: true },
            { label: "expected", stroke: "rgba(80,80,80,0.7)", width: 1, dash: [4, 3], expected: true });
          bands.push({ series: [2, 3], fill: "rgba(31,119,180,0.12)" });
        }
        this.charts.push(this._panel([data, series, bands], c, eachH, false));
      });
      const s = d.scores, detected = new Map(d.anomalies.map((a) => [a.timestamp_ms, a.score]));
      this.charts.push(this._panel([
        [s.timestamp, s.score, s.threshold, s.timestamp.map((t) => (detected.has(t) ? detected.get(t) : null))],
        [{ label: "anomaly score", stroke: "#333", width: 1.3 },
          { label: "threshold", stroke: "#ff7f0e", width: 1.5, dash: [6, 4], paths: uPlot.paths.stepped({ align: 1 }) },
          { label: "detected", stroke: "#d62728", fill: "#d62728", paths: () => null,
            points: { show: true, size: 9, stroke: "#d62728", fill: "#d62728" } }],
      ], "anomaly score", scoreH, true));
      this._mark();
    }

    _panel([data, series, bands], title, height, last) {
      const el = document.createElement("div");
      el.className = "plot-panel";
      this.root.appendChild(el);
      const self = this;
      const opts = {
        width: this._width(), height: height + (last ? 34 : 4),
        ms: 1, tzDate: utc,
        legend: { show: false },
        padding: [6, 12, 0, 0],
        cursor: {
          sync: { key: this.syncKey, setSeries: false },
          drag: { x: true, y: false, setScale: false },
          points: { show: false },
          bind: {
            dblclick: () => () => { self.resetZoom(); return null; },
          },
        },
        select: { show: true },
        scales: {
          x: { time: true, range: (u, lo, hi) => (self.view ? [self.view[0], self.view[1]] : [lo, hi]) },
          y: { range: (u, lo, hi) => {
            if (lo === null || hi === null) return [0, 1];
            if (lo === hi) { const m = Math.abs(lo) * 0.1 || 1; return [lo - m, hi + m]; }
            const m = (hi - lo) * 0.06;
            return [lo - m, hi + m];
          } },
        },
        axes: [
          { stroke: "#444", grid: { stroke: "#f1f1f1" }, ticks: { stroke: "#ddd" }, size: last ? 34 : 4,
            values: last ? utcTicks : (u, splits) => splits.map(() => "") },
          { stroke: "#555", grid: { stroke: "#eee" }, ticks: { stroke: "#ddd" }, size: Y_AXIS - 14,
            label: title.length > 18 ? title.slice(0, 17) + "…" : title, labelSize: 14,
            labelFont: "11px system-ui, sans-serif", font: "12px system-ui, sans-serif",
            values: (u, splits) => splits.map(niceNumber) },
        ],
        series: [{}, ...series.map((s) => Object.assign({ spanGaps: false, points: { show: false } }, s))],
        bands: bands || [],
        hooks: {
          drawClear: [(u) => this._shades(u)],
          draw: [(u) => this._overlay(u, last)],
          setSelect: [(u) => this._dragged(u)],
          setCursor: [(u) => this._tip(u)],
        },
      };
      const u = new uPlot(opts, data, el);
      u.over.addEventListener("mouseenter", () => { this.hover = u; });
      u.over.addEventListener("mouseleave", () => { this.hover = null; if (this.options.tip) this.options.tip.hidden = true; });
      u.over.addEventListener("wheel", (ev) => {
        ev.preventDefault();
        const t = u.posToVal(ev.offsetX, "x"), f = ev.deltaY < 0 ? 0.8 : 1.25;
        this.zoomTo(Math.max(t - (t - this.view[0]) * f, this.full[0]), Math.min(t + (this.view[1] - t) * f, this.full[1]));
      }, { passive: false });
      return u;
    }

    _width() { return Math.max(320, this.root.clientWidth || 1000); }
    _resize() { const w = this._width(); for (const u of this.charts) u.setSize({ width: w, height: u.height }); }
    _redraw() { for (const u of this.charts) u.redraw(false, false); this._mark(); }

    _mark() {
      const d = this.data;
      this.root.dataset.rendered = "true";
      this.root.dataset.panels = String(this.charts.length);
      this.root.dataset.points = String(d.series.timestamp.length);
      this.root.dataset.anomalies = String(d.anomalies.length);
      this.root.dataset.view = this.view.join(",");
      this.root.dataset.selection = this._selection ? this._selection.join(",") : "";
      this.root.dataset.band = d.expected ? "true" : "false";
      if (this.options.onDraw) this.options.onDraw();
    }

    // --- drawing on top of uPlot (canvas pixels) ----------------------------------------------
    _span(u, t0, t1) {
      const x0 = Math.max(u.valToPos(t0, "x", true), u.bbox.left);
      const x1 = Math.min(u.valToPos(t1, "x", true), u.bbox.left + u.bbox.width);
      return x1 > x0 ? [x0, x1] : null;
    }

    _shades(u) {
      const ctx = u.ctx, first = u === this.charts[0];
      ctx.save();
      this.annotations.forEach((a, k) => {
        const span = this._span(u, a.start_ms, a.end_ms);
        if (!span) return;
        ctx.fillStyle = SHADES[a.label] || SHADES.anomaly;
        ctx.fillRect(span[0], u.bbox.top, Math.max(span[1] - span[0], 2), u.bbox.height);
        if (first) {
          ctx.fillStyle = "#7a1f1f"; ctx.textBaseline = "top";
          ctx.font = Math.round(12 * uPlot.pxRatio) + "px system-ui, sans-serif";
          ctx.fillText((a.label.replace("_", " ") + (a.kind ? ": " + a.kind : "")).slice(0, 30),
            span[0] + 3 * uPlot.pxRatio, u.bbox.top + (3 + (k % 3) * 14) * uPlot.pxRatio);
        }
      });
      ctx.restore();
    }

    _overlay(u) {
      const ctx = u.ctx, px = uPlot.pxRatio;
      ctx.save();
      // every detection as a dashed line through all panels
      ctx.strokeStyle = "rgba(214, 39, 40, 0.7)"; ctx.setLineDash([3 * px, 3 * px]); ctx.lineWidth = px;
      for (const a of this.data.anomalies) {
        if (a.timestamp_ms < this.view[0] || a.timestamp_ms > this.view[1]) continue;
        const x = Math.round(u.valToPos(a.timestamp_ms, "x", true));
        ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
      }
      ctx.setLineDash([]);
      const span = this._selection && this._span(u, this._selection[0], this._selection[1]);
      if (span) {
        ctx.fillStyle = SELECTION; ctx.fillRect(span[0], u.bbox.top, span[1] - span[0], u.bbox.height);
        ctx.strokeStyle = SELECTION_EDGE; ctx.strokeRect(span[0], u.bbox.top, span[1] - span[0], u.bbox.height);
      }
      ctx.restore();
    }

    // --- interaction ---------------------------------------------------------------------------
    _dragged(u) {
      const sel = u.select;
      if (sel.width < 4) return;
      const t0 = u.posToVal(sel.left, "x"), t1 = u.posToVal(sel.left + sel.width, "x");
      u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);  // ours is drawn on every panel
      this._select(t0, t1);
    }

    _select(t0, t1) {
      const step = this.data.step_ms || 60000;  // snap to bucket edges: labels cover whole buckets
      const s0 = Math.floor(t0 / step) * step, s1 = Math.max(Math.ceil(t1 / step) * step, s0 + step);
      this._selection = [s0, s1];
      if (this.options.onSelect) this.options.onSelect(s0, s1);
      this._redraw();
    }

    _tip(u) {
      const tip = this.options.tip, d = this.data;
      if (!tip || u !== this.hover) return;
      if (u.cursor.left === undefined || u.cursor.left < 0) { tip.hidden = true; return; }
      const t = u.posToVal(u.cursor.left, "x"), within = d.step_ms || 60000;
      const i = nearest(d.series.timestamp, t, within), j = nearest(d.scores.timestamp, t, within);
      if (i < 0 && j < 0) { tip.hidden = true; return; }
      const when = new Date(i >= 0 ? d.series.timestamp[i] : d.scores.timestamp[j]).toISOString().slice(0, 16).replace("T", " ");
      const lines = [when + " UTC"];
      if (i >= 0) for (const c of d.value_columns) {
        const e = d.expected && d.expected[c];
        lines.push(c + ": " + niceNumber(d.series[c][i]) +
          (e ? " (expected " + niceNumber(e.lower[i]) + " – " + niceNumber(e.upper[i]) + ")" : ""));
      }
      if (j >= 0) lines.push("score: " + (d.scores.score[j] === null ? "-" : d.scores.score[j].toFixed(3)) +
        " (threshold " + (d.scores.threshold[j] === null ? "-" : d.scores.threshold[j].toFixed(3)) + ")");
      tip.textContent = lines.join("\n");
      tip.hidden = false;
      const box = tip.parentElement.getBoundingClientRect(), over = u.over.getBoundingClientRect();
      tip.style.left = Math.min(over.left - box.left + u.cursor.left + 14, box.width - 240) + "px";
      tip.style.top = (over.top - box.top + u.cursor.top + 12) + "px";
    }
  }

  AdmonPlot.COLOURS = COLOURS;
  window.AdmonPlot = AdmonPlot;
})();
