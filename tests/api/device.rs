//! Issue 18: device (tests come with the feature).
