//! Issue 18: backchannel (tests come with the feature).
