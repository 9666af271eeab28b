//! Device authorizations (RFC 8628): the user-code alphabet and the record.
