// The training record's charts (the page's JSON block): per kind of objective, for each
// period of its cadence, how many people drilled it and how many did not (stacked bars,
// the gap in red so it shows).
(function () {
  "use strict";
  function draw() {
    var data = document.getElementById("training-charts");
    if (!data || typeof echarts === "undefined") return;
    var page = JSON.parse(data.textContent);
    var drawn = [];
    document.querySelectorAll("[data-chart]").forEach(function (box) {
      var spec = page.charts[Number(box.getAttribute("data-chart"))];
      var chart = echarts.init(box, null, { renderer: "svg" });
      chart.setOption({
        animation: false,
        grid: { left: 36, right: 12, top: 12, bottom: 56 },
        tooltip: { trigger: "axis" },
        legend: { bottom: 0 },
        xAxis: { type: "category", data: spec.labels },
        yAxis: { type: "value", min: 0, minInterval: 1 },
        series: [
          { type: "bar", stack: "people", name: page.drilled, data: spec.drilled, itemStyle: { color: "#2e7d32" } },
          { type: "bar", stack: "people", name: page.missed, data: spec.missed, itemStyle: { color: "#c62828" } },
        ],
      });
      drawn.push(chart);
    });
    window.addEventListener("resize", function () {
      drawn.forEach(function (chart) { chart.resize(); });
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
})();
