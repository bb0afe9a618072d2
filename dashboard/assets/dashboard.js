// frontmon dashboard: shows each <time datetime> in the reader's time zone and language, and
// draws the charts. The only script of our own; htmx does the rest from attributes.
(function () {
  "use strict";
  function localise(root) {
    var lang = document.documentElement.lang || undefined;
    var format;
    try {
      format = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
    } catch (e) {
      return;
    }
    var times = (root || document).querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var at = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(at.getTime())) {
        times[i].title = times[i].textContent;
        times[i].textContent = format.format(at);
      }
    }
  }

  // Charts: each [data-chart] element is drawn by uPlot from the page's JSON island
  // (<script type="application/json" id="charts">: data, never run). uPlot is loaded by the
  // first page that has a chart (a boosted link swaps the body, not the head). The time
  // axis is in the reader's zone (uPlot's default); a vital's chart has web.dev's good,
  // needs-improvement and poor bands behind its line.
  var uplot = null;
  var plots = [];
  var COLOURS = ["#0a58ca", "#8250df", "#1a7f37"];
  var BANDS = ["rgba(26,127,55,.13)", "rgba(191,135,0,.16)", "rgba(180,35,24,.13)"];
  function load(holder) {
    if (window.uPlot) return Promise.resolve();
    if (!uplot) {
      uplot = new Promise(function (done, fail) {
        var css = document.createElement("link");
        css.rel = "stylesheet";
        css.href = holder.getAttribute("data-uplot-css");
        document.head.appendChild(css);
        var script = document.createElement("script");
        script.src = holder.getAttribute("data-uplot");
        script.onload = done;
        script.onerror = fail;
        document.head.appendChild(script);
      });
    }
    return uplot;
  }
  function bands(edges) {
    return function (u) {
      var box = u.bbox, ctx = u.ctx, top = box.top, bottom = box.top + box.height;
      var at = function (v) { return Math.min(bottom, Math.max(top, u.valToPos(v, "y", true))); };
      var ys = [bottom, at(edges[0]), at(edges[1]), top];
      for (var i = 0; i < 3; i++) {
        ctx.fillStyle = BANDS[i];
        ctx.fillRect(box.left, ys[i + 1], box.width, ys[i] - ys[i + 1]);
      }
    };
  }
  function plot(holder, chart) {
    var data = [chart.x], series = [{ label: chart.time }], points = 0;
    chart.series.forEach(function (s, i) {
      data.push(s.values);
      s.values.forEach(function (v) { if (v !== null) points++; });
      series.push({ label: s.label, stroke: COLOURS[i % 3], width: 2, points: { show: true, size: 5 } });
    });
    var value = function (v) {
      return chart.unit !== "ms" ? String(v) : v >= 1000 ? v / 1000 + " s" : v + " ms";
    };
    var top = chart.bands ? chart.bands[1] * 1.25 : 1;
    var opts = {
      width: Math.max(200, holder.clientWidth),
      height: holder.classList.contains("small") ? 150 : 220,
      series: series,
      legend: { show: chart.series.length > 1 },
      scales: { y: { range: function (u, min, max) { return [0, Math.max(max || 0, top) * 1.05]; } } },
      axes: [{}, { size: 66, values: function (u, vals) { return vals.map(value); } }],
      hooks: chart.bands ? { drawClear: [bands(chart.bands)] } : {}
    };
    holder.textContent = "";
    plots.push([holder, new window.uPlot(opts, data, holder)]);
    holder.setAttribute("data-points", points);
  }
  // htmx drops every <script> of a page it swaps in (allowScriptTags is off), the island
  // too: it is read from the response before the swap.
  var swapped = null;
  document.addEventListener("htmx:beforeSwap", function (e) {
    var text = e.detail.serverResponse;
    var island = typeof text === "string" && text.indexOf('id="charts"') >= 0 &&
      new DOMParser().parseFromString(text, "text/html").getElementById("charts");
    swapped = island ? island.textContent : null;
  });
  function draw(root) {
    var island = document.getElementById("charts");
    var holders = (root || document).querySelectorAll("[data-chart]");
    var text = island ? island.textContent : swapped;
    if (!text || !holders.length) return;
    var charts;
    try { charts = JSON.parse(text); } catch (e) { return; }
    load(holders[0]).then(function () {
      plots = plots.filter(function (p) { return document.contains(p[0]); });
      for (var i = 0; i < holders.length; i++) {
        var id = holders[i].getAttribute("data-chart");
        var chart = charts.filter(function (c) { return c.id === id; })[0];
        if (chart && !holders[i].hasAttribute("data-points")) plot(holders[i], chart);
      }
    }, function () {});
  }
  window.addEventListener("resize", function () {
    plots.forEach(function (p) { p[1].setSize({ width: Math.max(200, p[0].clientWidth), height: p[1].height }); });
  });
  document.addEventListener("DOMContentLoaded", function () { localise(document); draw(document); });
  document.addEventListener("htmx:load", function (e) { localise(e.target); draw(e.target); });
})();
