//! Lowercase hex, the only case W3C Trace Context accepts. A 256-entry table keeps decoding to
//! one load per byte without branches on character ranges.

const INVALID: u8 = 0xff;

const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

const ENCODE: &[u8; 16] = b"0123456789abcdef";

/// Decodes `2 * N` lowercase hex digits into `N` bytes; `None` on any other byte or length.
pub(crate) fn decode<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut invalid = 0u8;
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let hi = DECODE[pair[0] as usize];
        let lo = DECODE[pair[1] as usize];
        // Accumulate instead of branching per digit: the common case is valid input.
        invalid |= (hi | lo) & 0xf0;
        *byte = (hi << 4) | (lo & 0x0f);
    }
    (invalid == 0).then_some(out)
}

/// Writes `2 * bytes.len()` lowercase hex digits into `out`, which must be exactly that long.
pub(crate) fn encode_into(bytes: &[u8], out: &mut [u8]) {
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = ENCODE[(byte >> 4) as usize];
        pair[1] = ENCODE[(byte & 0x0f) as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_only_lowercase() {
        assert_eq!(decode::<2>(b"0aff"), Some([0x0a, 0xff]));
        assert_eq!(decode::<2>(b"0AFF"), None);
        assert_eq!(decode::<2>(b"0g00"), None);
        assert_eq!(decode::<2>(b"0a"), None);
    }

    #[test]
    fn encodes_lowercase() {
        let mut out = [0u8; 4];
        encode_into(&[0xab, 0x01], &mut out);
        assert_eq!(&out, b"ab01");
    }
}
