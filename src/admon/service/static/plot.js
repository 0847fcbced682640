/* admon time-series plot: plain canvas, no dependencies, works offline.
 *
 * Two panels sharing one time axis: the joined input series (top) and the anomaly
 * score with its threshold and the detected anomalies (bottom). Labelled ranges are
 * shaded across both. Drag selects a time range (reported through onSelect), the
 * wheel zooms around the cursor, a double-click shows the whole range again.
 */
(function () {
  "use strict";
  const COLOURS = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22"];
  const SHADES = {
    anomaly: "rgba(214, 39, 40, 0.16)", confirmed: "rgba(214, 39, 40, 0.22)",
    expected: "rgba(255, 152, 0, 0.22)", normal: "rgba(44, 160, 44, 0.15)",
    false_alarm: "rgba(120, 120, 120, 0.22)",
  };
  const STEPS = [60e3, 300e3, 900e3, 1800e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3,
    2 * 86400e3, 7 * 86400e3, 14 * 86400e3, 30 * 86400e3];
  const M = { left: 78, right: 16, top: 14, gap: 34, bottom: 30 };

  function pad(n) { return String(n).padStart(2, "0"); }
  function timeLabel(ms, step) {
    const d = new Date(ms);
    const hm = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
    const md = pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate());
    if (step >= 86400e3) return md;
    return (d.getUTCHours() === 0 && d.getUTCMinutes() === 0) ? md + " " + hm : hm;
  }
  function niceNumber(v) {
    const a = Math.abs(v);
    if (a === 0) return "0";
    if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 0 : 1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
    if (a >= 1e3) return (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + "k";
    if (a >= 10) return v.toFixed(0);
    if (a >= 1) return v.toFixed(1);
    return v.toPrecision(2);
  }
  function extent(arrays) {
    let lo = Infinity, hi = -Infinity;
    for (const arr of arrays) for (const v of arr) if (v !== null && v !== undefined && isFinite(v)) {
      if (v < lo) lo = v; if (v > hi) hi = v;
    }
    if (lo === Infinity) return [0, 1];
    if (lo === hi) { const d = Math.abs(lo) * 0.1 || 1; return [lo - d, hi + d]; }
    const m = (hi - lo) * 0.06;
    return [lo - m, hi + m];
  }
  function ticks(lo, hi, n) {
    const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map(f => f * mag).find(s => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) out.push(v);
    return out;
  }

  class AdmonPlot {
    constructor(canvas, options) {
      this.canvas = canvas;
      this.ctx = canvas.getContext("2d");
      this.options = options || {};
      this.data = null;
      this.annotations = [];
      this.view = null;
      this.selection = null;
      this.drag = null;
      this.hidden = new Set();
      this._bind();
      window.addEventListener("resize", () => this.draw());
    }

    setData(data) {
      this.data = data;
      this.full = [data.start_ms, data.end_ms];
      this.view = this.full.slice();
      this.selection = null;
      this.annotations = data.annotations || [];
      this.draw();
    }
    setAnnotations(list) { this.annotations = list || []; this.draw(); }
    toggleSeries(name) { this.hidden.has(name) ? this.hidden.delete(name) : this.hidden.add(name); this.draw(); }
    zoomTo(t0, t1) { if (t1 - t0 >= 1000) { this.view = [t0, t1]; this.draw(); this._emitZoom(); } }
    resetZoom() { if (this.full) { this.view = this.full.slice(); this.draw(); this._emitZoom(); } }
    _emitZoom() { if (this.options.onZoom) this.options.onZoom(this.view[0], this.view[1]); }

    // --- geometry -----------------------------------------------------------------------------
    _size(nInput) {
      const dpr = window.devicePixelRatio || 1;
      const w = this.canvas.clientWidth || 1000, h = this.canvas.clientHeight || 460;
      if (this.canvas.width !== Math.round(w * dpr) || this.canvas.height !== Math.round(h * dpr)) {
        this.canvas.width = Math.round(w * dpr); this.canvas.height = Math.round(h * dpr);
      }
      this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      // One panel per input series (their scales differ by orders of magnitude), then the score.
      const n = Math.max(1, nInput), inner = 8;
      const plotH = h - M.top - M.bottom - M.gap - inner * (n - 1);
      const scoreH = Math.round(plotH * (n > 1 ? 0.34 : 0.42)), eachH = Math.floor((plotH - scoreH) / n);
      this.w = w; this.h = h;
      this.panels = [];
      for (let i = 0; i < n; i++) {
        this.panels.push({ x: M.left, y: M.top + i * (eachH + inner), w: w - M.left - M.right, h: eachH });
      }
      const last = this.panels[n - 1];
      this.scorePanel = { x: M.left, y: last.y + last.h + M.gap, w: w - M.left - M.right, h: scoreH };
      this.panels.push(this.scorePanel);
    }
    xOf(t) { const p = this.panels[0]; return p.x + (t - this.view[0]) / (this.view[1] - this.view[0]) * p.w; }
    tOf(x) { const p = this.panels[0]; return this.view[0] + (x - p.x) / p.w * (this.view[1] - this.view[0]); }

    // --- drawing ------------------------------------------------------------------------------
    draw() {
      if (!this.data) return;
      const d = this.data;
      const cols = d.value_columns.filter(c => !this.hidden.has(c));
      this._size(cols.length);
      const ctx = this.ctx;
      ctx.clearRect(0, 0, this.w, this.h);
      ctx.font = "12px system-ui, sans-serif";
      const inView = (ts) => ts.map(t => t >= this.view[0] && t <= this.view[1]);
      const mask1 = inView(d.series.timestamp);
      const mask2 = inView(d.scores.timestamp);
      const y2 = extent([d.scores.score.filter((_, i) => mask2[i]), d.scores.threshold.filter((_, i) => mask2[i])]);
      const sp = this.scorePanel;
      const scales = cols.map(c => extent([d.series[c].filter((_, i) => mask1[i])]));
      cols.forEach((c, i) => this._frame(this.panels[i], scales[i], c));
      if (!cols.length) this._frame(this.panels[0], [0, 1], "input");
      this._frame(sp, y2, "anomaly score");
      this._shades();
      cols.forEach((c, i) => {
        const colour = COLOURS[d.value_columns.indexOf(c) % COLOURS.length];
        this._line(this.panels[i], scales[i], d.series.timestamp, d.series[c], colour, 1.4);
      });
      this._line(sp, y2, d.scores.timestamp, d.scores.score, "#333", 1.3);
      this._line(sp, y2, d.scores.timestamp, d.scores.threshold, "#ff7f0e", 1.5, [6, 4], true);
      this._anomalies(sp, y2);
      this._xAxis(sp);
      this._selectionBox();
      this.canvas.dataset.rendered = "true";
      this.canvas.dataset.points = String(d.series.timestamp.length);
      this.canvas.dataset.anomalies = String(d.anomalies.length);
      if (this.options.onDraw) this.options.onDraw();
    }

    _frame(p, [lo, hi], title) {
      const ctx = this.ctx;
      ctx.fillStyle = "#fff"; ctx.fillRect(p.x, p.y, p.w, p.h);
      ctx.strokeStyle = "#eee"; ctx.fillStyle = "#555"; ctx.lineWidth = 1;
      ctx.textAlign = "right"; ctx.textBaseline = "middle";
      for (const v of ticks(lo, hi, Math.max(2, Math.floor(p.h / 40)))) {
        const y = p.y + p.h - (v - lo) / (hi - lo) * p.h;
        ctx.beginPath(); ctx.moveTo(p.x, y); ctx.lineTo(p.x + p.w, y); ctx.stroke();
        ctx.fillText(niceNumber(v), p.x - 6, y);
      }
      const step = this._timeStep();
      ctx.strokeStyle = "#f1f1f1";
      for (let t = Math.ceil(this.view[0] / step) * step; t <= this.view[1]; t += step) {
        const x = this.xOf(t); ctx.beginPath(); ctx.moveTo(x, p.y); ctx.lineTo(x, p.y + p.h); ctx.stroke();
      }
      ctx.strokeStyle = "#bbb"; ctx.strokeRect(p.x + 0.5, p.y + 0.5, p.w, p.h);
      ctx.save(); ctx.translate(12, p.y + p.h / 2); ctx.rotate(-Math.PI / 2);
      ctx.textAlign = "center"; ctx.fillStyle = "#333"; ctx.font = "11px system-ui, sans-serif";
      ctx.fillText(title.length > 18 ? title.slice(0, 17) + "…" : title, 0, 0); ctx.restore();
    }

    _timeStep() {
      const span = this.view[1] - this.view[0], want = Math.max(3, Math.floor(this.panels[0].w / 110));
      return STEPS.find(s => span / s <= want) || STEPS[STEPS.length - 1];
    }

    _xAxis(p) {
      const ctx = this.ctx, step = this._timeStep();
      ctx.fillStyle = "#444"; ctx.textAlign = "center"; ctx.textBaseline = "top";
      for (let t = Math.ceil(this.view[0] / step) * step; t <= this.view[1]; t += step) {
        ctx.fillText(timeLabel(t, step), this.xOf(t), p.y + p.h + 6);
      }
      ctx.textAlign = "right"; ctx.fillStyle = "#888";
      ctx.fillText("UTC", this.w - M.right, p.y + p.h + 18);
    }

    _clip(p) { const c = this.ctx; c.save(); c.beginPath(); c.rect(p.x, p.y, p.w, p.h); c.clip(); }

    _line(p, [lo, hi], ts, vs, colour, width, dash, step) {
      const ctx = this.ctx;
      this._clip(p);
      ctx.strokeStyle = colour; ctx.lineWidth = width; ctx.setLineDash(dash || []);
      ctx.beginPath();
      let open = false, lastY = null;
      for (let i = 0; i < ts.length; i++) {
        const v = vs[i];
        if (v === null || v === undefined) { open = false; continue; }
        const x = this.xOf(ts[i]), y = p.y + p.h - (v - lo) / (hi - lo) * p.h;
        if (!open) { ctx.moveTo(x, y); open = true; }
        else { if (step) ctx.lineTo(x, lastY); ctx.lineTo(x, y); }
        lastY = y;
      }
      ctx.stroke(); ctx.setLineDash([]); ctx.restore();
    }

    _shades() {
      const ctx = this.ctx;
      this.annotations.forEach((a, k) => {
        const x0 = Math.max(this.xOf(a.start_ms), this.panels[0].x);
        const x1 = Math.min(this.xOf(a.end_ms), this.panels[0].x + this.panels[0].w);
        if (x1 <= x0) return;
        for (const p of this.panels) {
          ctx.fillStyle = SHADES[a.label] || SHADES.anomaly;
          ctx.fillRect(x0, p.y, Math.max(x1 - x0, 2), p.h);
        }
        ctx.fillStyle = "#7a1f1f"; ctx.textAlign = "left"; ctx.textBaseline = "top";
        ctx.fillText((a.label.replace("_", " ") + (a.kind ? ": " + a.kind : "")).slice(0, 30), x0 + 3,
          this.panels[0].y + 3 + (k % 3) * 14);
      });
    }

    _anomalies(sp, [lo, hi]) {
      const ctx = this.ctx, top = this.panels[0].y;
      for (const a of this.data.anomalies) {
        if (a.timestamp_ms < this.view[0] || a.timestamp_ms > this.view[1]) continue;
        const x = this.xOf(a.timestamp_ms);
        ctx.strokeStyle = "rgba(214, 39, 40, 0.7)"; ctx.setLineDash([3, 3]); ctx.lineWidth = 1;
        ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, sp.y + sp.h); ctx.stroke(); ctx.setLineDash([]);
        if (a.score !== null) {
          const y = sp.y + sp.h - (a.score - lo) / (hi - lo) * sp.h;
          ctx.fillStyle = "#d62728"; ctx.beginPath(); ctx.arc(x, y, 4.5, 0, 2 * Math.PI); ctx.fill();
        }
      }
    }

    _selectionBox() {
      const s = this.drag ? [this.drag.t0, this.drag.t1] : this.selection;
      if (!s) return;
      const ctx = this.ctx, x0 = this.xOf(Math.min(s[0], s[1])), x1 = this.xOf(Math.max(s[0], s[1]));
      for (const p of this.panels) {
        ctx.fillStyle = "rgba(31, 119, 180, 0.18)"; ctx.fillRect(x0, p.y, x1 - x0, p.h);
        ctx.strokeStyle = "rgba(31, 119, 180, 0.8)"; ctx.strokeRect(x0, p.y, x1 - x0, p.h);
      }
    }

    // --- interaction --------------------------------------------------------------------------
    _bind() {
      const c = this.canvas;
      const xAt = (ev) => ev.clientX - c.getBoundingClientRect().left;
      const inside = (x) => this.panels && x >= this.panels[0].x && x <= this.panels[0].x + this.panels[0].w;
      c.addEventListener("mousedown", (ev) => {
        const x = xAt(ev);
        if (!this.data || !inside(x)) return;
        this.drag = { x0: x, t0: this.tOf(x), t1: this.tOf(x) };
        ev.preventDefault();
      });
      c.addEventListener("mousemove", (ev) => {
        const x = xAt(ev);
        if (this.drag) {
          const p = this.panels[0];
          this.drag.t1 = this.tOf(Math.min(Math.max(x, p.x), p.x + p.w));
          this.draw();
        } else if (this.data && inside(x)) this._tip(ev, this.tOf(x));
      });
      c.addEventListener("mouseleave", () => { if (this.options.tip) this.options.tip.hidden = true; });
      window.addEventListener("mouseup", (ev) => {
        if (!this.drag) return;
        const dx = Math.abs(xAt(ev) - this.drag.x0), t0 = Math.min(this.drag.t0, this.drag.t1),
          t1 = Math.max(this.drag.t0, this.drag.t1);
        this.drag = null;
        if (dx >= 4) {
          const step = this.data.step_ms || 60000;  // snap to bucket edges: labels cover whole buckets
          const s0 = Math.floor(t0 / step) * step, s1 = Math.max(Math.ceil(t1 / step) * step, s0 + step);
          this.selection = [s0, s1];
          if (this.options.onSelect) this.options.onSelect(s0, s1);
        }
        this.draw();
      });
      c.addEventListener("wheel", (ev) => {
        if (!this.data) return;
        ev.preventDefault();
        const t = this.tOf(xAt(ev)), f = ev.deltaY < 0 ? 0.8 : 1.25;
        let a = t - (t - this.view[0]) * f, b = t + (this.view[1] - t) * f;
        a = Math.max(a, this.full[0]); b = Math.min(b, this.full[1]);
        this.zoomTo(a, b);
      }, { passive: false });
      c.addEventListener("dblclick", () => this.resetZoom());
    }

    _tip(ev, t) {
      const tip = this.options.tip, d = this.data;
      if (!tip) return;
      const near = (ts) => {
        let best = -1, dist = Infinity;
        for (let i = 0; i < ts.length; i++) { const dd = Math.abs(ts[i] - t); if (dd < dist) { dist = dd; best = i; } }
        return dist <= (d.step_ms || 60000) ? best : -1;
      };
      const i = near(d.series.timestamp), j = near(d.scores.timestamp);
      if (i < 0 && j < 0) { tip.hidden = true; return; }
      const when = new Date(i >= 0 ? d.series.timestamp[i] : d.scores.timestamp[j]).toISOString().slice(0, 16).replace("T", " ");
      const lines = [when + " UTC"];
      if (i >= 0) for (const c of d.value_columns) lines.push(c + ": " + (d.series[c][i] === null ? "-" : niceNumber(d.series[c][i])));
      if (j >= 0) lines.push("score: " + (d.scores.score[j] === null ? "-" : d.scores.score[j].toFixed(3)) +
        " (threshold " + (d.scores.threshold[j] === null ? "-" : d.scores.threshold[j].toFixed(3)) + ")");
      tip.textContent = lines.join("\n");
      tip.hidden = false;
      const r = this.canvas.getBoundingClientRect();
      tip.style.left = Math.min(ev.clientX - r.left + 14, r.width - 220) + "px";
      tip.style.top = (ev.clientY - r.top + 12) + "px";
    }
  }

  AdmonPlot.COLOURS = COLOURS;
  window.AdmonPlot = AdmonPlot;
})();
