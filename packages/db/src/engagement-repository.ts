// Opens, clicks and unsubscribes (issue 6): being written.
export {};
