/* The entity page: loads the plot data, wires the range form, the labelling form,
 * the labels table and the verdict buttons to the REST API (same-origin, cookie auth). */
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const root = $("plot");
  const entity = root.dataset.entity, canWrite = root.dataset.canWrite === "true";
  const api = "/api/entities/" + entity;
  let plotData = null;

  const iso = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");
  function parseTime(text) {
    text = (text || "").trim();
    if (/^\d+$/.test(text)) return Number(text);
    let t = text.replace(" ", "T");
    if (!/(Z|[+-]\d\d:?\d\d)$/.test(t)) t += "Z";
    const ms = Date.parse(t);
    if (isNaN(ms)) throw new Error("'" + text + "' is not a time; use e.g. 2022-05-10T08:00:00Z");
    return ms;
  }
  function groupText(g) { return Object.keys(g || {}).sort().map(k => k + "=" + g[k]).join(","); }
  function parseGroup(text) {
    const g = {};
    for (const part of (text || "").split(",")) {
      const i = part.indexOf("=");
      if (i > 0) g[part.slice(0, i).trim()] = part.slice(i + 1).trim();
    }
    return g;
  }
  function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }
  async function call(method, url, body) {
    const r = await fetch(url, {
      method, credentials: "same-origin",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    if (r.status === 204) return null;
    const data = await r.json().catch(() => ({ detail: r.statusText }));
    if (!r.ok) throw new Error(data.detail || r.statusText);
    return data;
  }

  const status = $("plot-status");
  const plot = new window.AdmonPlot($("plot-area"), {
    tip: $("plot-tip"),
    onSelect: (t0, t1) => {
      $("zoom-in").disabled = false;
      if (canWrite) { $("ann-start").value = iso(t0); $("ann-end").value = iso(t1); }
      status.textContent = "selected " + iso(t0) + " → " + iso(t1);
    },
  });
  $("zoom-in").addEventListener("click", () => {
    if (plot.selection) { plot.zoomTo(plot.selection[0], plot.selection[1]); }
  });
  $("zoom-reset").addEventListener("click", () => plot.resetZoom());

  // --- range form ---------------------------------------------------------------------------
  document.querySelectorAll(".quick button").forEach((b) => b.addEventListener("click", () => {
    try {
      const end = parseTime($("range-end").value);
      $("range-start").value = iso(end - Number(b.dataset.span));
      $("range-form").submit();
    } catch (e) { status.textContent = e.message; }
  }));

  // --- plot data ----------------------------------------------------------------------------
  async function loadPlot() {
    const q = new URLSearchParams({ start: root.dataset.start, end: root.dataset.end });
    if (root.dataset.group) q.set("group", root.dataset.group);
    try {
      plotData = await call("GET", api + "/plot?" + q);
    } catch (e) { status.textContent = "cannot load the plot: " + e.message; status.className = "error"; return; }
    const sel = $("group-select");
    sel.innerHTML = "";
    for (const g of plotData.groups) {
      const o = document.createElement("option");
      o.value = groupText(g); o.textContent = groupText(g) || "(all)";
      o.selected = groupText(g) === groupText(plotData.group);
      sel.appendChild(o);
    }
    sel.onchange = () => $("range-form").submit();
    if (canWrite) {
      // the label goes to the group shown (not the first one): the form says which, and may say all
      const groups = $("ann-group");
      groups.innerHTML = "";
      for (const g of plotData.groups) {
        const o = document.createElement("option");
        o.value = groupText(g); o.textContent = groupText(g) || "(all)";
        o.selected = groupText(g) === groupText(plotData.group);
        groups.appendChild(o);
      }
      const all = document.createElement("option"); all.value = ""; all.textContent = "(all groups)";
      all.selected = !plotData.groups.length;
      groups.appendChild(all);
      const series = $("ann-series");
      for (const c of plotData.value_columns) {
        const o = document.createElement("option"); o.value = c; o.textContent = c; series.appendChild(o);
      }
    }
    legend();
    plot.setData(plotData);
    status.textContent = plotData.series.timestamp.length + " points, " + plotData.scores.timestamp.length +
      " scores, " + plotData.anomalies.length + " detections";
    status.className = "muted";
    await loadAnnotations();
  }

  // --- incidents: one verdict on a whole incident -------------------------------------------
  async function loadIncidents(annotations) {
    const body = document.querySelector("#incidents tbody");
    let list;
    try {
      list = await call("GET", api + "/incidents");
    } catch (e) { body.innerHTML = ""; body.appendChild(cell("cannot load the incidents: " + e.message)); return; }
    const from = Number(root.dataset.start), to = Number(root.dataset.end);
    list = list.filter(i => i.start < to && (i.end === null || i.end > from));
    body.innerHTML = "";
    if (!list.length) {
      const tr = document.createElement("tr"); const td = cell("No incident in this range."); td.colSpan = 8;
      td.className = "muted"; tr.appendChild(td); body.appendChild(tr);
    }
    for (const inc of list) {
      const tr = document.createElement("tr");
      tr.dataset.incident = inc.id;
      const verdict = annotations.filter(a => a.detection_id === inc.id).pop();
      [iso(inc.start), inc.end === null ? "(open)" : iso(inc.end), groupText(inc.group) || "(all)",
        inc.peak_score.toFixed(3), inc.features.join(", "), inc.status].forEach(t => tr.appendChild(cell(t)));
      const v = cell(verdict ? verdict.label.replace("_", " ") : "-");
      v.className = "verdict" + (verdict ? "" : " muted");
      tr.appendChild(v);
      if (canWrite) {
        const judge = document.createElement("td"); judge.className = "judge";
        for (const name of ["confirmed", "expected", "false_alarm"]) {
          const b = document.createElement("button"); b.type = "button"; b.dataset.verdict = name;
          b.textContent = name.replace("_", " ");
          b.onclick = async () => {
            try {
              await call("POST", "/api/incidents/" + encodeURIComponent(inc.id) + "/label", { verdict: name });
              await loadAnnotations();
            } catch (e) { alert(e.message); }
          };
          judge.appendChild(b);
        }
        tr.appendChild(judge);
      }
      body.appendChild(tr);
    }
  }

  function legend() {
    const box = $("plot-legend");
    box.innerHTML = "";
    plotData.value_columns.forEach((c, i) => {
      const s = document.createElement("span");
      s.className = "toggle";
      s.innerHTML = '<i style="background:' + window.AdmonPlot.COLOURS[i % window.AdmonPlot.COLOURS.length] + '"></i>';
      s.appendChild(document.createTextNode(c));
      s.title = "show / hide";
      s.onclick = () => { plot.toggleSeries(c); s.classList.toggle("off"); };
      box.appendChild(s);
    });
    box.insertAdjacentHTML("beforeend",
      '<span><i style="background:#333"></i>anomaly score</span><span><i style="background:#ff7f0e"></i>threshold</span>' +
      '<span><i class="dot"></i>detected anomaly</span><span><i style="background:rgba(214,39,40,.3)"></i>labelled anomaly</span>' +
      '<span><i style="background:rgba(44,160,44,.3)"></i>labelled normal</span>');
  }

  // --- labels -------------------------------------------------------------------------------
  async function loadAnnotations() {
    const list = await call("GET", api + "/annotations");
    const mine = list.filter(a => !Object.keys(a.group_key).length || groupText(a.group_key) === groupText(plotData.group));
    plot.setAnnotations(mine);
    const body = document.querySelector("#annotations tbody");
    body.innerHTML = "";
    if (!list.length) { const tr = document.createElement("tr"); const td = cell("No label yet."); td.colSpan = 10; td.className = "muted"; tr.appendChild(td); body.appendChild(tr); }
    for (const a of list) {
      const tr = document.createElement("tr");
      tr.dataset.annotation = a.id;
      [iso(a.start_ms), iso(a.end_ms), groupText(a.group_key) || "(all)", a.series || "(all)", a.label, a.kind,
        a.comment, a.author, iso(a.updated_ms || a.created_ms) + (a.updated_by ? " by " + a.updated_by : "")]
        .forEach(t => tr.appendChild(cell(t)));
      const actions = document.createElement("td");
      if (canWrite) {
        if (!a.detection_id) {
          const edit = document.createElement("button"); edit.type = "button"; edit.textContent = "edit";
          edit.onclick = () => startEdit(a); actions.appendChild(edit);
        }
        const del = document.createElement("button"); del.type = "button"; del.textContent = "delete";
        del.onclick = async () => { if (confirm("Delete this label?")) { await call("DELETE", api + "/annotations/" + a.id); await loadAnnotations(); } };
        actions.appendChild(del);
      }
      tr.appendChild(actions);
      body.appendChild(tr);
    }
    document.querySelectorAll("#detections tr[data-detection]").forEach((tr) => {
      const verdicts = list.filter(a => a.detection_id === tr.dataset.detection);
      const v = tr.querySelector(".verdict");
      v.textContent = verdicts.length ? verdicts[verdicts.length - 1].label.replace("_", " ") : "-";
      v.className = "verdict" + (verdicts.length ? "" : " muted");
    });
    await loadIncidents(list);
  }

  function startEdit(a) {
    $("ann-id").value = a.id;
    $("ann-start").value = iso(a.start_ms); $("ann-end").value = iso(a.end_ms);
    $("ann-kind").value = a.kind; $("ann-comment").value = a.comment;
    $("ann-series").value = a.series || "";
    $("ann-group").value = groupText(a.group_key); $("ann-group").disabled = true;  // an edit keeps its group
    document.querySelector('input[name="ann-label"][value="' + a.label + '"]').checked = true;
    $("ann-save").textContent = "Update label"; $("ann-cancel").hidden = false;
    $("annotate").scrollIntoView({ behavior: "smooth" });
  }
  function endEdit() {
    $("ann-id").value = ""; $("ann-save").textContent = "Save label"; $("ann-cancel").hidden = true;
    $("ann-group").disabled = false;
  }

  if (canWrite) {
    $("ann-cancel").onclick = endEdit;
    $("annotation-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const msg = $("ann-message");
      try {
        const body = {
          start_ms: parseTime($("ann-start").value), end_ms: parseTime($("ann-end").value),
          label: document.querySelector('input[name="ann-label"]:checked').value,
          kind: $("ann-kind").value, comment: $("ann-comment").value,
          series: $("ann-series").value || null,
        };
        const id = $("ann-id").value;
        if (id) await call("PATCH", api + "/annotations/" + id, body);
        else await call("POST", api + "/annotations", Object.assign(body, { group_key: parseGroup($("ann-group").value) }));
        const where = id ? "" : " on " + ($("ann-group").value || "all groups");
        msg.textContent = (id ? "updated" : "saved") + " label " + body.label + " " + iso(body.start_ms) + " → " + iso(body.end_ms) + where;
        msg.className = "ok";
        endEdit();
        plot.selection = null;
        await loadAnnotations();
      } catch (e) { msg.textContent = e.message; msg.className = "error"; }
    });
    document.querySelectorAll("#detections button[data-verdict]").forEach((b) => b.addEventListener("click", async () => {
      const tr = b.closest("tr");
      try {
        await call("POST", api + "/annotations", { label: b.dataset.verdict, detection_id: tr.dataset.detection });
        await loadAnnotations();
      } catch (e) { alert(e.message); }
    }));
  }

  loadPlot();
})();
