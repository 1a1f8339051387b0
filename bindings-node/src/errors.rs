//! The one place where the core's errors become JavaScript values: codes as numbers (`-code`
//! where a length is expected), their stable names, and thrown errors for bad configuration.

use kafka_trace::ErrorCode;
use napi::{Error, Status};

/// `names[code]` is the stable snake_case name of the core's error `code` ("" for unused numbers).
pub fn error_names() -> Vec<String> {
    let mut names = vec![String::new(); 1 + ErrorCode::ALL.len()];
    for code in ErrorCode::ALL {
        if let Some(slot) = names.get_mut(code.code() as usize) {
            *slot = code.as_str().to_owned();
        }
    }
    names
}

/// A code where a (non-negative) length would go.
pub fn negative(code: ErrorCode) -> i32 {
    -(code.code() as i32)
}

/// The code of a result too large for the caller's memory.
pub fn too_small() -> i32 {
    negative(ErrorCode::BufferTooSmall)
}

/// The thrown error of an invalid option (a `TypeError`-like `InvalidArg`).
pub fn invalid_option(message: String) -> Error {
    Error::new(Status::InvalidArg, message)
}

/// The thrown error of an argument of the wrong shape.
pub fn missing(what: &str) -> Error {
    Error::from_reason(format!("missing {what}"))
}
