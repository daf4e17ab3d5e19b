// Tracking and unsubscribe tokens, link rewriting, machine-open detection (issue 6): being written.
export {};
