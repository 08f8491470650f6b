// The quarterly review meeting's trends (the page's JSON block) as line charts, one per unit;
// a month without the moment (no incident reached it) is a gap in its line.
(function () {
  "use strict";
  function draw() {
    var data = document.getElementById("quarterly-charts");
    if (!data || typeof echarts === "undefined") return;
    var charts = JSON.parse(data.textContent);
    var drawn = [];
    document.querySelectorAll("[data-chart]").forEach(function (box) {
      var spec = charts[box.getAttribute("data-chart")];
      var chart = echarts.init(box, null, { renderer: "svg" });
      chart.setOption({
        animation: false,
        grid: { left: 44, right: 16, top: 16, bottom: spec.series.length > 1 ? 72 : 32 },
        tooltip: { trigger: "axis" },
        legend: { bottom: 0, type: "scroll" },
        xAxis: { type: "category", data: charts.months },
        yAxis: { type: "value", min: 0 },
        series: spec.series.map(function (series) {
          return { type: "line", name: series.name, data: series.data, connectNulls: false, symbolSize: 7 };
        }),
      });
      drawn.push(chart);
    });
    window.addEventListener("resize", function () {
      drawn.forEach(function (chart) { chart.resize(); });
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
})();
