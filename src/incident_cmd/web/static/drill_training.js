// The training record's charts (the page's JSON block), one kind of objective at a time
// (the selector), so the page stays short on a phone: for each period of the kind's
// cadence, how many people drilled it and how many did not, and how many ratings of each
// value (P, S, M, U) its objectives were given (stacked bars, the gaps in red so they show).
// Without script every kind's panel stays shown.
(function () {
  "use strict";
  var RATING_COLOURS = { P: "#2e7d32", S: "#9e9d24", M: "#ef6c00", U: "#c62828" };

  function option(page, spec, which) {
    var series;
    if (which === "ratings") {
      // Best to worst, whatever order the JSON block's keys came in (it sorts them).
      series = ["P", "S", "M", "U"].map(function (value) {
        return {
          type: "bar", stack: "ratings", name: page.ratings[value] || value,
          data: spec.ratings[value], itemStyle: { color: RATING_COLOURS[value] },
        };
      });
    } else {
      series = [
        { type: "bar", stack: "people", name: page.drilled, data: spec.drilled, itemStyle: { color: "#2e7d32" } },
        { type: "bar", stack: "people", name: page.missed, data: spec.missed, itemStyle: { color: "#c62828" } },
      ];
    }
    return {
      animation: false,
      grid: { left: 36, right: 12, top: 12, bottom: which === "ratings" ? 84 : 56 },
      tooltip: { trigger: "axis", confine: true },
      // The ratings' legend names are long ("M: performed with major challenges"): the
      // letter is enough under the chart, the tooltip gives the whole name.
      legend: {
        bottom: 0,
        formatter: which === "ratings" ? function (name) { return name.split(":")[0]; } : undefined,
      },
      xAxis: { type: "category", data: spec.labels },
      yAxis: { type: "value", min: 0, minInterval: 1 },
      series: series,
    };
  }

  function draw() {
    var data = document.getElementById("training-charts");
    if (!data || typeof echarts === "undefined") return;
    var page = JSON.parse(data.textContent);
    var drawn = [];
    function drawIn(panel) {
      panel.querySelectorAll("[data-chart]").forEach(function (box) {
        if (box.getAttribute("data-drawn")) return;
        var spec = page.charts[Number(box.getAttribute("data-chart"))];
        var chart = echarts.init(box, null, { renderer: "svg" });
        chart.setOption(option(page, spec, box.getAttribute("data-series")));
        box.setAttribute("data-drawn", "1");
        drawn.push(chart);
      });
    }
    var panels = document.querySelectorAll("[data-kind-panel]");
    var picker = document.getElementById("training-kind");
    function show(kind) {
      panels.forEach(function (panel) {
        panel.hidden = panel.getAttribute("data-kind-panel") !== kind;
        // A chart drawn while hidden has no size: draw each kind when first shown.
        if (!panel.hidden) drawIn(panel);
      });
      // Those drawn before and resized while hidden take their size again.
      drawn.forEach(function (chart) { chart.resize(); });
    }
    if (picker && panels.length > 1) {
      picker.closest("label").hidden = false;
      picker.addEventListener("change", function () { show(picker.value); });
      show(picker.value);
    } else {
      panels.forEach(drawIn);
    }
    window.addEventListener("resize", function () {
      drawn.forEach(function (chart) { chart.resize(); });
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
})();
