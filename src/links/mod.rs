//! Links: what a container asks for (annotations) and what it gets (resolve).

pub mod annotation;
pub mod resolve;
pub mod wait;
