//! Watchers of outside APIs that tell which containers exist, where their logs are and what
//! they are (the Docker API), feeding the tailer's discovered paths and the enrichers' caches.

pub mod docker;
