// Tooltips for timeline bars and cross-highlighting between a bar and its table rows.
// Data comes from the JSON blocks beside each timeline and is only ever set as textContent.
(function () {
  "use strict";
  var tip = document.getElementById("tip");
  var cache = {};

  function tipsFor(el) {
    var holder = el.closest("[data-tips]");
    if (!holder) return {};
    var id = holder.getAttribute("data-tips");
    if (!(id in cache)) {
      var src = document.getElementById(id);
      cache[id] = src ? JSON.parse(src.textContent) : {};
    }
    return cache[id];
  }

  function place(x, y) {
    var w = tip.offsetWidth, h = tip.offsetHeight;
    var left = x + 16, top = y + 16;
    if (left + w > window.innerWidth - 8) left = Math.max(8, x - w - 16);
    if (top + h > window.innerHeight - 8) top = Math.max(8, y - h - 16);
    tip.style.left = left + "px";
    tip.style.top = top + "px";
  }

  function highlight(el, on) {
    var scope = el.closest(".anomaly") || document;
    var op = el.getAttribute("data-op");
    scope.querySelectorAll('[data-op="' + op + '"], [data-op-ref="' + op + '"]').forEach(function (n) {
      n.classList.toggle("hl", on);
    });
  }

  var current = null;
  function show(bar, x, y) {
    if (current === bar) { place(x, y); return; }
    hide();
    var d = tipsFor(bar)[bar.getAttribute("data-op")];
    if (!d) return;
    tip.textContent = "";
    var title = document.createElement("div");
    title.className = "tip-title";
    title.textContent = d.title;
    tip.appendChild(title);
    var table = document.createElement("table");
    d.rows.forEach(function (r) {
      var tr = table.insertRow();
      var th = document.createElement("th");
      th.textContent = r[0];
      tr.appendChild(th);
      tr.insertCell().textContent = r[1];
    });
    tip.appendChild(table);
    tip.hidden = false;
    current = bar;
    highlight(bar, true);
    place(x, y);
  }

  function hide() {
    if (current) highlight(current, false);
    current = null;
    tip.hidden = true;
  }

  document.addEventListener("mouseover", function (ev) {
    var bar = ev.target.closest ? ev.target.closest(".bar[data-op]") : null;
    if (bar) { show(bar, ev.clientX, ev.clientY); return; }
    hide();
    var row = ev.target.closest ? ev.target.closest("[data-op-ref]") : null;
    if (row) {
      var scope = row.closest(".anomaly") || document;
      var target = scope.querySelector('.bar[data-op="' + row.getAttribute("data-op-ref") + '"]');
      if (target) { highlight(target, true); current = target; }
    }
  });
  document.addEventListener("mousemove", function (ev) {
    if (current && !tip.hidden) place(ev.clientX, ev.clientY);
  });
  document.addEventListener("focusin", function (ev) {
    var bar = ev.target.closest ? ev.target.closest(".bar[data-op]") : null;
    if (!bar) return;
    var r = bar.getBoundingClientRect();
    show(bar, r.left, r.bottom);
  });
  document.addEventListener("focusout", hide);
  document.addEventListener("keydown", function (ev) { if (ev.key === "Escape") hide(); });

  // A wide window opens scrolled to the op that cannot be placed.
  document.querySelectorAll(".scroll[data-tips]").forEach(function (box) {
    var failing = box.querySelector(".bar.r-failing");
    if (!failing) return;
    var b = failing.getBoundingClientRect(), c = box.getBoundingClientRect();
    box.scrollLeft = Math.max(0, b.left - c.left - c.width * 0.6);
  });

  // Ticking anomaly types off hides those anomalies of the checker's list.
  document.querySelectorAll("input[data-filter]").forEach(function (box) {
    box.addEventListener("change", function () {
      var section = document.getElementById(box.getAttribute("data-filter"));
      section.querySelectorAll(".anomaly").forEach(function (a) {
        if (a.getAttribute("data-type") === box.value) a.hidden = !box.checked;
      });
    });
  });

  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    b.addEventListener("click", function () {
      var source = document.getElementById(b.getAttribute("data-copy"));
      var done = function () {
        b.textContent = "copied";
        setTimeout(function () { b.textContent = "copy"; }, 1500);
      };
      var select = function () {  // no clipboard API (e.g. some file:// pages): select it
        var range = document.createRange();
        range.selectNodeContents(source);
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        b.textContent = "selected: press Ctrl-C";
      };
      if (navigator.clipboard) navigator.clipboard.writeText(source.textContent).then(done, select);
      else select();
    });
  });
})();
