/* The incident room (templates/web/incident.html). Everything works without this file; it
   draws each campaign's delivery funnel from the JSON block next to it, lets a refusal (a
   4xx answer to a form) be swapped in so its reason shows next to the form, and keeps what
   someone is typing from being wiped by a live refresh of its section. */
(function () {
  "use strict";

  // Stage colours, each readable against white, matching the tiles' words.
  var TONES = {
    pending: "#4b5563",
    deferred: "#a15c07",
    sending: "#2563eb",
    sent: "#1d4ed8",
    delivered: "#05603a",
    failed: "#b42318",
    suppressed: "#6d28d9",
    cancelled: "#6b7280"
  };
  var ALWAYS_SHOWN = ["pending", "delivered", "failed"];
  var openBoxes = {};

  function drawFunnels(root) {
    if (typeof echarts === "undefined" || !root.querySelectorAll) {
      return;
    }
    root.querySelectorAll("[data-funnel]").forEach(function (box) {
      var source = document.getElementById(box.getAttribute("data-funnel"));
      if (!source) {
        return;
      }
      var stages = JSON.parse(source.textContent).stages.filter(function (stage) {
        return stage.value > 0 || ALWAYS_SHOWN.indexOf(stage.key) >= 0;
      });
      box.style.height = stages.length * 32 + 16 + "px";
      var chart = echarts.getInstanceByDom(box) || echarts.init(box);
      chart.resize();
      chart.setOption({
        animation: false,
        grid: { left: 4, right: 56, top: 4, bottom: 4, containLabel: true },
        xAxis: { type: "value", show: false },
        yAxis: {
          type: "category",
          inverse: true,
          data: stages.map(function (stage) { return stage.name; }),
          axisTick: { show: false },
          axisLine: { show: false },
          axisLabel: { color: "#111827", fontSize: 13 }
        },
        series: [{
          type: "bar",
          barMaxWidth: 20,
          data: stages.map(function (stage) {
            return { value: stage.value, itemStyle: { color: TONES[stage.key] || "#4b5563" } };
          }),
          label: { show: true, position: "right", color: "#111827", fontWeight: "bold" }
        }]
      }, true);
    });
  }

  function disposeCharts(root) {
    if (typeof echarts === "undefined" || !root.querySelectorAll) {
      return;
    }
    root.querySelectorAll("[data-funnel]").forEach(function (box) {
      var chart = echarts.getInstanceByDom(box);
      if (chart) {
        chart.dispose();
      }
    });
  }

  function isSection(element) {
    return element && element.classList && element.classList.contains("room-section");
  }

  function isBeingEdited(section) {
    var active = document.activeElement;
    if (active && section.contains(active) && active.matches("input, textarea, select")) {
      return true;
    }
    return Array.prototype.some.call(
      section.querySelectorAll("textarea, input:not([type]), input[type=text]"),
      function (field) { return field.value !== field.defaultValue; }
    );
  }

  // A live refresh waits while someone is filling in a form in that section.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var element = event.detail.elt;
    if (isSection(element) && event.detail.requestConfig.verb === "get" && isBeingEdited(element)) {
      event.preventDefault();
    }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var post = detail.requestConfig && detail.requestConfig.verb === "post";
    if (post && detail.xhr.status >= 400 && detail.xhr.status < 500) {
      // The room again with the reason next to the form: show it, it is not a failure.
      detail.shouldSwap = true;
      detail.isError = false;
    }
    if (isSection(detail.target)) {
      if (!post) {
        openBoxes[detail.target.id] = Array.prototype.map.call(
          detail.target.querySelectorAll("details[open] [data-form]"),
          function (form) { return form.getAttribute("data-form"); }
        );
      }
      disposeCharts(detail.target);
    }
  });

  // After an action, the other sections catch up at once (the live stream may lag or be down).
  document.addEventListener("htmx:afterRequest", function (event) {
    var detail = event.detail;
    if (detail.requestConfig.verb === "post" && detail.successful && detail.elt.closest(".room")) {
      htmx.trigger(document.body, "room-changed");
    }
  });

  htmx.onLoad(function (element) {
    if (element.id && openBoxes[element.id]) {
      openBoxes[element.id].forEach(function (name) {
        var form = element.querySelector('[data-form="' + CSS.escape(name) + '"]');
        if (form && form.closest("details")) {
          form.closest("details").open = true;
        }
      });
      delete openBoxes[element.id];
    }
    drawFunnels(element);
  });

  window.addEventListener("resize", function () {
    if (typeof echarts === "undefined") {
      return;
    }
    document.querySelectorAll("[data-funnel]").forEach(function (box) {
      var chart = echarts.getInstanceByDom(box);
      if (chart) {
        chart.resize();
      }
    });
  });
})();
