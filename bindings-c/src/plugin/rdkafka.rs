//! The few librdkafka functions the plugin calls, looked up at run time in the very librdkafka
//! that loaded the plugin.
//!
//! libkafka_trace does not link librdkafka (its C ABI does not need it, and a plugin linked against
//! one librdkafka would drag a second copy into a process whose client uses another one, e.g. the
//! copy bundled in confluent-kafka's Python wheel). librdkafka loads plugins with
//! `dlopen(RTLD_NOW | RTLD_LOCAL)` and its own symbols are not always global (a Python extension
//! is loaded `RTLD_LOCAL`), so the plugin finds the library whose code called `conf_init()`: it
//! walks its own call stack (glibc `backtrace()`), takes the first return address outside
//! libkafka_trace, asks `dladdr()` which shared object holds it, re-opens that object with
//! `RTLD_NOLOAD` and resolves every function below with `dlsym()`. When that fails (a static build
//! without exported symbols) it tries the global namespace (`RTLD_DEFAULT`).
//!
//! The struct layouts used here are librdkafka's public, ABI-stable ones (`rd_kafka_message_t`).

use std::ffi::{c_char, c_int, c_void, CStr, CString};

/// `rd_kafka_message_t` (rdkafka.h, unchanged since librdkafka 0.9).
#[repr(C)]
pub(crate) struct RdMessage {
    pub err: c_int,
    pub rkt: *mut c_void,
    pub partition: i32,
    pub payload: *mut c_void,
    pub len: usize,
    pub key: *mut c_void,
    pub key_len: usize,
    pub offset: i64,
    pub _private: *mut c_void,
}

/// `rd_kafka_conf_res_t`.
pub(crate) const CONF_UNKNOWN: c_int = -2;
pub(crate) const CONF_INVALID: c_int = -1;
pub(crate) const CONF_OK: c_int = 0;

pub(crate) type OnConfSet = unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *mut c_char, usize, *mut c_void) -> c_int;
pub(crate) type OnConfDup = unsafe extern "C" fn(*mut c_void, *const c_void, usize, *const *const c_char, *mut c_void) -> c_int;
pub(crate) type OnConfDestroy = unsafe extern "C" fn(*mut c_void) -> c_int;
pub(crate) type OnNew = unsafe extern "C" fn(*mut c_void, *const c_void, *mut c_void, *mut c_char, usize) -> c_int;
pub(crate) type OnMessage = unsafe extern "C" fn(*mut c_void, *mut RdMessage, *mut c_void) -> c_int;

/// The librdkafka functions the plugin uses, from the library that loaded it.
pub(crate) struct Api {
    pub version_str: unsafe extern "C" fn() -> *const c_char,
    pub conf_add_on_conf_set: unsafe extern "C" fn(*mut c_void, *const c_char, OnConfSet, *mut c_void) -> c_int,
    pub conf_add_on_conf_dup: unsafe extern "C" fn(*mut c_void, *const c_char, OnConfDup, *mut c_void) -> c_int,
    pub conf_add_on_conf_destroy: unsafe extern "C" fn(*mut c_void, *const c_char, OnConfDestroy, *mut c_void) -> c_int,
    pub conf_add_on_new: unsafe extern "C" fn(*mut c_void, *const c_char, OnNew, *mut c_void) -> c_int,
    pub add_on_send: unsafe extern "C" fn(*mut c_void, *const c_char, OnMessage, *mut c_void) -> c_int,
    pub add_on_acknowledgement: unsafe extern "C" fn(*mut c_void, *const c_char, OnMessage, *mut c_void) -> c_int,
    pub add_on_consume: unsafe extern "C" fn(*mut c_void, *const c_char, OnMessage, *mut c_void) -> c_int,
    pub conf_get: unsafe extern "C" fn(*const c_void, *const c_char, *mut c_char, *mut usize) -> c_int,
    pub err2name: unsafe extern "C" fn(c_int) -> *const c_char,
    pub message_latency: unsafe extern "C" fn(*const RdMessage) -> i64,
    pub message_timestamp: unsafe extern "C" fn(*const RdMessage, *mut c_int) -> i64,
    pub message_headers: unsafe extern "C" fn(*const RdMessage, *mut *mut c_void) -> c_int,
    pub message_set_headers: unsafe extern "C" fn(*mut RdMessage, *mut c_void),
    pub headers_new: unsafe extern "C" fn(usize) -> *mut c_void,
    pub header_add: unsafe extern "C" fn(*mut c_void, *const c_char, isize, *const c_void, isize) -> c_int,
    pub header_remove: unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int,
    pub header_get_all: unsafe extern "C" fn(*const c_void, usize, *mut *const c_char, *mut *const c_void, *mut usize) -> c_int,
    pub topic_name: unsafe extern "C" fn(*const c_void) -> *const c_char,
    /// Where the functions came from (for the log).
    pub origin: String,
}

