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

  // Filter bar: picking a date means a custom range; empty fields stay out of the URL.
  document.querySelectorAll("form.filters").forEach(function (form) {
    var period = form.querySelector('select[name="period"]');
    form.querySelectorAll('input[type="datetime-local"]').forEach(function (input) {
      input.addEventListener("change", function () { if (period) period.value = "custom"; });
    });
    form.addEventListener("submit", function () {
      form.querySelectorAll("input, select").forEach(function (field) {
        if (field.name && field.value === "") field.disabled = true;
      });
      if (period && period.value !== "custom") {
        form.querySelectorAll('input[type="datetime-local"]').forEach(function (f) { f.disabled = true; });
      }
    });
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
