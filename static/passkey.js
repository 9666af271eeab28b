// Passkey buttons (docs/MFA.md): a button
//   <button type="button" data-passkey="OPTIONS_URL" data-passkey-form="FORM_ID">
// posts the fields of form FORM_ID to OPTIONS_URL, gets
//   {"handle": "...", "ceremony": "create"|"get", "publicKey": {...}}
// (WebAuthn options, binary fields base64url), calls
// navigator.credentials.create/get, puts the handle and the credential (JSON,
// binary fields base64url) into the form's hidden inputs `handle` and
// `credential`, and submits the form. Errors go to the form's
// [data-passkey-error] element; nothing is submitted then.
// Served from 'self' because the pages' CSP allows no inline script.
(function () {
  "use strict";

  function toBytes(b64url) {
    var b64 = String(b64url).replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }

  function toB64url(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      var d = { type: c.type || "public-key", id: toBytes(c.id) };
      if (c.transports) { d.transports = c.transports; }
      return d;
    });
  }

  // WebAuthn options from the server's JSON: the binary fields as buffers.
  function creationOptions(pk) {
    var o = Object.assign({}, pk);
    o.challenge = toBytes(pk.challenge);
    o.user = Object.assign({}, pk.user, { id: toBytes(pk.user.id) });
    if (pk.excludeCredentials) { o.excludeCredentials = descriptors(pk.excludeCredentials); }
    return o;
  }

  function requestOptions(pk) {
    var o = Object.assign({}, pk);
    o.challenge = toBytes(pk.challenge);
    if (pk.allowCredentials) { o.allowCredentials = descriptors(pk.allowCredentials); }
    return o;
  }

  // The credential as webauthn-rs deserializes it
  // (RegisterPublicKeyCredential / PublicKeyCredential).
  function credentialJson(cred) {
    var r = cred.response;
    var response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      if (typeof r.getTransports === "function") {
        try { response.transports = r.getTransports(); } catch (e) { /* optional */ }
      }
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      response.userHandle = toB64url(r.userHandle);
    }
    var ext = {};
    try { ext = cred.getClientExtensionResults() || {}; } catch (e) { ext = {}; }
    return JSON.stringify({
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: response,
      extensions: ext.credProps ? { credProps: ext.credProps } : {}
    });
  }

  function showError(form, text) {
    var el = form && form.querySelector("[data-passkey-error]");
    if (el) {
      el.textContent = text;
      el.hidden = false;
    } else {
      window.alert(text);
    }
  }

  function clearError(form) {
    var el = form.querySelector("[data-passkey-error]");
    if (el) { el.textContent = ""; }
  }

  function setField(form, name, value) {
    var input = form.querySelector('input[name="' + name + '"]');
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      form.appendChild(input);
    }
    input.value = value;
  }

  function fieldsOf(form) {
    var params = new URLSearchParams();
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled) { return; }
      if (el.name === "handle" || el.name === "credential") { return; }
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) { return; }
      if (el.type === "submit" || el.type === "button") { return; }
      params.append(el.name, el.value);
    });
    return params;
  }

  function cancelledText(err) {
    if (err && err.name === "NotAllowedError") {
      return "The passkey request was cancelled or timed out. Try again.";
    }
    if (err && err.name === "InvalidStateError") {
      return "This passkey is already registered.";
    }
    return "Your passkey could not be used" + (err && err.message ? ": " + err.message : ".");
  }

  function run(button) {
    var form = document.getElementById(button.getAttribute("data-passkey-form"));
    if (!form) { return; }
    clearError(form);
    if (!window.PublicKeyCredential || !navigator.credentials) {
      showError(form, "This browser does not support passkeys.");
      return;
    }
    button.disabled = true;
    var handle;
    var ceremony;
    fetch(button.getAttribute("data-passkey"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json" },
      body: fieldsOf(form).toString()
    })
      .then(function (resp) {
        return resp.json().catch(function () { return {}; }).then(function (body) {
          if (!resp.ok) {
            throw { passkeyText: body.error || "The server refused the request (" + resp.status + ")." };
          }
          return body;
        });
      })
      .then(function (body) {
        handle = body.handle;
        ceremony = body.ceremony;
        if (ceremony === "create") {
          return navigator.credentials.create({ publicKey: creationOptions(body.publicKey) });
        }
        return navigator.credentials.get({ publicKey: requestOptions(body.publicKey) });
      })
      .then(function (cred) {
        if (!cred) { throw { name: "NotAllowedError" }; }
        setField(form, "handle", handle);
        setField(form, "credential", credentialJson(cred));
        form.submit();
      })
      .catch(function (err) {
        button.disabled = false;
        showError(form, err && err.passkeyText ? err.passkeyText : cancelledText(err));
      });
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    var button = target && target.closest ? target.closest("[data-passkey]") : null;
    if (!button) { return; }
    event.preventDefault();
    run(button);
  });
})();
