// OAuth 2.0 Form Post Response Mode: submit the response form at once.
// Served from 'self' because the pages' CSP allows no inline script.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("form-post");
  if (form) { form.submit(); }
});
