//! The APIs registered for RFC 8707 resource indicators: the rules the CLI and the admin API share.
