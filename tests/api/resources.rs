//! Issue 18: resources (tests come with the feature).
