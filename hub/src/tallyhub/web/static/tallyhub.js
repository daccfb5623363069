// Progressive enhancement for the dashboard: every page works without this file.
"use strict";
(function () {
  var csrf = document.querySelector('meta[name="csrf-token"]');

  // Forms that delete or rotate something ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // Typed confirmations: the browser refuses to submit until the text matches.
  document.querySelectorAll("input[data-must-equal]").forEach(function (input) {
    var check = function () {
      var ok = input.value === input.getAttribute("data-must-equal");
      input.setCustomValidity(ok ? "" : "Type the name exactly as shown.");
    };
    input.addEventListener("input", check);
    check();
  });

  // Filter bar: a preset applies at once; picking a date means a custom range (checked for a start);
  // empty fields stay out of the URL.
  document.querySelectorAll("form.filters").forEach(function (form) {
    var custom = form.querySelector('input[name="period"][value="custom"]');
    var start = form.querySelector('input[name="start"]');
    var dates = form.querySelectorAll('input[type="datetime-local"]');
    form.querySelectorAll('input[name="period"]').forEach(function (radio) {
      radio.addEventListener("change", function () {
        if (radio !== custom && radio.checked) form.requestSubmit();
        else if (start) start.focus();
      });
    });
    dates.forEach(function (input) {
      input.addEventListener("change", function () { if (custom) custom.checked = true; });
    });
    if (start) {
      start.addEventListener("input", function () { start.setCustomValidity(""); });
    }
    form.addEventListener("submit", function (event) {
      var isCustom = custom && custom.checked;
      if (isCustom && start && start.value === "") {
        start.setCustomValidity("A custom range needs a start.");
        start.reportValidity();
        event.preventDefault();
        return;
      }
      form.querySelectorAll("input, select").forEach(function (field) {
        if (field.name && field.value === "") field.disabled = true;
      });
      if (!isCustom) dates.forEach(function (f) { f.disabled = true; });
    });
  });

  // Alert rule form: only the chosen kind's fields (hidden ones are disabled, so they are not sent).
  document.querySelectorAll("form.rule-form").forEach(function (form) {
    var kind = form.querySelector('select[name="kind"]');
    if (!kind) return;
    var show = function () {
      form.querySelectorAll("fieldset.kind-fields").forEach(function (group) {
        var applies = (group.getAttribute("data-kinds") || "").split(" ").indexOf(kind.value) >= 0;
        group.hidden = !applies;
        group.disabled = !applies;
      });
    };
    kind.addEventListener("change", show);
    show();
  });

  // Setup page: switch from "waiting for first data" to "receiving data" without a reload.
  var status = document.getElementById("data-status");
  if (status && status.classList.contains("waiting")) {
    var poll = function () {
      fetch(status.getAttribute("data-status-url"), {
        headers: { Accept: "application/json", "X-CSRF-Token": csrf ? csrf.content : "" },
        credentials: "same-origin",
      })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (body && body.receiving) {
            status.classList.remove("waiting");
            status.classList.add("receiving");
            // The first export arrived: the status becomes a way to the traffic it made.
            var link = document.createElement("a");
            link.href = status.getAttribute("data-traffic-url");
            link.textContent = "Receiving data: see the traffic";
            status.textContent = "";
            status.appendChild(link);
          } else {
            window.setTimeout(poll, 2000);
          }
        })
        .catch(function () { window.setTimeout(poll, 5000); });
    };
    window.setTimeout(poll, 1000);
  }
})();
