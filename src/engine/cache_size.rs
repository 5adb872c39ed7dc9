//! The size of this machine's L1 data cache, read once. Kernels use it only to choose how much
//! work a task keeps in flight (never the order of a sum), so it moves speed, not bytes.
use std::sync::OnceLock;

/// What kernels assume when the size cannot be read: the smaller of the two L1 data caches this
/// project's machines have (AMD EPYC, Zen 3: 32 KiB; Intel Xeon: 48 KiB), so a guess errs
/// towards runs that fit.
pub const FALLBACK_L1D_BYTES: usize = 32 * 1024;

/// Bytes of one core's L1 data cache: from Linux's sysfs where it says, else the fallback.
pub fn l1d_bytes() -> usize {
    static SIZE: OnceLock<usize> = OnceLock::new();
    *SIZE.get_or_init(|| read_sysfs_l1d().unwrap_or(FALLBACK_L1D_BYTES))
}

/// /sys/devices/system/cpu/cpu0/cache/index*/: the level-1 entry of type Data.
fn read_sysfs_l1d() -> Option<usize> {
    let dir = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    (0..8).find_map(|i| {
        let read = |f: &str| std::fs::read_to_string(dir.join(format!("index{i}/{f}"))).ok();
        let is_l1d = read("level")?.trim() == "1" && read("type")?.trim() == "Data";
        if is_l1d {
            parse_size(read("size")?.trim())
        } else {
            None
        }
    })
}

/// sysfs sizes: "32K", "1M", or plain bytes. Nonsense (or zero) is None: the fallback then holds.
fn parse_size(s: &str) -> Option<usize> {
    let (digits, unit) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 1024),
        b'M' => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    digits.parse::<usize>().ok().filter(|&n| n > 0).map(|n| n * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysfs_sizes_are_read_in_bytes_and_nonsense_is_refused() {
        assert_eq!(parse_size("32K"), Some(32 * 1024));
        assert_eq!(parse_size("48K"), Some(48 * 1024));
        assert_eq!(parse_size("1M"), Some(1024 * 1024));
        assert_eq!(parse_size("65536"), Some(65536));
        for bad in ["", "K", "0K", "-4K", "32 K", "lots"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_size_is_a_plausible_l1() {
        let b = l1d_bytes();
        assert!((8 * 1024..=1024 * 1024).contains(&b), "{b} bytes");
    }
}
