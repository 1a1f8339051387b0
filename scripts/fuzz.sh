#!/usr/bin/env bash
# Runs every libFuzzer target of core/fuzz (the codecs and the header carrier) and of
# bindings-c/fuzz (c_abi: every exported kt_ function of the C ABI) for SECONDS_PER_TARGET seconds
# each (default 60), one after another, and exits non-zero if any target crashes or leaks (the
# input is kept under <fuzz dir>/artifacts/<target>/ and can be replayed with
# `cargo +nightly fuzz run --fuzz-dir <fuzz dir> <target> <file>`).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#   FUZZ_TARGETS="traceparent headers" scripts/fuzz.sh 300
#   FUZZ_TARGETS=c_abi nice -n 19 scripts/fuzz.sh 600
#
# Needs the nightly toolchain (`rustup toolchain list`); installs cargo-fuzz if it is missing.
# Builds into <fuzz dir>/target, keeps the corpus in <fuzz dir>/corpus/<target> (both git-ignored)
# and seeds it with the spec examples and, when present, the header values of
# core/testdata/trace_context_vectors.json.
set -euo pipefail

SECONDS_PER_TARGET="${1:-60}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || [ "$SECONDS_PER_TARGET" -lt 1 ]; then
  echo "usage: $0 [SECONDS_PER_TARGET]" >&2
  exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ_DIR="$ROOT/core/fuzz"
C_FUZZ_DIR="$ROOT/bindings-c/fuzz"
VECTORS="$ROOT/core/testdata/trace_context_vectors.json"
TARGETS=(${FUZZ_TARGETS:-traceparent tracestate baggage headers c_abi})

# The fuzz crate of a target: c_abi lives with the C ABI it drives, the others with the core.
dir_of() {
  case "$1" in
    c_abi) echo "$C_FUZZ_DIR" ;;
    *) echo "$FUZZ_DIR" ;;
  esac
}

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz.sh: the nightly toolchain is required (cargo-fuzz needs -Z sanitizer flags)" >&2
  exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

max_len() {
  case "$1" in
    traceparent) echo 256 ;;
    tracestate) echo 4096 ;;      # well past the 512-byte inject truncation
    baggage | headers) echo 12288 ;;  # past the 8192-byte baggage limit
    c_abi) echo 16384 ;;          # a script of up to 64 calls with their arguments
    *) echo 4096 ;;
  esac
}

# Seed corpus: spec examples always, shared vectors when the file exists. The headers target
# reads the length-prefixed list format documented in core/fuzz/fuzz_targets/headers.rs.
seed_corpus() {
  if ! command -v python3 >/dev/null 2>&1; then
    echo "fuzz.sh: python3 not found, starting from an empty corpus" >&2
    return 0
  fi
  python3 - "$FUZZ_DIR/corpus" "$VECTORS" <<'PY'
import hashlib, json, os, struct, sys

corpus, vectors = sys.argv[1], sys.argv[2]
NAMES = ["traceparent", "TraceParent", "tracestate", "TRACESTATE", "baggage", "Baggage", "x", "key"]

def put(target, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)

def encode_list(headers):
    out = bytearray()
    for name, value in headers:
        if name in NAMES:
            out.append(NAMES.index(name))
        else:
            raw = name.encode("utf-8")[:127]
            out.append(0x80 | len(raw))
            out += raw
        if value is None:
            out += struct.pack("<H", 0xFFFF)
        else:
            value = value[:0xFFFE]
            out += struct.pack("<H", len(value)) + value
    return bytes(out)

def value_of(h):
    if "value_hex" in h:
        return bytes.fromhex(h["value_hex"])
    v = h.get("value")
    return None if v is None else v.encode("utf-8")

TP = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TS = b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,tenant@vendor=x y"
BG = b"userId=alice%20smith;p1;p2=v,serverNode=DF%2028,isProduction=false"
lists = [[("traceparent", TP), ("tracestate", TS), ("baggage", BG), ("x", b"1")],
         [("TraceParent", TP), ("traceparent", b" " + TP + b"\t"), ("key", None)]]
put("traceparent", TP)
put("traceparent", b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-next")
put("tracestate", TS)
put("tracestate", b"a=" + b"x" * 250 + b",b=1,c=" + b"y" * 200 + b",d=2")
put("baggage", BG)

count = 0
if os.path.exists(vectors):
    with open(vectors, encoding="utf-8") as f:
        doc = json.load(f)
    for case in doc.get("cases", []):
        sets = [case.get("headers", [])]
        sets.append(case.get("inject", {}).get("expect_headers", []))
        for headers in sets:
            pairs = [(h.get("name", ""), value_of(h)) for h in headers]
            if pairs:
                lists.append(pairs)
            for name, value in pairs:
                lower = name.lower()
                if value is not None and lower in ("traceparent", "tracestate", "baggage"):
                    put(lower, value)
        count += 1
for pairs in lists:
    put("headers", encode_list(pairs))
print(f"fuzz.sh: seeded corpus ({count} vector cases)", file=sys.stderr)
PY
}

seed_corpus

failed=()
summary=()
for target in "${TARGETS[@]}"; do
  dir="$(dir_of "$target")"
  export CARGO_TARGET_DIR="$dir/target"
  log="$CARGO_TARGET_DIR/fuzz-$target.log"
  mkdir -p "$CARGO_TARGET_DIR" "$dir/corpus/$target" "$dir/artifacts/$target"
  echo "fuzz.sh: $target for ${SECONDS_PER_TARGET}s (log: $log)" >&2
  status=0
  # c_abi: LeakSanitizer suppressions for the SDK's unjoined reader thread (see the file).
  lsan="${LSAN_OPTIONS:-}"
  if [ "$target" = c_abi ] && [ -z "$lsan" ]; then lsan="suppressions=$C_FUZZ_DIR/lsan.supp"; fi
  (cd "$(dirname "$dir")" && LSAN_OPTIONS="$lsan" cargo +nightly fuzz run --fuzz-dir "$dir" "$target" "$dir/corpus/$target" -- \
      -max_total_time="$SECONDS_PER_TARGET" -max_len="$(max_len "$target")" -print_final_stats=1) \
      >"$log" 2>&1 || status=$?
  runs="$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1 || true)"
  cov="$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n 1 || true)"
  if [ "$status" -ne 0 ]; then
    failed+=("$target")
    summary+=("$target: FAILED (exit $status) after ${runs:-?} executions, see $log")
    tail -n 40 "$log" >&2
  else
    summary+=("$target: ok, ${runs:-?} executions in ${SECONDS_PER_TARGET}s (${cov:-no stats})")
  fi
done

printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz.sh: crashes in: ${failed[*]} (inputs under $FUZZ_DIR/artifacts/ or $C_FUZZ_DIR/artifacts/)" >&2
  exit 1
fi
