//! Generates two things into `$OUT_DIR`:
//! - `kt_result.rs`: the `kt_result` enum, derived from the core's `kafka_trace_core::ErrorCode` (every
//!   core code with its number, name and message) plus the results that belong to the C ABI alone
//!   ([`ABI_RESULTS`]). There is no hand-kept copy of the core's codes: a new `ErrorCode` becomes
//!   a new `kt_result` on the next build, and a clash with an ABI value fails the build.
//! - `kafka_trace.h`: the C header, by cbindgen (from `src/` and the generated `kt_result.rs`),
//!   with the `KT_VERSION_*` macros from this crate's version. The unit test
//!   `header_is_up_to_date` compares it with the checked-in `include/kafka_trace.h` (and rewrites
//!   that file when `KT_BLESS_HEADER=1`).

use std::env;
use std::fmt::Write as _;
use std::path::PathBuf;

use kafka_trace_core::ErrorCode;

/// Results of the C ABI itself: (Rust variant, value, documentation, kt_result_message() text).
/// Values from 100 on; never reused for another meaning.
const ABI_RESULTS: &[(&str, u32, &str, &str)] = &[
    ("NullArgument", 100, "A required pointer argument was NULL (or NULL with a non-zero length).", "a required pointer argument was NULL"),
    ("Panic", 101, "The library panicked (a bug); the call had no effect that can be relied on.", "internal error: the library panicked"),
    (
        "InvalidHandle",
        102,
        "The handle is not a live object of the expected type (best-effort check; never rely on it\n/// to make use-after-free safe).",
        "invalid handle: not a live object of the expected type",
    ),
    ("InvalidUtf8", 103, "Text that must be UTF-8 (a key, a topic, a service name) is not.", "text that must be UTF-8 is not"),
    ("NotFound", 104, "The requested key, index or option name does not exist.", "not found"),
    ("CallbackFailed", 105, "The caller's callback returned a non-zero value; injection stopped there.", "the callback returned an error"),
    ("InvalidArgument", 106, "An argument is out of range (e.g. a length above `PTRDIFF_MAX`, an unknown strategy).", "argument out of range"),
    ("AlreadyEnded", 107, "The span was already ended; nothing was recorded.", "the span was already ended"),
    ("ShutDown", 108, "The tracer was shut down (kt_tracer_shutdown()); no new spans.", "the tracer was shut down"),
    ("TelemetrySetup", 109, "The OTLP exporter could not be set up (e.g. a malformed endpoint).", "the OTLP exporter could not be set up"),
    (
        "ExportFailed",
        110,
        "Flushing failed: the OTLP receiver could not be reached or refused the data.",
        "export failed: the OTLP receiver could not be reached or refused the data",
    ),
    (
        "NotCapturing",
        111,
        "The tracer does not capture (kt_tracer_config_set_capture() was not set): nothing to read.",
        "the tracer does not capture telemetry in memory",
    ),
    ("WrongSpanKind", 112, "The span is not of the kind this function ends (e.g. kt_span_end_poll() on a send span).", "wrong span kind for this function"),
    (
        "NotTraced",
        113,
        "The span's topic is not traced (include/exclude topics): it has no context to give and writes\n/// no header.",
        "the topic is not traced",
    ),
    ("Other", 199, "A core error this version of the ABI has no name for (a newer core).", "error from a newer core"),
];

fn capitalized(message: &str) -> String {
    let mut chars = message.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect::<String>() + ".").unwrap_or_default()
}

fn c_literal(text: &str) -> String {
    format!("c{text:?}")
}

/// The Rust source of `kt_result`, its conversion from `ErrorCode` and its message table.
fn kt_result_source() -> String {
    let mut src = String::new();
    src.push_str(
        "/// The result of every fallible function. `KT_RESULT_OK` is 0. Values 1 to 99 are the core's\n\
         /// stable `ErrorCode` values (the same codes the shared test vectors name; this enum is\n\
         /// generated from them); values from 100 on belong to the C ABI. A value is never reused for\n\
         /// another meaning; new values may be added, so treat unknown values as errors\n\
         /// (kt_result_message() describes them).\n\
         #[repr(u32)]\n#[derive(Copy, Clone, Debug, PartialEq, Eq)]\npub enum kt_result {\n    /// Success.\n    Ok = 0,\n",
    );
    let mut values = vec![0u32];
    for code in ErrorCode::ALL {
        assert!((1..100).contains(&code.code()), "core ErrorCode {code:?} = {} is outside 1..=99", code.code());
        let _ = writeln!(src, "    /// {} (`{}`)\n    {code:?} = {},", capitalized(code.message()), code.as_str(), code.code());
        values.push(code.code());
    }
    for (name, value, doc, _) in ABI_RESULTS {
        let _ = writeln!(src, "    /// {doc}\n    {name} = {value},");
        values.push(*value);
    }
    src.push_str("}\n\n");
    let mut sorted = values.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), values.len(), "two kt_result values share a number");

    src.push_str("impl From<kafka_trace_core::ErrorCode> for kt_result {\n    fn from(code: kafka_trace_core::ErrorCode) -> Self {\n        match code {\n");
    for code in ErrorCode::ALL {
        let _ = writeln!(src, "            kafka_trace_core::ErrorCode::{code:?} => Self::{code:?},");
    }
    src.push_str("            #[allow(unreachable_patterns)]\n            _ => Self::Other,\n        }\n    }\n}\n\n");

    src.push_str("impl kt_result {\n    /// The message of a known value.\n    pub(crate) fn message_of(value: u32) -> Option<&'static core::ffi::CStr> {\n        match value {\n            0 => Some(c\"success\"),\n");
    for code in ErrorCode::ALL {
        let _ = writeln!(src, "            {} => Some({}),", code.code(), c_literal(code.message()));
    }
    for (_, value, _, message) in ABI_RESULTS {
        let _ = writeln!(src, "            {value} => Some({}),", c_literal(message));
    }
    src.push_str("            _ => None,\n        }\n    }\n\n    /// Every value, in declaration order.\n    #[allow(dead_code)]\n    pub(crate) const ALL: &'static [kt_result] = &[\n        Self::Ok,\n");
    for code in ErrorCode::ALL {
        let _ = writeln!(src, "        Self::{code:?},");
    }
    for (name, ..) in ABI_RESULTS {
        let _ = writeln!(src, "        Self::{name},");
    }
    src.push_str("    ];\n}\n");
    src
}

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");

    let result_rs = out_dir.join("kt_result.rs");
    std::fs::write(&result_rs, kt_result_source()).expect("write kt_result.rs");

    let out = out_dir.join("kafka_trace.h");
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    let version = |part: &str| env::var(format!("CARGO_PKG_VERSION_{part}")).expect("version part");
    config.after_includes = Some(format!(
        "\n/* The version of the library this header describes (kt_version() reports the linked one). */\n\
         #define KT_VERSION_MAJOR {}\n#define KT_VERSION_MINOR {}\n#define KT_VERSION_PATCH {}\n\
         #define KT_VERSION_STRING \"{}\"",
        version("MAJOR"),
        version("MINOR"),
        version("PATCH"),
        env::var("CARGO_PKG_VERSION").expect("version"),
    ));
    cbindgen::Builder::new()
        .with_src(&result_rs)
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header")
        .write_to_file(&out);
}
