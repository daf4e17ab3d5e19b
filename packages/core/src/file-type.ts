// File types by magic bytes (issue 6): being written.
export {};
