// Attachments stored in PostgreSQL (issue 6): being written.
export {};
