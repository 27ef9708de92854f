// Stoker's UI behaviour: local and relative times, live run rows (server-sent events), charts (uPlot).
// Loaded from /ui/static only (the Content-Security-Policy allows no inline script).
"use strict";

(function () {
  const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

  function relative(date) {
    const seconds = Math.round((Date.now() - date.getTime()) / 1000);
    const ago = seconds >= 0;
    const s = Math.abs(seconds);
    let text;
    if (s < 45) text = s + " s";
    else if (s < 2700) text = Math.round(s / 60) + " min";
    else if (s < 129600) text = Math.round(s / 3600) + " h";
    else text = Math.round(s / 86400) + " d";
    return ago ? text + " ago" : "in " + text;
  }

  // <time datetime="ISO"> → the browser's own zone, with "3 min ago"; the ISO stays in the tooltip.
  function showTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      const iso = el.getAttribute("datetime");
      if (!iso || iso === "None") { el.textContent = "—"; return; }
      const date = new Date(iso);
      if (isNaN(date.getTime())) return;
      el.textContent = date.toLocaleString() + " (" + relative(date) + ")";
      el.title = iso;
    });
  }

  function timeElement(iso) {
    const el = document.createElement("time");
    el.setAttribute("datetime", iso);
    el.textContent = iso;
    showTimes({ querySelectorAll: function () { return [el]; } });
    return el;
  }

  function setBadge(el, state) {
    el.textContent = state;
    el.className = "badge state-" + state.toLowerCase();
  }

  function cell(content) {
    const td = document.createElement("td");
    if (typeof content === "string") td.textContent = content; else if (content) td.appendChild(content);
    return td;
  }

  // A new run's row, built with textContent only (never HTML from the stream).
  function newRow(doc) {
    const tr = document.createElement("tr");
    tr.dataset.runId = doc.run_id;
    const link = document.createElement("a");
    link.href = "/ui/runs/" + encodeURIComponent(doc.run_id);
    link.textContent = doc.run_id.slice(0, 8);
    const badge = document.createElement("span");
    badge.dataset.field = "state";
    setBadge(badge, doc.state);
    const attempts = cell("0");
    attempts.dataset.field = "attempts";
    const finished = cell("—");
    finished.dataset.field = "finished";
    const queued = timeElement(new Date(doc.created_at * 1000).toISOString());
    [cell(link), cell(doc.job || ""), cell(badge), attempts, cell(queued), finished, cell("")].forEach(function (td) {
      tr.appendChild(td);
    });
    return tr;
  }

  let reloading = false;
  function reloadSoon() {  // a burst of events (N executions starting) reloads once
    if (reloading) return;
    reloading = true;
    setTimeout(function () { window.location.reload(); }, 400);
  }

  // Clusters (their `cluster.<status>` events) and container executions (their runs' events) on
  // the same stream: a list's badge changes in place; a detail page reloads to show what changed.
  function followOthers(doc) {
    if (doc.cluster_id && typeof doc.event === "string" && doc.event.indexOf("cluster.") === 0) {
      const one = document.getElementById("cluster-status");
      if (one && one.dataset.clusterId === doc.cluster_id && one.textContent !== doc.status) reloadSoon();
      const list = document.getElementById("clusters");
      const row = list && list.querySelector('tr[data-cluster-id="' + CSS.escape(doc.cluster_id) + '"]');
      if (row) {
        const badge = row.querySelector('[data-field="status"]');
        badge.textContent = doc.status;
        badge.className = "badge status-" + doc.status;
      }
      return;
    }
    if (doc.run_id && doc.state) {
      const watched = document.querySelector('[data-watch-run="' + CSS.escape(doc.run_id) + '"]');
      if (watched && watched.dataset.state !== doc.state) reloadSoon();
    }
  }

  function followRuns() {
    const table = document.getElementById("runs");
    const single = document.getElementById("run-state");
    const other = document.querySelector("#clusters, #cluster-status, #details, #detail-status");
    if (!table && !single && !other) return;
    const status = document.getElementById("live-status");
    const after = (table || single || other).dataset.after;
    const query = [];
    if (after) query.push("after=" + encodeURIComponent(after));
    if (single) query.push("run=" + encodeURIComponent(single.dataset.runId));  // with its progress
    const source = new EventSource("/ui/stream" + (query.length ? "?" + query.join("&") : ""));
    source.onopen = function () { if (status) status.textContent = "Live: updates as they happen."; };
    source.onerror = function () { if (status) status.textContent = "Live updates paused; reconnecting…"; };
    source.onmessage = function (message) {
      let doc;
      try { doc = JSON.parse(message.data); } catch (e) { return; }
      if (other) { followOthers(doc); return; }
      if (doc.event === "run.progress") { showProgress(doc); return; }
      if (!doc.run_id || !doc.state) return;
      if (single && single.dataset.runId === doc.run_id && single.textContent !== doc.state) {
        setBadge(single, doc.state);
        if (TERMINAL.has(doc.state) || doc.state === "RUNNING") window.location.reload();
        return;
      }
      if (!table) return;
      let row = table.querySelector('tr[data-run-id="' + CSS.escape(doc.run_id) + '"]');
      if (!row && doc.event === "queued" && table.dataset.live === "prepend"
          && (!table.dataset.job || table.dataset.job === doc.job)
          && (!table.dataset.state || table.dataset.state === doc.state)) {
        const empty = table.querySelector("tr.empty");
        if (empty) empty.remove();
        row = newRow(doc);
        table.tBodies[0].insertBefore(row, table.tBodies[0].firstChild);
      }
      if (!row) return;
      setBadge(row.querySelector('[data-field="state"]'), doc.state);
      if (doc.attempt) {
        const attempts = row.querySelector('[data-field="attempts"]');
        attempts.textContent = String(doc.attempt) + attempts.textContent.replace(/^\d+/, "");
      }
      if (TERMINAL.has(doc.state)) {
        const finished = row.querySelector('[data-field="finished"]');
        finished.textContent = "";
        finished.appendChild(timeElement(new Date((doc.created_at || Date.now() / 1000) * 1000).toISOString()));
      }
    };
    window.addEventListener("pagehide", function () { source.close(); });
  }

  function size(n) {
    const units = [["GiB", 1073741824], ["MiB", 1048576], ["KiB", 1024]];
    for (let i = 0; i < units.length; i++) {
      if (n >= units[i][1]) return (n / units[i][1]).toFixed(1) + " " + units[i][0];
    }
    return n + " B";
  }

  function setText(id, text) {
    const el = document.getElementById(id);
    if (el) el.textContent = text;
  }

  // A run's progress (the stream's run.progress messages): the summary line, the bar, and the rows
  // of the stages it names, added when new; text only, never HTML from the stream.
  function showProgress(doc) {
    const panel = document.getElementById("run-progress");
    if (!panel) return;
    setText("progress-tasks", doc.tasks.done + " of " + doc.tasks.planned + " tasks");
    setText("progress-stages", doc.stages_done + " of " + doc.stages_known + " stages done, " +
            doc.active_stages + " running");
    setText("progress-read", doc.rows_read + " rows, " + size(doc.bytes_read) + " read");
    if (doc.elapsed_s !== null) setText("progress-elapsed", Math.round(doc.elapsed_s) + " s elapsed");
    setText("progress-estimate", doc.estimate ? doc.estimate.text + " (from " + doc.estimate.basis + ")"
                                              : "no estimate yet");
    const bar = document.getElementById("progress-bar");
    if (!bar) return;
    bar.max = Math.max(doc.tasks.planned, 1);
    bar.value = doc.tasks.done;
    const t = doc.totals;
    const totals = {tasks: t.done + " / " + t.tasks, failed_tasks: String(t.failed_tasks),
                    input: size(t.input_bytes) + " (" + t.input_records + " rows)",
                    shuffle: size(t.shuffle_read) + " / " + size(t.shuffle_write), spilled: size(t.spilled),
                    gc: (t.gc_ms / 1000).toFixed(1) + " s"};
    Object.keys(totals).forEach(function (name) {
      const el = document.querySelector('#run-totals [data-total="' + name + '"]');
      if (el) el.textContent = totals[name];
    });
    const table = document.getElementById("run-stages");
    if (!table) {  // its first Spark events: the page draws their section
      if (doc.stages.length) reloadSoon();
      return;
    }
    doc.stages.forEach(function (stage) {
      let row = table.querySelector('tr[data-stage-id="' + stage.stage_id + '"]');
      if (!row) {
        const empty = table.querySelector("tr.empty");
        if (empty) empty.remove();
        row = document.createElement("tr");
        row.dataset.stageId = String(stage.stage_id);
        const tasks = document.createElement("td");
        const count = document.createElement("span");
        count.dataset.field = "tasks";
        const progress = document.createElement("progress");
        progress.dataset.field = "bar";
        tasks.append(count, " ", progress);
        const status = cell(""), input = cell(""), failed = cell("");
        status.dataset.field = "status"; input.dataset.field = "input"; failed.dataset.field = "failed";
        [cell(String(stage.stage_id)), cell(stage.name), status, tasks, input, cell("—"), cell("—"), failed]
          .forEach(function (td) { row.appendChild(td); });
        table.tBodies[0].appendChild(row);
      }
      const done = Math.min(stage.done, stage.tasks);
      row.className = stage.status;
      row.querySelector('[data-field="status"]').textContent = stage.status;
      row.querySelector('[data-field="tasks"]').textContent = done + " / " + stage.tasks;
      const bar = row.querySelector('[data-field="bar"]');
      bar.max = Math.max(stage.tasks, 1);
      bar.value = done;
      row.querySelector('[data-field="input"]').textContent = size(stage.input_bytes) + " (" + stage.input_records + " rows)";
      const failed = row.querySelector('[data-field="failed"]');
      failed.textContent = String(stage.failed_tasks);
      failed.className = stage.failed_tasks ? "err" : "";
    });
  }

  const CHARTS = {
    throughput: function (data) {
      return {
        series: [{}, { label: "succeeded", stroke: "#2f855a", fill: "rgba(47,133,90,0.15)" },
                 { label: "failed", stroke: "#c53030", fill: "rgba(197,48,48,0.15)" }],
        axes: [{}, { label: "runs / min" }],
        data: [data.t, data.succeeded, data.failed],
      };
    },
    cores: function (data) {
      return {
        series: [{}, { label: "cores allocated", stroke: "#718096", fill: "rgba(113,128,150,0.12)" },
                 { label: "cores busy", stroke: "#2b6cb0", fill: "rgba(43,108,176,0.25)" }],
        axes: [{}, { label: "cores" }],
        data: [data.t.map(function (ms) { return ms / 1000; }), data.allocated, data.busy],
      };
    },
    // A tuned job's runs in order: as written (baseline) and with a trial's settings, as points.
    tuning: function (data) {
      const points = function (color) { return { show: true, size: 8, fill: color }; };
      return {
        series: [{ label: "run" },
                 { label: "as written", stroke: "#718096", points: points("#718096"), spanGaps: false },
                 { label: "tuned", stroke: "#2b6cb0", points: points("#2b6cb0"), spanGaps: false }],
        // whole runs on x; y from zero, so before and after compare by height
        axes: [{ label: "run", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] }, {}],
        scales: { x: { time: false }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
        data: [data.x, data.written, data.tuned],
      };
    },
  };

  function drawCharts() {
    if (typeof uPlot === "undefined") return;
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      const make = CHARTS[el.dataset.chart];
      if (!make) return;
      const spec = make(JSON.parse(el.dataset.series));
      const width = function () { return Math.max(280, el.clientWidth); };
      const plot = new uPlot({ width: width(), height: 220, series: spec.series, axes: spec.axes,
                               scales: spec.scales }, spec.data, el);
      window.addEventListener("resize", function () { plot.setSize({ width: width(), height: 220 }); });
    });
  }

  // A page waiting for something without events (a task's image import) reloads itself.
  function reloadWhileWaiting() {
    const el = document.querySelector("[data-reload-every]");
    if (el) setTimeout(function () { window.location.reload(); }, 1000 * Number(el.dataset.reloadEvery));
  }

  document.addEventListener("DOMContentLoaded", function () {
    reloadWhileWaiting();
    showTimes(document);
    setInterval(function () { showTimes(document); }, 30000);
    drawCharts();
    followRuns();
  });
})();
