//! Lowercase hex, the only case W3C Trace Context accepts, eight digits at a time in a `u64`
//! (SWAR: SIMD within a register, in safe code). Every lane is range-checked with carry-free
//! additions, so a whole id is validated and decoded with a few dozen instructions and no table.

const LANES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;
const LOW_NIBBLES: u64 = 0x0f0f_0f0f_0f0f_0f0f;

/// Each lane's high bit set where the lane (known to be < 0x80) is `>= bound`.
const fn at_least(x: u64, bound: u8) -> u64 {
    // `x + (0x80 - bound)` per lane: lanes are < 0x80 and the addend <= 0x80, so no lane carries.
    x.wrapping_add(LANES * (0x80 - bound as u64)) & HIGH
}

/// Decodes 8 hex digits into 4 bytes, and a mask that is non-zero if any byte is not `[0-9a-f]`
/// (the bytes are meaningless then).
#[inline(always)]
fn decode8_unchecked(digits: [u8; 8]) -> (u64, u32) {
    let x = u64::from_le_bytes(digits);
    // A byte >= 0x80 makes the lane additions below carry, but it is reported bad by itself.
    let digit = at_least(x, b'0') & !at_least(x, b'9' + 1);
    let alpha = at_least(x, b'a') & !at_least(x, b'f' + 1);
    let bad = (x & HIGH) | ((digit | alpha) ^ HIGH);
    // '0'..'9' -> 0..9 by the low nibble; 'a'..'f' (0x61..0x66) -> low nibble + 9.
    let nibbles = (x & LOW_NIBBLES) + (alpha >> 7) * 9;
    // Lane 2k holds the high nibble of output byte k, lane 2k + 1 its low nibble (little endian).
    let pairs = ((nibbles & 0x000f_000f_000f_000f) << 4) | ((nibbles >> 8) & 0x000f_000f_000f_000f);
    let pairs = (pairs | (pairs >> 8)) & 0x0000_ffff_0000_ffff;
    (bad, ((pairs | (pairs >> 16)) & 0xffff_ffff) as u32)
}

/// Decodes 8 lowercase hex digits into 4 bytes; `None` if any byte is not `[0-9a-f]`.
#[cfg(test)]
fn decode8(digits: [u8; 8]) -> Option<u32> {
    let (bad, value) = decode8_unchecked(digits);
    (bad == 0).then_some(value)
}

/// Encodes 4 bytes as 8 lowercase hex digits.
#[inline(always)]
fn encode4(bytes: [u8; 4]) -> [u8; 8] {
    let v = u32::from_le_bytes(bytes) as u64;
    // Spread byte k to the low half of 16-bit lane k.
    let v = (v | (v << 16)) & 0x0000_ffff_0000_ffff;
    let v = (v | (v << 8)) & 0x00ff_00ff_00ff_00ff;
    // High nibble into lane 2k, low nibble into lane 2k + 1.
    let n = ((v >> 4) & 0x000f_000f_000f_000f) | ((v & 0x000f_000f_000f_000f) << 8);
    // Lanes >= 10 get the gap between '9' + 1 and 'a'.
    let letters = (n.wrapping_add(LANES * 0x76) >> 7) & LANES;
    (n + LANES * b'0' as u64 + letters * (b'a' - b'0' - 10) as u64).to_le_bytes()
}

/// Decodes `2 * N` lowercase hex digits into `N` bytes; `None` on any other byte or length.
#[inline(always)]
pub(crate) fn decode<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad = 0u64;
    let words = N / 4;
    for k in 0..words {
        let word = hex.get(8 * k..8 * k + 8).and_then(|w| <[u8; 8]>::try_from(w).ok())?;
        let (b, value) = decode8_unchecked(word);
        bad |= b;
        out[4 * k..4 * k + 4].copy_from_slice(&value.to_le_bytes());
    }
    // Fewer than 8 digits left (a version or flags byte): one pair at a time.
    for k in 4 * words..N {
        out[k] = decode_pair(hex[2 * k], hex[2 * k + 1])?;
    }
    (bad == 0).then_some(out)
}

/// One byte from two lowercase hex digits.
#[inline(always)]
pub(crate) fn decode_pair(hi: u8, lo: u8) -> Option<u8> {
    Some((nibble(hi)? << 4) | nibble(lo)?)
}

#[inline(always)]
fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// Writes `2 * bytes.len()` lowercase hex digits into `out`, which must be exactly that long.
#[inline]
pub(crate) fn encode_into(bytes: &[u8], out: &mut [u8]) {
    let mut ins = bytes.chunks_exact(4);
    let mut outs = out.chunks_exact_mut(8);
    for (i, o) in (&mut ins).zip(&mut outs) {
        if let Ok(i) = <[u8; 4]>::try_from(i) {
            o.copy_from_slice(&encode4(i));
        }
    }
    for (pair, byte) in outs.into_remainder().chunks_exact_mut(2).zip(ins.remainder()) {
        pair.copy_from_slice(&encode_byte(*byte));
    }
}

/// Two lowercase hex digits.
#[inline(always)]
pub(crate) fn encode_byte(byte: u8) -> [u8; 2] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    [DIGITS[(byte >> 4) as usize], DIGITS[(byte & 0x0f) as usize]]
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
        assert_eq!(decode::<8>(b"00f067aa0ba902b7"), Some([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]));
    }

    #[test]
    fn encodes_lowercase() {
        let mut out = [0u8; 4];
        encode_into(&[0xab, 0x01], &mut out);
        assert_eq!(&out, b"ab01");
        let mut out = [0u8; 18];
        encode_into(&[0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7, 0x9c], &mut out);
        assert_eq!(&out, b"00f067aa0ba902b79c");
    }

    /// Every byte value in every lane of a word, against the per-digit definition.
    #[test]
    fn swar_matches_the_scalar_definition_for_every_byte_in_every_lane() {
        let base = *b"0123abcd";
        for lane in 0..8 {
            for b in 0..=255u8 {
                let mut word = base;
                word[lane] = b;
                let scalar: Option<Vec<u8>> = word.chunks(2).map(|p| decode_pair(p[0], p[1])).collect();
                let swar = decode8(word).map(|v| v.to_le_bytes().to_vec());
                assert_eq!(swar, scalar, "lane {lane} byte {b:#04x}");
            }
        }
        for b in 0..=255u8 {
            let bytes = [b, b.wrapping_mul(7), !b, b ^ 0x5a];
            let want: Vec<u8> = bytes.iter().flat_map(|&x| encode_byte(x)).collect();
            assert_eq!(encode4(bytes).to_vec(), want, "{bytes:02x?}");
            assert_eq!(decode8(encode4(bytes)), Some(u32::from_le_bytes(bytes)));
        }
    }
}
