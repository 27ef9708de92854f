// The file browser: uploads by drag and drop or the file input, one streamed PUT a file with its
// progress (the form's multipart post is the fallback without JavaScript), and confirmations.
// Loaded from /ui/static only (the Content-Security-Policy allows no inline script).
"use strict";

(function () {
  document.querySelectorAll("form.confirm").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm || "Sure?")) event.preventDefault();
    });
  });

  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("upload-input");
  const overwrite = document.getElementById("upload-overwrite");
  const list = document.getElementById("upload-progress");
  const directory = form.dataset.directory || "";
  const maxBytes = Number(form.dataset.maxBytes || 0);

  function human(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + " " + units[i];
  }

  function row(file) {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = file.name + " (" + human(file.size) + ")";
    const bar = document.createElement("progress");
    bar.max = file.size || 1;
    bar.value = 0;
    const status = document.createElement("span");
    status.className = "status";
    li.append(name, " ", bar, " ", status);
    list.appendChild(li);
    return { li: li, bar: bar, status: status };
  }

  // One file: PUT /ui/files/upload?path=…, the body streamed from the file; resolves to true when stored.
  function put(file, ui, replace) {
    return new Promise(function (resolve) {
      const path = (directory ? directory + "/" : "") + file.name;
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", "/ui/files/upload?path=" + encodeURIComponent(path) + (replace ? "&overwrite=true" : ""));
      xhr.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) ui.bar.value = e.loaded; };
      xhr.onload = function () {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
        if (xhr.status === 200 || xhr.status === 201) {
          ui.bar.value = ui.bar.max;
          ui.status.textContent = xhr.status === 201 ? "uploaded" : "replaced";
          ui.li.className = "done";
          resolve(true);
        } else if (xhr.status === 409 && !replace && body && /overwrite/.test(body.detail) &&
                   window.confirm(file.name + " exists. Replace it?")) {
          resolve(put(file, ui, true));
        } else {
          ui.status.textContent = body && body.detail ? body.detail
            : "refused (HTTP " + xhr.status + "): sign in again and retry";
          ui.li.className = "failed";
          resolve(false);
        }
      };
      xhr.onerror = function () { ui.status.textContent = "the connection failed"; ui.li.className = "failed"; resolve(false); };
      ui.status.textContent = "uploading…";
      xhr.send(file);
    });
  }

  async function upload(files) {
    const chosen = Array.from(files).filter(function (f) { return f.name; });
    if (!chosen.length) return;
    let stored = 0;
    for (const file of chosen) {
      const ui = row(file);
      if (maxBytes && file.size > maxBytes) {
        ui.status.textContent = "larger than the " + human(maxBytes) + " one upload may write";
        ui.li.className = "failed";
        continue;
      }
      if (await put(file, ui, overwrite && overwrite.checked)) stored++;
    }
    if (stored === chosen.length) setTimeout(function () { window.location.reload(); }, 300);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    upload(input.files);
  });
  input.addEventListener("change", function () { upload(input.files); });
  ["dragenter", "dragover"].forEach(function (type) {
    form.addEventListener(type, function (event) { event.preventDefault(); form.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    form.addEventListener(type, function () { form.classList.remove("over"); });
  });
  form.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) upload(event.dataTransfer.files);
  });
})();
