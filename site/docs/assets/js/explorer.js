/* vramatlas explorer: GPU, method, context and batch -> every model's peak against the card.
 *
 * The controls sit above the chart (they never move). This script computes the rows from
 * data/curves.json and data/gpus.json once per change and gives the SAME rows to the chart (its
 * named data "rows") and to the table under it. Every model is listed: one whose maximum context
 * is shorter than the chosen one is marked, not dropped. The state is in the URL
 * (?gpu=&method=&seq-len=&batch=, the CLI's option names). Tapping a bar (or a row) shows its numbers.
 * #va-explorer gets data-state="ready" and data-view="gpu|method|seq-len|batch" after each update.
 */
(function () {
  "use strict";
  var me = document.currentScript && document.currentScript.src;
  var root = me ? me.replace(/assets\/js\/explorer\.js(\?.*)?$/, "") : "../";

  function k(n) { return n >= 1024 && n % 512 === 0 ? (n / 1024) + "k" : n.toLocaleString("en"); }
  function json(url) { return fetch(root + url).then(function (r) { if (!r.ok) throw new Error(url + ": HTTP " + r.status); return r.json(); }); }

  function start(box) {
    var meta = JSON.parse(box.querySelector("script[type='application/json']").textContent);
    var chartEl = document.getElementById("explorer");
    var f = {
      gpu: box.querySelector("[name=gpu]"), method: box.querySelector("[name=method]"),
      ctx: box.querySelector("[name=seq-len]"), ctxOut: box.querySelector("#va-ex-ctx-out"),
      batch: box.querySelectorAll("[name=batch]"),
    };
    var body = document.querySelector("#va-ex-table tbody");
    var caption = document.querySelector("#va-ex-table caption");
    var detail = document.getElementById("va-ex-detail");
    var summary = document.getElementById("va-ex-summary");
    var view = null, data = null, gpus = {}, lastRows = [];

    function state() {
      var b = 1;
      f.batch.forEach(function (r) { if (r.checked) b = parseInt(r.value, 10); });
      return { gpu: f.gpu.value, method: f.method.value, ctx: meta.contexts[parseInt(f.ctx.value, 10)], batch: b };
    }
    function set(s) {
      if (s.gpu && gpus[s.gpu]) f.gpu.value = s.gpu;
      if (s.method && meta.methods.indexOf(s.method) >= 0) f.method.value = s.method;
      var i = meta.contexts.indexOf(parseInt(s.ctx, 10));
      if (i >= 0) f.ctx.value = String(i);
      f.batch.forEach(function (r) { r.checked = parseInt(r.value, 10) === parseInt(s.batch, 10) || (!s.batch && r.defaultChecked); });
    }
    function rows(s) {
      var g = gpus[s.gpu];
      var at = {};
      data.forEach(function (d) { if (d.t === s.method && d.s === s.ctx && d.b === s.batch) at[d.i] = d; });
      return meta.models.map(function (m) {
        var d = at[m.id];
        if (!d) {
          var applies = meta.pairs[m.id] && meta.pairs[m.id].indexOf(s.method) >= 0;
          return { id: m.id, m: m.name, gib: null, spare: null, x: 0.26,
                   verdict: applies ? "beyond its maximum context" : "method does not apply",
                   label: applies ? "beyond its maximum context (" + k(m.max) + ")" : "method does not apply to this model" };
        }
        var gib = d.n + g.ctx, spare = g.cap - gib, fits = spare >= 0;
        return { id: m.id, m: m.name, gib: gib, spare: spare, x: gib, verdict: fits ? "fits" : "does not fit",
                 label: fits ? "\u2713 " + spare.toFixed(1) + " spare" : "\u2717 " + (-spare).toFixed(1) + " over" };
      });
    }
    function table(list, s) {
      body.textContent = "";
      list.forEach(function (r) {
        var tr = document.createElement("tr");
        tr.id = "va-ex-row-" + r.id;
        tr.className = r.verdict === "fits" ? "va-fit" : r.gib === null ? "va-beyond" : "va-nofit";
        [[r.m, null], [r.gib === null ? "\u2014" : r.gib.toFixed(2), r.gib === null ? -1 : r.gib],
         [r.spare === null ? "\u2014" : (r.spare >= 0 ? "+" : "") + r.spare.toFixed(2), r.spare === null ? -1e9 : r.spare],
         [r.verdict === "fits" ? "\u2713 fits" : r.verdict === "does not fit" ? "\u2717 does not fit" : r.label, null]
        ].forEach(function (c) {
          var td = document.createElement("td");
          td.textContent = c[0];
          if (c[1] !== null) td.setAttribute("data-sort", String(c[1]));
          tr.appendChild(td);
        });
        tr.tabIndex = 0;
        tr.addEventListener("click", function () { tell(r); });
        tr.addEventListener("keydown", function (e) { if (e.key === "Enter") tell(r); });
        body.appendChild(tr);
      });
      var g = gpus[s.gpu];
      caption.textContent = "Every model on one " + g.name + " (" + g.cap.toFixed(1) + " GiB usable): " +
        f.method.options[f.method.selectedIndex].text + ", " + k(s.ctx) + " context, batch " + s.batch + " (GiB)";
    }
    function tell(r) {
      var g = gpus[state().gpu];
      detail.textContent = r.gib === null ? r.m + ": " + r.label + "."
        : r.m + ": " + r.gib.toFixed(2) + " GiB peak on " + g.name + ", " + (r.spare >= 0 ? r.spare.toFixed(2) + " GiB to spare (fits)" : (-r.spare).toFixed(2) + " GiB too much (does not fit)") + ".";
    }
    function update(push) {
      var s = state();
      f.ctxOut.textContent = k(s.ctx) + " tokens";
      f.ctx.setAttribute("aria-valuetext", k(s.ctx) + " tokens");
      var list = rows(s);
      lastRows = list;
      var g = gpus[s.gpu];
      var top = Math.max(g.cap, Math.max.apply(null, list.map(function (r) { return r.gib || 0; })));
      // room right of the longest bar for its label (about 80 px), whatever the chart's width
      var w = Math.max(120, view.width()), room = Math.min(0.6, 80 / w);
      view.signal("xmax", 0.25 * Math.pow(top / 0.25, 1 / (1 - room)));
      view.change("rows", vega.changeset().remove(function () { return true; }).insert(list))
          .change("cap", vega.changeset().remove(function () { return true; }).insert([{ cap: g.cap, name: g.name }]));
      view.runAsync().then(function () {
        table(list, s);
        var fits = list.filter(function (r) { return r.verdict === "fits"; }).length;
        var beyond = list.filter(function (r) { return r.gib === null; }).length;
        summary.textContent = fits + " of " + list.length + " models fit on one " + g.name + " at " + k(s.ctx) +
          " tokens, batch " + s.batch + (beyond ? "; " + beyond + " not at this context (beyond their maximum, or the method does not apply)" : "") + ".";
        if (push) {
          var q = new URLSearchParams({ gpu: s.gpu, method: s.method, "seq-len": String(s.ctx), batch: String(s.batch) });
          history.replaceState(null, "", window.location.pathname + "?" + q.toString());
        }
        box.setAttribute("data-view", [s.gpu, s.method, s.ctx, s.batch].join("|"));
        box.setAttribute("data-state", "ready");
      });
    }

    function ready(v) {
      view = v;
      view.addEventListener("click", function (e, item) {
        if (item && item.datum && item.datum.m) {
          var r = lastRows.filter(function (x) { return x.m === item.datum.m; })[0];
          if (r) tell(r);
        }
      });
      Promise.all([json(meta.curves), json(meta.gpus)]).then(function (got) {
        data = got[0];
        got[1].forEach(function (g) { gpus[g.id] = g; });
        var q = new URLSearchParams(window.location.search);
        set({ gpu: q.get("gpu") || meta.gpu, method: q.get("method") || meta.method,
              ctx: q.get("seq-len") || meta.ctx, batch: q.get("batch") || meta.batch });
        update(false);
        box.addEventListener("input", function () { box.setAttribute("data-state", "updating"); update(true); });
        box.addEventListener("change", function () { box.setAttribute("data-state", "updating"); update(true); });
      }).catch(function (err) {
        box.setAttribute("data-state", "error");
        summary.textContent = "The explorer could not load its data: " + err.message;
      });
    }
    if (chartEl.vegaView) ready(chartEl.vegaView);
    else chartEl.addEventListener("vramatlas:rendered", function (e) { ready(e.detail); }, { once: true });
  }

  function init() { var box = document.getElementById("va-explorer"); if (box) start(box); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
