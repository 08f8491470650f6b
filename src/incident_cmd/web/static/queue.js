/* The complaint queue (templates/web/tickets.html). Everything works without this file; it
   fetches the list again, at the same address (the reader's filters and page), when
   /live/queue announces a ticket's change, after a lost stream comes back, and when a
   countdown shown is due to change colour or minutes (the list's data-refresh-in, in
   seconds). As the incident room does, it fetches at most once a second and always after
   the last announcement: an announcement only schedules a fetch (htmx would drop one that
   arrives while the list is being fetched). Announcements are heard on the box around the
   list (#queue-live), never swapped out, so none is lost to a list being replaced. */
(function () {
  "use strict";

  var LIST_ID = "queue-list";
  var STREAM_ID = "queue-live";
  var SPACING_MS = 1000;
  var lastFetchAt = 0;
  var scheduled = null;
  var inFlight = false;
  var stale = false;  // announced since the fetch in flight began
  var countdownTimer = null;
  var opened = false;

  function isList(element) {
    return element && element.id === LIST_ID;
  }

  function schedule() {
    if (scheduled) {
      return;
    }
    var delay = Math.max(0, lastFetchAt + SPACING_MS - Date.now());
    scheduled = window.setTimeout(function () {
      scheduled = null;
      var list = document.getElementById(LIST_ID);
      if (!list) {
        return;
      }
      if (inFlight) {
        stale = true;  // fetched again once this one has landed
        return;
      }
      htmx.trigger(list, "queue-refresh");
    }, delay);
  }

  function watchCountdowns(list) {
    window.clearTimeout(countdownTimer);
    var seconds = parseFloat(list.getAttribute("data-refresh-in"));
    if (seconds > 0) {
      countdownTimer = window.setTimeout(schedule, seconds * 1000);
    }
  }

  function landed() {
    inFlight = false;
    if (stale) {
      stale = false;
      schedule();
    }
  }

  document.addEventListener("sse:queue", function (event) {
    if (event.target.id === STREAM_ID) {
      schedule();
    }
  });

  // A stream that comes back may have missed announcements meanwhile.
  document.addEventListener("htmx:sseOpen", function () {
    if (opened) {
      schedule();
    }
    opened = true;
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!isList(event.detail.elt)) {
      return;
    }
    lastFetchAt = Date.now();
    inFlight = true;
    stale = false;
  });

  // A fetch lands either as a new list (which htmx loads; the old one is detached, so its
  // own events no longer reach the document) or, failing, on the list it left.
  document.addEventListener("htmx:afterRequest", function (event) {
    if (isList(event.detail.elt)) {
      landed();
    }
  });

  htmx.onLoad(function (element) {
    var list = isList(element) ? element : element.querySelector && element.querySelector("#" + LIST_ID);
    if (!list) {
      return;
    }
    if (isList(element)) {
      landed();
    }
    watchCountdowns(list);
  });
})();
