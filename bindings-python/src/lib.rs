//! Skeleton of the python binding: it only proves the workspace links against the core.
//! The binding's own issue fills it with type conversions over `kafka_trace`; no logic lives here.

pub use kafka_trace::VERSION as CORE_VERSION;
