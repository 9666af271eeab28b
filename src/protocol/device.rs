//! The device authorization grant (RFC 8628): the rules of `/device_authorization`, the user code and the verification page.
