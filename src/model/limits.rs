//! Size caps: what one container may ask of linkshim, and what a linker may
//! receive. Each keeps one start from exhausting memory, time or `ARG_MAX`.

/// Exposed ports per container (a range counts each of its ports).
pub const MAX_PORTS: usize = 1024;
/// Links per container.
pub const MAX_LINKS: usize = 64;
/// The value of any one `io.linkshim.*` annotation, in bytes.
pub const MAX_ANNOTATION: usize = 64 << 10;
/// A config.json (or a hook's state) read from stdin or a bundle, in bytes.
pub const MAX_CONFIG: u64 = 16 << 20;
/// Variables linkshim generates for one linker, all links together.
pub const MAX_ENV_VARS: usize = 8192;
/// Bytes of `KEY=VALUE` linkshim generates for one linker, all links together.
pub const MAX_ENV_BYTES: usize = 1 << 20;