#[repr(C)]
struct DlInfo {
    dli_fname: *const c_char,
    dli_fbase: *mut c_void,
    dli_sname: *const c_char,
    dli_saddr: *mut c_void,
}

extern "C" {
    fn dladdr(addr: *const c_void, info: *mut DlInfo) -> c_int;
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn backtrace(buffer: *mut *mut c_void, size: c_int) -> c_int;
}

const RTLD_NOW: c_int = 0x2;
const RTLD_NOLOAD: c_int = 0x4;
const RTLD_NODELETE: c_int = 0x1000;
const RTLD_DEFAULT: *mut c_void = std::ptr::null_mut();

/// The shared object holding `addr`: (path, base address).
fn object_of(addr: *const c_void) -> Option<(CString, usize)> {
    let mut info = DlInfo { dli_fname: std::ptr::null(), dli_fbase: std::ptr::null_mut(), dli_sname: std::ptr::null(), dli_saddr: std::ptr::null_mut() };
    // SAFETY: dladdr only reads addr's mapping and fills info.
    if unsafe { dladdr(addr, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated path owned by the loader.
    Some((unsafe { CStr::from_ptr(info.dli_fname) }.to_owned(), info.dli_fbase as usize))
}

/// Keeps libkafka_trace loaded for the life of the process: librdkafka `dlclose()`s a plugin with
/// the last configuration that loaded it, while the exporter's threads and thread-local
/// destructors of this library may still run.
pub(crate) fn pin_self() {
    let here = pin_self as fn() as *const c_void;
    if let Some((path, _)) = object_of(here) {
        // SAFETY: re-opening an already loaded object (NOLOAD) only bumps its reference count and
        // marks it NODELETE; the handle is deliberately never closed.
        unsafe { dlopen(path.as_ptr(), RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) };
    }
}

/// The handle of the shared object that called into this library (the librdkafka whose
/// `rd_kafka_plugin_new()` called `conf_init()`), found from the call stack.
#[inline(never)]
pub(crate) fn caller_object() -> Option<(*mut c_void, String)> {
    let mut frames = [std::ptr::null_mut::<c_void>(); 32];
    // SAFETY: backtrace writes at most `len` return addresses into the buffer.
    let n = unsafe { backtrace(frames.as_mut_ptr(), frames.len() as c_int) };
    let own = object_of(caller_object as fn() -> Option<(*mut c_void, String)> as *const c_void)?.1;
    for &frame in frames.iter().take(n.max(0) as usize) {
        let Some((path, base)) = object_of(frame) else { continue };
        if base == own {
            continue;
        }
        // SAFETY: the object is loaded (it is on our stack); NOLOAD never loads anything new.
        let handle = unsafe { dlopen(path.as_ptr(), RTLD_NOW | RTLD_NOLOAD) };
        if !handle.is_null() {
            return Some((handle, path.to_string_lossy().into_owned()));
        }
    }
    None
}

impl Api {
    /// Resolves every function in `handle` (the librdkafka that called), else in the global
    /// namespace. `None` (with the missing name) when one of them cannot be found.
    // Each transmute's target is the type of the field it initializes (the function's C
    // signature from rdkafka.h), which the macro cannot spell.
    #[allow(clippy::missing_transmute_annotations)]
    pub(crate) fn resolve(handle: Option<(*mut c_void, String)>) -> Result<Api, String> {
        let (handle, origin) = handle.unwrap_or((RTLD_DEFAULT, "the global namespace".to_owned()));
        macro_rules! sym {
            ($name:literal) => {{
                // SAFETY: dlsym on a live handle (or RTLD_DEFAULT) with a NUL-terminated name.
                let p = unsafe { dlsym(handle, concat!($name, "\0").as_ptr().cast()) };
                if p.is_null() {
                    return Err(format!("{} not found in {origin}", $name));
                }
                // SAFETY: the symbol is librdkafka's function of that name, whose C signature
                // (rdkafka.h) is the field's type.
                unsafe { std::mem::transmute::<*mut c_void, _>(p) }
            }};
        }
        Ok(Api {
            version_str: sym!("rd_kafka_version_str"),
            conf_add_on_conf_set: sym!("rd_kafka_conf_interceptor_add_on_conf_set"),
            conf_add_on_conf_dup: sym!("rd_kafka_conf_interceptor_add_on_conf_dup"),
            conf_add_on_conf_destroy: sym!("rd_kafka_conf_interceptor_add_on_conf_destroy"),
            conf_add_on_new: sym!("rd_kafka_conf_interceptor_add_on_new"),
            add_on_send: sym!("rd_kafka_interceptor_add_on_send"),
            add_on_acknowledgement: sym!("rd_kafka_interceptor_add_on_acknowledgement"),
            add_on_consume: sym!("rd_kafka_interceptor_add_on_consume"),
            conf_get: sym!("rd_kafka_conf_get"),
            err2name: sym!("rd_kafka_err2name"),
            message_latency: sym!("rd_kafka_message_latency"),
            message_timestamp: sym!("rd_kafka_message_timestamp"),
            message_headers: sym!("rd_kafka_message_headers"),
            message_set_headers: sym!("rd_kafka_message_set_headers"),
            headers_new: sym!("rd_kafka_headers_new"),
            header_add: sym!("rd_kafka_header_add"),
            header_remove: sym!("rd_kafka_header_remove"),
            header_get_all: sym!("rd_kafka_header_get_all"),
            topic_name: sym!("rd_kafka_topic_name"),
            origin,
        })
    }

    /// librdkafka's version string.
    pub(crate) fn version(&self) -> String {
        // SAFETY: returns a static NUL-terminated string.
        unsafe { CStr::from_ptr((self.version_str)()) }.to_string_lossy().into_owned()
    }

    /// A configuration value of `conf` (`None` when unset or unknown).
    ///
    /// # Safety
    /// `conf` is a live `rd_kafka_conf_t`.
    pub(crate) unsafe fn conf_value(&self, conf: *const c_void, name: &CStr) -> Option<String> {
        let mut buf = vec![0u8; 1024];
        let mut size = buf.len();
        // SAFETY: buf is writable for `size` bytes; conf is live by contract.
        let mut rc = unsafe { (self.conf_get)(conf, name.as_ptr(), buf.as_mut_ptr().cast(), &mut size) };
        if rc == CONF_OK && size > buf.len() {
            buf = vec![0u8; size];
            // SAFETY: as above, with the size librdkafka asked for.
            rc = unsafe { (self.conf_get)(conf, name.as_ptr(), buf.as_mut_ptr().cast(), &mut size) };
        }
        if rc != CONF_OK {
            return None;
        }
        let value = CStr::from_bytes_until_nul(&buf).ok()?.to_string_lossy().into_owned();
        (!value.is_empty()).then_some(value)
    }

    /// librdkafka's name of an error code, e.g. `_MSG_TIMED_OUT`.
    pub(crate) fn err_name(&self, err: c_int) -> String {
        // SAFETY: returns a static NUL-terminated string for any value.
        let p = unsafe { (self.err2name)(err) };
        if p.is_null() {
            return String::new();
        }
        // SAFETY: as above.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    /// The message's topic name.
    ///
    /// # Safety
    /// `msg` is a live message.
    pub(crate) unsafe fn topic<'a>(&self, msg: *const RdMessage) -> Option<&'a [u8]> {
        // SAFETY: live message by contract.
        let rkt = unsafe { (*msg).rkt };
        if rkt.is_null() {
            return None;
        }
        // SAFETY: a live topic handle; the name lives as long as the topic, which the message holds.
        let name = unsafe { (self.topic_name)(rkt) };
        // SAFETY: as above.
        (!name.is_null()).then(|| unsafe { CStr::from_ptr(name) }.to_bytes())
    }

    /// The message's headers as (name, value) pointers into the message.
    ///
    /// # Safety
    /// `msg` is a live message; the views live as long as its headers are not modified.
    pub(crate) unsafe fn headers_of(&self, msg: *const RdMessage) -> Vec<crate::kt_header> {
        let mut out = Vec::new();
        let mut hdrs = std::ptr::null_mut();
        // SAFETY: live message by contract.
        if unsafe { (self.message_headers)(msg, &mut hdrs) } != 0 || hdrs.is_null() {
            return out;
        }
        loop {
            let (mut name, mut value, mut size) = (std::ptr::null(), std::ptr::null(), 0usize);
            // SAFETY: live headers; out-params are writable.
            if unsafe { (self.header_get_all)(hdrs, out.len(), &mut name, &mut value, &mut size) } != 0 || name.is_null() {
                break;
            }
            // SAFETY: librdkafka's header names are NUL-terminated.
            let name_len = unsafe { CStr::from_ptr(name) }.to_bytes().len();
            out.push(crate::kt_header { name, name_len, value: value.cast(), value_len: size });
        }
        out
    }
}
