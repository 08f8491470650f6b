// The complaint cluster's counts by hour (the page's JSON block) as a bar chart.
(function () {
  "use strict";
  function draw() {
    var data = document.getElementById("signal-hours");
    var box = document.getElementById("signal-chart");
    if (!data || !box || typeof echarts === "undefined") return;
    var hours = JSON.parse(data.textContent);
    var chart = echarts.init(box, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      grid: { left: 40, right: 16, top: 16, bottom: 48 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: hours.labels, axisLabel: { rotate: 45 } },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ type: "bar", data: hours.counts, itemStyle: { color: "#b42318" } }],
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  document.addEventListener("DOMContentLoaded", draw);
})();
