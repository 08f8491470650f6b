/* The incident room (templates/web/incident.html). Everything works without this file; it
   draws each campaign's delivery funnel from the stages its box carries, lets a refusal (a
   4xx answer to a form) be swapped in so its reason shows next to the form, keeps what
   someone is typing from being wiped by a live refresh of its section, and makes sure the
   last change announced is shown. */
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
  // The live refresh's throttle: a catch-up waits as long, so it never adds to a burst.
  var CATCH_UP_MS = 1000;
  var openBoxes = {};
  // By section id: announcements heard, and how many of them its last fetch began after.
  var announced = {};
  var fetchedAsOf = {};

  function drawFunnels(root) {
    if (typeof echarts === "undefined" || !root.querySelectorAll) {
      return;
    }
    root.querySelectorAll("[data-funnel]").forEach(function (box) {
      var stages = JSON.parse(box.getAttribute("data-funnel")).stages.filter(function (stage) {
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

  // Counted before htmx acts on it (capture runs before the section's own listener), so a
  // fetch it starts counts it as seen.
  document.addEventListener("sse:incident", function (event) {
    if (isSection(event.target)) {
      announced[event.target.id] = (announced[event.target.id] || 0) + 1;
    }
  }, true);

  // A live refresh waits while someone is filling in a form in that section.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var element = event.detail.elt;
    if (!isSection(element) || event.detail.requestConfig.verb !== "get") {
      return;
    }
    if (isBeingEdited(element)) {
      event.preventDefault();
      return;
    }
    fetchedAsOf[element.id] = announced[element.id] || 0;
  });

  // htmx drops an announcement that arrives while its section is being fetched (the request
  // it queues belongs to the element the answer replaces), so a burst's last change (a
  // notice's final batch, its completion) could stay unseen: a section whose fetch began
  // before the latest announcement fetches once more.
  function catchUp(section) {
    if ((announced[section.id] || 0) <= (fetchedAsOf[section.id] || 0)) {
      return;
    }
    window.setTimeout(function () {
      if (document.body.contains(section)) {
        htmx.trigger(section, "sse:incident");
      }
    }, CATCH_UP_MS);
  }

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
    if (isSection(element)) {
      catchUp(element);
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
