//! OpenID Connect Back-Channel Logout 1.0: queueing logout tokens in the outbox when sessions end, and the worker that delivers them.
