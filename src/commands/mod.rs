//! linkshim's own subcommands that are not hooks or the wrapper.

pub mod compose;
pub mod doctor;
pub mod explain;
pub mod gc;
pub mod graph;
pub mod inspect;
pub mod link;
pub mod install;
pub mod ls;
pub mod refresh;
pub mod resource;
