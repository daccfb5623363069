// Request-log explorer: the CSV export downloads through fetch so that the page can show its progress
// (rows received so far), then hands the file to the browser as a download.
"use strict";
(function () {
  var link = document.getElementById("export-csv");
  var status = document.getElementById("export-progress");
  if (!link || !status || !window.fetch || !window.ReadableStream) return;  // the plain link still works
  link.addEventListener("click", function (event) {
    event.preventDefault();
    if (link.getAttribute("aria-busy") === "true") return;
    link.setAttribute("aria-busy", "true");
    status.textContent = "Exporting…";
    var rows = -1;  // the header line is not a row
    var chunks = [];
    var count = function (bytes) {
      for (var i = 0; i < bytes.length; i++) if (bytes[i] === 10) rows++;
    };
    fetch(link.href, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error("the export failed (HTTP " + response.status + ")");
      var reader = response.body.getReader();
      var pump = function () {
        return reader.read().then(function (step) {
          if (step.done) return;
          chunks.push(step.value);
          count(step.value);
          status.textContent = "Exporting… " + Math.max(rows, 0).toLocaleString() + " rows";
          return pump();
        });
      };
      return pump();
    }).then(function () {
      var url = URL.createObjectURL(new Blob(chunks, { type: "text/csv" }));
      var save = document.createElement("a");
      save.href = url;
      save.download = link.getAttribute("data-filename") || "request-logs.csv";
      document.body.appendChild(save);
      save.click();
      save.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
      status.textContent = "Exported " + Math.max(rows, 0).toLocaleString() + " rows.";
      status.setAttribute("data-rows", String(Math.max(rows, 0)));
    }).catch(function (error) {
      status.textContent = "Export failed: " + error.message;
    }).finally(function () {
      link.removeAttribute("aria-busy");
    });
  });
})();
