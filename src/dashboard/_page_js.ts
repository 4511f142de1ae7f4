/**
 * The dashboard's script, as a string so that JSR and npm ship it. It polls
 * the JSON API and fills the page in with `textContent` and SVG elements
 * only: nothing from a job is ever parsed as HTML.
 */

// String.raw: the script's own backslashes stay as written.
export const PAGE_JS: string = String.raw`"use strict";
(function () {
  var POLL_MS = 1500;
  var PAGE_SIZE = 50;
  var SVG = "http://www.w3.org/2000/svg";
  var view = { state: "", method: "", offset: 0, detail: null };
  var readOnly = true;
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }
  function svg(tag, attributes, text) {
    var node = document.createElementNS(SVG, tag);
    for (var name in attributes) node.setAttribute(name, String(attributes[name]));
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function date(ms) {
    if (typeof ms !== "number") return "-";
    var d = new Date(ms);
    var pad = function (n) { return String(n).padStart(2, "0"); };
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function stateBadge(state) { return el("span", state, "state " + state); }

  async function api(path, body) {
    var init = body === undefined ? { headers: {} } : {
      method: "POST",
      headers: { "content-type": "application/json", "x-jobq-dashboard": "1" },
      body: JSON.stringify(body),
    };
    var response = await fetch(path, init);
    var data = await response.json().catch(function () { return {}; });
    if (!response.ok) throw new Error(data.error || ("HTTP " + response.status));
    return data;
  }

  function say(text, isError) {
    var message = $("message");
    message.textContent = text;
    message.className = isError ? "error" : "";
    message.hidden = false;
  }

  async function act(label, path, body, question) {
    if (question && !window.confirm(question)) return;
    try {
      var result = await api(path, body);
      var text = label;
      if (typeof result.retried === "number") text = "Retrying " + result.retried + " failed job(s).";
      else if (typeof result.removed === "number") text = "Removed " + result.removed + " job(s).";
      else if (result.job) text = "Retrying as job " + result.job.id + ".";
      say(text, false);
    } catch (error) {
      say(error.message, true);
    }
    refresh();
  }

  function renderCounts(overview) {
    document.querySelectorAll("[data-count]").forEach(function (node) {
      var key = node.getAttribute("data-count");
      var value = key === "total" ? overview.total : overview.byState[key];
      node.textContent = Number(value).toLocaleString("en-US");
    });
    document.querySelectorAll(".card").forEach(function (card) {
      card.classList.toggle("selected", card.getAttribute("data-state") === view.state);
    });
  }

  function renderMethods(overview) {
    var body = $("methods").tBodies[0];
    clear(body);
    var select = $("filter-method");
    var methods = Object.keys(overview.byMethod);
    var known = Array.prototype.map.call(select.options, function (o) { return o.value; });
    if (known.slice(1).join("\n") !== methods.join("\n")) {
      while (select.options.length > 1) select.remove(1);
      methods.forEach(function (method) {
        var option = el("option", method);
        option.value = method;
        select.appendChild(option);
      });
      select.value = view.method;
    }
    methods.forEach(function (method) {
      var counts = overview.byMethod[method];
      var row = el("tr");
      var name = el("td");
      var link = el("a", method);
      link.href = "#";
      link.addEventListener("click", function (event) {
        event.preventDefault();
        setFilter(view.state, method);
      });
      name.appendChild(link);
      row.appendChild(name);
      ["NOT_STARTED", "IN_PROGRESS", "COMPLETED", "FAILED", "total"].forEach(function (key) {
        row.appendChild(el("td", counts[key].toLocaleString("en-US"), "num"));
      });
      var cell = el("td");
      if (counts.FAILED > 0) {
        var button = el("button", "Retry failed", "row-action");
        button.addEventListener("click", function () {
          act("", "/api/retry-failed", { method: method },
            "Retry the " + counts.FAILED + " failed job(s) of " + method + "?");
        });
        cell.appendChild(button);
      }
      row.appendChild(cell);
      body.appendChild(row);
    });
    if (methods.length === 0) {
      var empty = el("tr");
      var td = el("td", "No jobs.", "muted");
      td.colSpan = 7;
      empty.appendChild(td);
      body.appendChild(empty);
    }
  }

  function renderMini(list, jobs, describe) {
    clear(list);
    if (jobs.length === 0) list.appendChild(el("li", "none", "muted"));
    jobs.forEach(function (job) {
      var item = el("li");
      var link = el("a", job.methodName);
      link.href = "#";
      link.addEventListener("click", function (event) {
        event.preventDefault();
        openDetail(job.id);
      });
      item.appendChild(link);
      item.appendChild(el("span", " " + describe(job), "muted"));
      list.appendChild(item);
    });
  }

  function renderEngines(engines) {
    var list = $("engines");
    clear(list);
    var alive = engines.filter(function (engine) { return engine.alive; });
    if (alive.length === 0) list.appendChild(el("li", "none alive", "muted"));
    alive.forEach(function (engine) {
      var text = "pid " + engine.pid + (engine.current ? " (this dashboard)" : "") +
        ", up since " + date(engine.startedAt) + ", heartbeat " + date(engine.heartbeatAt);
      list.appendChild(el("li", text));
    });
  }

  function axisLabels(chart, max, top, bottom, left) {
    [0, 0.5, 1].forEach(function (fraction) {
      var y = bottom - (bottom - top) * fraction;
      chart.appendChild(svg("line", { x1: left, x2: 476, y1: y, y2: y, class: "grid" }));
      chart.appendChild(svg("text", { x: left - 4, y: y + 3, "text-anchor": "end" },
        String(Math.round(max * fraction))));
    });
  }

  function renderCharts(history) {
    var top = 8, bottom = 120, left = 36, width = 476 - left;
    var step = width / history.length;
    var depth = $("depth-chart");
    clear(depth);
    var maxDepth = Math.max(1, Math.max.apply(null, history.map(function (s) { return s.waiting || 0; })));
    axisLabels(depth, maxDepth, top, bottom, left);
    var points = [];
    history.forEach(function (sample, index) {
      if (sample.waiting === null) return;
      var x = left + step * (index + 0.5);
      var y = bottom - (bottom - top) * sample.waiting / maxDepth;
      points.push(x.toFixed(1) + "," + y.toFixed(1));
    });
    if (points.length > 0) {
      var first = points[0].split(",")[0], last = points[points.length - 1].split(",")[0];
      depth.appendChild(svg("polygon", {
        points: first + "," + bottom + " " + points.join(" ") + " " + last + "," + bottom,
        class: "depth-area",
      }));
      depth.appendChild(svg("polyline", { points: points.join(" "), class: "depth" }));
    }
    var throughput = $("throughput-chart");
    clear(throughput);
    var maxRate = Math.max(1, Math.max.apply(null, history.map(function (s) {
      return s.completed + s.failed;
    })));
    axisLabels(throughput, maxRate, top, bottom, left);
    history.forEach(function (sample, index) {
      var x = left + step * index + 1;
      var scale = (bottom - top) / maxRate;
      var completed = sample.completed * scale, failed = sample.failed * scale;
      var title = date(sample.minute).slice(11, 16) + ": " + sample.completed + " completed, " +
        sample.failed + " failed";
      if (completed > 0) {
        var bar = svg("rect", { x: x, y: bottom - completed, width: step - 2, height: completed, class: "completed" });
        bar.appendChild(svg("title", {}, title));
        throughput.appendChild(bar);
      }
      if (failed > 0) {
        var failedBar = svg("rect", { x: x, y: bottom - completed - failed, width: step - 2, height: failed, class: "failed" });
        failedBar.appendChild(svg("title", {}, title));
        throughput.appendChild(failedBar);
      }
    });
    [depth, throughput].forEach(function (chart) {
      chart.appendChild(svg("text", { x: left, y: 136 }, "-60 min"));
      chart.appendChild(svg("text", { x: 476, y: 136, "text-anchor": "end" }, "now"));
    });
  }

  function renderJobs(page) {
    var body = $("jobs").tBodies[0];
    clear(body);
    page.jobs.forEach(function (job) {
      var row = el("tr");
      row.setAttribute("data-job-id", job.id);
      row.appendChild(el("td", date(job.executionDate)));
      row.appendChild(el("td", job.methodName));
      var state = el("td");
      state.appendChild(stateBadge(job.state));
      row.appendChild(state);
      row.appendChild(el("td", job.attempts, "num"));
      row.appendChild(el("td", job.error || "", "error"));
      row.appendChild(el("td", job.id, "id"));
      var actions = el("td");
      if (job.state === "FAILED") {
        var retry = el("button", "Retry", "row-action retry");
        retry.addEventListener("click", function (event) {
          event.stopPropagation();
          act("", "/api/retry", { id: job.id });
        });
        actions.appendChild(retry);
      }
      if (job.state !== "IN_PROGRESS") {
        var remove = el("button", "Remove", "row-action danger remove");
        remove.addEventListener("click", function (event) {
          event.stopPropagation();
          act("", "/api/remove", { id: job.id }, "Remove job " + job.id + " of " + job.methodName + "?");
        });
        actions.appendChild(remove);
      }
      row.appendChild(actions);
      row.addEventListener("click", function () { openDetail(job.id); });
      body.appendChild(row);
    });
    if (page.jobs.length === 0) {
      var empty = el("tr");
      var td = el("td", "No jobs match.", "muted");
      td.colSpan = 7;
      empty.appendChild(td);
      body.appendChild(empty);
    }
    var end = page.offset + page.jobs.length;
    $("range").textContent = page.total === 0 ? "0 jobs"
      : (page.offset + 1) + "–" + end + " of " + page.total.toLocaleString("en-US");
    $("previous").disabled = page.offset === 0;
    $("next").disabled = end >= page.total;
  }

  async function renderDetail() {
    if (view.detail === null) return;
    try {
      var record = await api("/api/jobs/" + encodeURIComponent(view.detail));
      $("detail-id").textContent = record.id + " (" + record.methodName + ", " + record.state + ")";
      var error = $("detail-error");
      error.hidden = !record.error;
      error.textContent = record.error ? (record.error.stack || record.error.name + ": " + record.error.message) : "";
      $("detail-record").textContent = JSON.stringify(record, null, 2);
    } catch (failure) {
      $("detail-record").textContent = failure.message;
      $("detail-error").hidden = true;
    }
  }

  function openDetail(id) {
    view.detail = id;
    $("detail").hidden = false;
    renderDetail().then(function () { $("detail").scrollIntoView({ block: "nearest" }); });
  }

  function setFilter(state, method) {
    view.state = state;
    view.method = method;
    view.offset = 0;
    $("filter-state").value = state;
    $("filter-method").value = method;
    refresh();
  }

  var refreshing = false;
  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    try {
      var query = "?state=" + encodeURIComponent(view.state) + "&method=" +
        encodeURIComponent(view.method) + "&offset=" + view.offset + "&limit=" + PAGE_SIZE;
      var results = await Promise.all([api("/api/overview"), api("/api/jobs" + query)]);
      var overview = results[0];
      readOnly = overview.readOnly;
      document.body.classList.toggle("read-only", readOnly);
      $("read-only").hidden = !readOnly;
      $("location").textContent = overview.location;
      renderCounts(overview);
      renderMethods(overview);
      renderMini($("next-due"), overview.nextDue, function (job) { return "due " + date(job.executionDate); });
      renderMini($("oldest-waiting"), overview.oldestWaiting, function (job) { return "scheduled " + date(job.createdAt); });
      renderEngines(overview.engines);
      renderCharts(overview.history);
      renderJobs(results[1]);
      await renderDetail();
      $("status").textContent = "updated " + date(overview.takenAt).slice(11);
      document.body.setAttribute("data-loaded", "true");
    } catch (error) {
      $("status").textContent = "cannot reach the dashboard: " + error.message;
    } finally {
      refreshing = false;
    }
  }

  document.querySelectorAll(".card").forEach(function (card) {
    card.addEventListener("click", function () { setFilter(card.getAttribute("data-state"), view.method); });
  });
  $("filter-state").addEventListener("change", function (event) { setFilter(event.target.value, view.method); });
  $("filter-method").addEventListener("change", function (event) { setFilter(view.state, event.target.value); });
  $("previous").addEventListener("click", function () { view.offset = Math.max(0, view.offset - PAGE_SIZE); refresh(); });
  $("next").addEventListener("click", function () { view.offset += PAGE_SIZE; refresh(); });
  $("detail-close").addEventListener("click", function () { view.detail = null; $("detail").hidden = true; });
  $("retry-failed").addEventListener("click", function () {
    var method = view.method;
    act("", "/api/retry-failed", { method: method },
      "Retry every failed job" + (method ? " of " + method : "") + "?");
  });
  $("remove-failed").addEventListener("click", function () {
    var age = $("older-than").value.trim();
    var method = view.method;
    act("", "/api/remove-failed", { method: method, olderThan: age },
      "Remove the failed jobs" + (method ? " of " + method : "") + (age ? " that failed more than " + age + " ago" : "") + "?");
  });
  refresh();
  setInterval(refresh, POLL_MS);
})();
`;
