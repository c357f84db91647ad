/* vramatlas calculator: `vramatlas estimate --json`, run in the browser by Pyodide.
 *
 * The form was generated at build time from the CLI's own option list (the JSON in
 * #calc-options). This script turns the fields into the command's argv, runs
 * vramatlas.cli.main(["estimate", ...argv, "--json"]) in Pyodide (the package's Python, unchanged,
 * with the catalogue compiled to JSON), and shows what it printed: the numbers, or the command's
 * one-line error. Field names are the option names, read from and written to the URL query.
 *
 * Ready signal (the browser tests wait on it, never on time): #calc-result gets
 * data-calc-state="ready" with data-argv (the argv it ran) and data-exit after every answer.
 */
(function () {
  "use strict";
  var me = document.currentScript && document.currentScript.src;
  var root = me ? me.replace(/assets\/js\/calculator\.js(\?.*)?$/, "") : "../";
  var GiB = Math.pow(2, 30);
  var CONFIG_PATH = "/tmp/vramatlas-config.json";
  var HUB_TIMEOUT_MS = 20000;

  var meta = JSON.parse(document.getElementById("calc-options").textContent);
  var options = meta.options;
  var tokens = meta.tokens;
  var form = document.getElementById("calc-form");
  var result = document.getElementById("calc-result");
  var status = document.getElementById("calc-status");
  var answer = result.querySelector(".calc-answer");
  var py = null;
  var pending = null;
  var seq = 0;

  function field(name) { return form.elements.namedItem(name); }

  // ---- URL <-> fields
  function fromQuery(query) {
    var q = new URLSearchParams(query);
    options.forEach(function (o) {
      var el = field(o.name);
      if (!el || o.kind === "file") return;
      var v = q.get(o.name);
      if (o.kind === "flag") el.checked = v !== null && v !== "0" && v !== "false";
      else el.value = v === null ? "" : v;
    });
    syncSliders();
  }
  function toQuery() {
    var q = new URLSearchParams();
    options.forEach(function (o) {
      var el = field(o.name);
      if (!el || o.kind === "file") return;
      if (o.kind === "flag") { if (el.checked) q.set(o.name, "1"); }
      else if (el.value.trim() !== "") q.set(o.name, el.value.trim());
    });
    return q.toString();
  }

  // ---- fields -> argv (the command line a user would type)
  function configText() {
    var el = field("config");
    return el ? el.value.trim() : "";
  }
  function argv() {
    var out = [];
    var config = configText();
    options.forEach(function (o) {
      var el = field(o.name);
      if (!el) return;
      if (o.kind === "file") { if (config) out.push(o.flag, CONFIG_PATH); return; }
      if (o.exclusive !== null && o.exclusive !== undefined && config && o.name !== "config") {
        var other = options.filter(function (x) { return x.exclusive === o.exclusive && x.kind === "file"; });
        if (other.length) return;  // a pasted config.json replaces --model
      }
      if (o.kind === "flag") { if (el.checked) out.push(o.flag); return; }
      var v = el.value.trim();
      if (v === "") return;
      if (o.kind === "switch") { out.push(v === "no" ? o.off_flag : o.flag); return; }
      out.push(o.flag, v);
    });
    return out;
  }
  function shellQuote(s) { return /^[A-Za-z0-9_.,:\/=@%+-]+$/.test(s) ? s : "'" + s.replace(/'/g, "'\\''") + "'"; }

  // ---- sliders beside token counts (log scale over the build's list)
  function syncSliders() {
    form.querySelectorAll(".calc-slider").forEach(function (s) {
      var el = field(s.getAttribute("data-for"));
      var n = parseInt(el.value || el.placeholder || "0", 10);
      var best = 0;
      for (var i = 0; i < tokens.length; i++) if (Math.abs(Math.log(tokens[i]) - Math.log(n || 1)) < Math.abs(Math.log(tokens[best]) - Math.log(n || 1))) best = i;
      s.value = String(best);
      s.setAttribute("aria-valuetext", tokens[best].toLocaleString("en") + " tokens");
    });
  }

  // ---- showing the answer
  function gib(n, d) { return (n / GiB).toFixed(d === undefined ? 2 : d); }
  function k(n) { return n >= 1024 && n % 512 === 0 ? (n / 1024) + "k" : n.toLocaleString("en"); }
  function row(dl, term, value) {
    var dt = document.createElement("dt"); dt.textContent = term;
    var dd = document.createElement("dd"); dd.textContent = value;
    dl.appendChild(dt); dl.appendChild(dd);
  }
  function show(text, code, err, args) {
    var cmd = document.getElementById("calc-cmd");
    cmd.textContent = "vramatlas estimate " + args.map(shellQuote).join(" ") + " --json";
    document.getElementById("calc-json").textContent = text;
    var verdict = document.getElementById("calc-verdict");
    var dl = document.getElementById("calc-numbers");
    var body = document.querySelector("#calc-table tbody");
    dl.textContent = ""; body.textContent = "";
    result.classList.remove("calc-fits", "calc-nofit", "calc-error");
    if (code !== 0) {
      result.classList.add("calc-error");
      verdict.textContent = "\u26a0 " + (err.trim() || "the estimate failed (exit " + code + ")");
      result.removeAttribute("data-peak-bytes");
      updateChart(null);
      return;
    }
    var r = JSON.parse(text);
    var i = r.inputs || {};
    result.setAttribute("data-peak-bytes", String(r.peak_bytes));
    var per = (i.gpus || 1) > 1 ? " per GPU (" + i.gpus + " \u00d7, " + i.parallelism + ")" : " per GPU";
    if (r.fits === true || r.fits === false) {
      result.classList.add(r.fits ? "calc-fits" : "calc-nofit");
      verdict.textContent = (r.fits ? "\u2713 Fits: " : "\u2717 Does not fit: ") + gib(r.peak_bytes) + " GiB peak" + per +
        " of " + gib(r.capacity_bytes) + " GiB usable on " + ((meta.gpu_names || {})[i.gpu] || i.gpu || "the GPU") + ".";
    } else {
      verdict.textContent = gib(r.peak_bytes) + " GiB peak" + per + " (choose a GPU for the verdict).";
    }
    row(dl, "peak (GiB)", gib(r.peak_bytes) + " at the " + r.phase + " phase");
    if (r.headroom_bytes !== undefined && r.headroom_bytes !== null) row(dl, "headroom (GiB)", (r.headroom_bytes >= 0 ? "+" : "") + gib(r.headroom_bytes));
    if (r.longest_context_that_fits !== undefined) row(dl, "longest context that fits", r.longest_context_that_fits ? k(r.longest_context_that_fits) + " tokens" : "none");
    if (r.fewest_gpus !== undefined) row(dl, "fewest GPUs that fit", r.fewest_gpus === null ? "no count tried fits" : String(r.fewest_gpus) + (r.fewest_nodes_of_8 > 1 ? " (" + r.fewest_nodes_of_8 + " nodes of 8)" : ""));
    if (r.parameters !== undefined) row(dl, "parameters", Number(r.parameters).toLocaleString("en") + (r.active_parameters && r.active_parameters !== r.parameters ? " (" + Number(r.active_parameters).toLocaleString("en") + " active)" : ""));
    var sp = r.speed || {};
    [["prefill_tokens_per_s", "prefill (tokens/s)"], ["decode_tokens_per_s", "decode (tokens/s)"],
     ["output_tokens_per_s", "output (tokens/s)"], ["time_to_first_token_s", "time to first token (s)"],
     ["train_tokens_per_s", "training (tokens/s)"], ["train_hours", "training time (hours)"]].forEach(function (p) {
      if (sp[p[0]] !== undefined && sp[p[0]] !== null) row(dl, p[1], Number(sp[p[0]]).toLocaleString("en", { maximumFractionDigits: 2 }));
    });
    var parts = [];
    Object.keys(r.components).forEach(function (c, idx) {
      var b = r.components[c];
      if (!b) return;
      var tr = document.createElement("tr");
      [c.replace(/_/g, " "), gib(b), b.toLocaleString("en")].forEach(function (t, j) {
        var td = document.createElement("td"); td.textContent = t; if (j) td.setAttribute("data-sort", String(b)); tr.appendChild(td);
      });
      body.appendChild(tr);
      parts.push({ component: c.replace(/_/g, " "), gib: b / GiB, order: idx, bar: "peak per GPU" });
    });
    updateChart({ parts: parts, cap: r.capacity_bytes ? r.capacity_bytes / GiB : null });
  }

  function updateChart(data) {
    var el = document.getElementById("calc-chart");
    if (!el) return;
    var apply = function () {
      var view = el.vegaView;
      if (!view) return;
      var parts = data ? data.parts : [];
      var cap = data && data.cap ? [{ cap: data.cap, label: "usable: " + data.cap.toFixed(1) + " GiB" }] : [];
      view.change("breakdown", vega.changeset().remove(function () { return true; }).insert(parts))
          .change("capacity", vega.changeset().remove(function () { return true; }).insert(cap)).run();
      var desc = document.getElementById("calc-chart-desc");
      if (desc) desc.textContent = parts.map(function (p) { return p.component + " " + p.gib.toFixed(2) + " GiB"; }).join(", ") +
        (cap.length ? "; " + cap[0].label : "");
    };
    if (el.vegaView) apply();
    else el.addEventListener("vramatlas:rendered", apply, { once: true });
  }

  // ---- running the command in Pyodide
  function run() {
    if (!py) return;
    var args = argv();
    var shown = args; // the command the page shows: a Hub id stays --model ORG/NAME (the CLI fetches it too)
    var mine = ++seq;
    result.setAttribute("data-calc-state", "computing");
    result.setAttribute("aria-busy", "true");
    var config = configText();
    var prepare = Promise.resolve();
    var model = field("model") ? field("model").value.trim() : "";
    if (!config && model.indexOf("/") > 0 && meta.models.indexOf(model) < 0) {
      // a Hugging Face id: fetch its config.json (the only request to another host, and only on demand);
      // offline, refused or slow, the page says so in one line and never waits for ever
      var url = "https://huggingface.co/" + model.split("/").map(encodeURIComponent).join("/") + "/resolve/main/config.json";
      var stop = window.AbortController ? new AbortController() : null;
      var timer = stop ? setTimeout(function () { stop.abort(); }, HUB_TIMEOUT_MS) : null;
      var retry = " Paste or upload the model's config.json instead.";
      prepare = fetch(url, stop ? { signal: stop.signal } : {})
        .catch(function () {
          throw new Error("could not fetch " + url + (stop && stop.signal.aborted ? " within " + HUB_TIMEOUT_MS / 1000 + " s" : " (offline, or blocked)") + "." + retry);
        })
        .then(function (r) {
          if (!r.ok) throw new Error("huggingface.co answered HTTP " + r.status + " for " + model + (r.status === 401 || r.status === 403 ? " (a gated or private model)" : r.status === 404 ? " (no such model, or no config.json)" : "") + "." + retry);
          return r.text();
        })
        .then(function (t) {
          clearTimeout(timer);
          py.FS.writeFile(CONFIG_PATH, t);
          args = args.map(function (a) { return a === "--model" ? "--config" : a === model ? CONFIG_PATH : a; });
        }, function (e) { clearTimeout(timer); throw e; });
    } else if (config) {
      py.FS.writeFile(CONFIG_PATH, config);
    }
    prepare.then(function () {
      var t0 = performance.now();
      py.globals.set("_argv", py.toPy(["estimate"].concat(args, ["--json"])));
      var out = py.runPython("_vramatlas_run(_argv)").toJs();
      if (mine !== seq) return;
      show(out[1], out[0], out[2], shown);
      result.setAttribute("data-compute-ms", String(Math.round(performance.now() - t0)));
    }).catch(function (e) {
      show("", 2, String(e.message || e), shown);
    }).then(function () {
      if (mine !== seq) return;
      answer.hidden = false;
      status.hidden = true;
      result.setAttribute("data-argv", JSON.stringify(args));
      // time from the start of the page's navigation to its first answer (the closing note's measure)
      if (!result.hasAttribute("data-first-answer-ms")) result.setAttribute("data-first-answer-ms", String(Math.round(performance.now())));
      result.setAttribute("data-exit", result.classList.contains("calc-error") ? "2" : "0");
      result.setAttribute("aria-busy", "false");
      result.setAttribute("data-calc-state", "ready");
      result.setAttribute("data-state", "ready");
    });
  }
  function changed() {
    // not ready from this moment until the answer to these fields is shown (an answer already on the
    // page may be to the same argv: a test or a script waiting for "ready" must not take that one)
    if (py) result.setAttribute("data-calc-state", "pending");
    history.replaceState(null, "", window.location.pathname + (toQuery() ? "?" + toQuery() : ""));
    clearTimeout(pending);
    pending = setTimeout(run, 120);
  }

  form.addEventListener("input", function (e) {
    if (e.target.classList.contains("calc-slider")) {
      var el = field(e.target.getAttribute("data-for"));
      el.value = String(tokens[parseInt(e.target.value, 10)]);
      e.target.setAttribute("aria-valuetext", el.value + " tokens");
    } else {
      syncSliders();
    }
    changed();
  });
  form.addEventListener("change", changed);
  var file = document.getElementById("calc-config-file");
  if (file) file.addEventListener("change", function () {
    if (!file.files.length) return;
    file.files[0].text().then(function (t) { field("config").value = t; changed(); });
  });
  window.addEventListener("popstate", function () { fromQuery(window.location.search); run(); });

  // What the tests (and anyone) can call: set the fields from a query string and answer.
  window.vramatlasCalculator = {
    set: function (query) { fromQuery(query); changed(); },
    argv: argv,
  };

  fromQuery(window.location.search);
  if (!window.location.search) fromQuery(meta.example);

  var t0 = performance.now();
  function loadScript(src) {
    return new Promise(function (ok, bad) {
      var s = document.createElement("script");
      s.src = src; s.onload = ok; s.onerror = function () { bad(new Error("could not load " + src)); };
      document.head.appendChild(s);
    });
  }
  loadScript(root + "assets/pyodide/pyodide.js").then(function () {
    return loadPyodide({ indexURL: root + "assets/pyodide/", packages: [], fullStdLib: false });
  }).then(function (pyodide) {
    py = pyodide;
    return Promise.all([
      fetch(root + meta.package).then(function (r) { if (!r.ok) throw new Error("package: HTTP " + r.status); return r.arrayBuffer(); }),
      fetch(root + meta.catalogue).then(function (r) { if (!r.ok) throw new Error("catalogue: HTTP " + r.status); return r.text(); }),
    ]);
  }).then(function (got) {
    var site = py.runPython("import site; site.getsitepackages()[0]");
    py.unpackArchive(got[0], "zip", { extractDir: site });
    py.FS.writeFile(meta.catalogue_path, got[1]);
    py.runPython(meta.bootstrap);
    result.setAttribute("data-boot-ms", String(Math.round(performance.now() - t0)));
    run();
  }).catch(function (e) {
    status.textContent = "The calculator could not start: " + (e.message || e) + ". The command line gives the same answer: pip install vramatlas.";
    result.setAttribute("data-calc-state", "error");
    result.setAttribute("data-state", "error");
  });
})();
