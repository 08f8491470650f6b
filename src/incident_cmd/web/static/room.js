/* The incident room (templates/web/incident.html). Everything works without this file; it
   draws each campaign's delivery funnel from the stages its box carries and the complaint
   curve from the hours its box carries, lets a refusal (a 4xx answer to a form) be swapped
   in so its reason shows next to the form, keeps what someone is typing from being wiped by
   a live refresh of its section, and refreshes each section at most once a second, always
   after the last change announced. */
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
  // A section is refetched at most once a second, and always after the last announcement
  // it heard: announcements only schedule a refresh (htmx would drop one that arrives while
  // its section is being fetched, and its own throttle starts afresh on each swapped-in
  // section, so it could neither space refreshes out nor keep the last change).
  var SPACING_MS = 1000;
  var openBoxes = {};
  // By section id: when its last refresh began, its scheduled refresh, whether one is in
  // flight, and whether something was announced since that one began.
  var lastFetchAt = {};
  var timers = {};
  var inFlight = {};
  var stale = {};
  var failures = {};
  var MAX_RETRY_MS = 30000;

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

  // Complaints per hour in the incident's scope, the declaration hour marked.
  function drawCurves(root) {
    if (typeof echarts === "undefined" || !root.querySelectorAll) {
      return;
    }
    root.querySelectorAll("[data-curve]").forEach(function (box) {
      var curve = JSON.parse(box.getAttribute("data-curve"));
      var chart = echarts.getInstanceByDom(box) || echarts.init(box);
      chart.resize();
      // The label runs away from the nearer edge, so a recent declaration's is not cut off.
      var late = curve.labels.indexOf(curve.declared) > curve.labels.length / 2;
      var declared = curve.declared === null ? [] : [{
        xAxis: curve.declared,
        label: {
          formatter: curve.declaredName,
          color: "#111827",
          fontWeight: "bold",
          align: late ? "right" : "left"
        },
        lineStyle: { color: "#111827", type: "dashed", width: 2 }
      }];
      chart.setOption({
        animation: false,
        grid: { left: 8, right: 16, top: 28, bottom: 8, containLabel: true },
        tooltip: { trigger: "axis" },
        xAxis: {
          type: "category",
          data: curve.labels,
          // The first and last hours' labels stay inside a phone-wide chart.
          axisLabel: {
            hideOverlap: true,
            color: "#111827",
            alignMinLabel: "left",
            alignMaxLabel: "right"
          }
        },
        yAxis: { type: "value", minInterval: 1, axisLabel: { color: "#111827" } },
        series: [{
          name: curve.series,
          type: "bar",
          data: curve.counts,
          itemStyle: { color: "#b42318" },
          markLine: { symbol: "none", silent: true, data: declared }
        }]
      }, true);
    });
  }

  function disposeCharts(root) {
    if (typeof echarts === "undefined" || !root.querySelectorAll) {
      return;
    }
    root.querySelectorAll("[data-funnel], [data-curve]").forEach(function (box) {
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

  function schedule(id) {
    if (timers[id]) {
      return;
    }
    var delay = Math.max(0, (lastFetchAt[id] || 0) + SPACING_MS - Date.now());
    timers[id] = window.setTimeout(function () {
      timers[id] = null;
      var section = document.getElementById(id);
      if (!section) {
        return;
      }
      if (inFlight[id]) {
        stale[id] = true;  // fetched again once this one has landed
        return;
      }
      htmx.trigger(section, "room-refresh");
    }, delay);
  }

  document.addEventListener("sse:incident", function (event) {
    if (isSection(event.target)) {
      schedule(event.target.id);
    }
  }, true);

  document.addEventListener("htmx:beforeRequest", function (event) {
    var element = event.detail.elt;
    if (!isSection(element) || event.detail.requestConfig.verb !== "get") {
      return;
    }
    var cause = event.detail.requestConfig.triggeringEvent;
    if (cause && cause.type === "sse:incident") {
      event.preventDefault();  // scheduled instead, above
      return;
    }
    if (isBeingEdited(element)) {
      // A live refresh waits while someone is filling in a form in that section.
      event.preventDefault();
      window.setTimeout(function () { schedule(element.id); }, SPACING_MS);
      return;
    }
    lastFetchAt[element.id] = Date.now();
    inFlight[element.id] = true;
    stale[element.id] = false;
  });

  function landed(id, failed) {
    inFlight[id] = false;
    if (failed) {
      // A refresh the server could not answer (busy, restarting) is tried again, later each
      // time, so the last change is still shown once it answers.
      failures[id] = (failures[id] || 0) + 1;
      var wait = Math.min(SPACING_MS * Math.pow(2, failures[id]), MAX_RETRY_MS);
      window.setTimeout(function () { schedule(id); }, wait);
      return;
    }
    failures[id] = 0;
    if (stale[id]) {
      stale[id] = false;
      schedule(id);
    }
  }

  // A refresh lands either as its new section (which htmx loads; the old one is detached,
  // so its own events no longer reach the document) or, failing, on the section it left.
  document.addEventListener("htmx:afterRequest", function (event) {
    var element = event.detail.elt;
    if (isSection(element) && event.detail.requestConfig.verb === "get") {
      landed(element.id, !event.detail.successful);
    }
  });

  // Announcements made while the stream was down were never heard: once it is back, every
  // section is fetched again.
  var streamOpened = false;
  document.addEventListener("htmx:sseOpen", function () {
    if (streamOpened) {
      document.querySelectorAll(".room-section[id]").forEach(function (section) {
        schedule(section.id);
      });
    }
    streamOpened = true;
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
    if (isSection(element)) {
      landed(element.id);
    }
    drawFunnels(element);
    drawCurves(element);
  });

  window.addEventListener("resize", function () {
    if (typeof echarts === "undefined") {
      return;
    }
    document.querySelectorAll("[data-funnel], [data-curve]").forEach(function (box) {
      var chart = echarts.getInstanceByDom(box);
      if (chart) {
        chart.resize();
      }
    });
  });
})();
