//! Generates the C header with cbindgen into `$OUT_DIR/kafka_trace.h`, adding the `KT_VERSION_*`
//! macros from this crate's version. The unit test `header_is_up_to_date` compares it with the
//! checked-in `include/kafka_trace.h` (and rewrites that file when `KT_BLESS_HEADER=1`).

use std::env;
use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("kafka_trace.h");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");

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
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header")
        .write_to_file(&out);
}
