//! Benchmark payloads: unique, reproducible bytes without holding whole objects in memory.
//!
//! A 64 MiB pool of pseudo-random bytes is made once. An object is a run of 1 MiB frames, each
//! frame a slice of the pool at an offset derived from (seed, frame index); the offsets are
//! byte-granular, so no two frames (and hence no two 1 MiB chunks) are alike and a
//! deduplicating server gets no free ride. The same function gives the expected bytes when
//! reading back, so every GET is checked without keeping what was sent.

use bytes::Bytes;

pub const FRAME: usize = 1 << 20;
const POOL: usize = 64 << 20;

pub struct Pool {
    data: Bytes,
}

fn mix(mut z: u64) -> u64 {
    // splitmix64 finaliser
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Pool {
    pub fn new(seed: u64) -> Self {
        let mut v = vec![0u8; POOL];
        let mut s = seed;
        for c in v.chunks_exact_mut(8) {
            s = mix(s);
            c.copy_from_slice(&s.to_le_bytes());
        }
        Pool { data: v.into() }
    }

    fn offset(&self, seed: u64, idx: u64, len: usize) -> usize {
        let span = (self.data.len() - len) as u64;
        (mix(seed ^ mix(idx.wrapping_add(1))) % span) as usize
    }

    /// A small object's whole body.
    pub fn small(&self, seed: u64, idx: u64, len: usize) -> Bytes {
        let off = self.offset(seed, idx, len.min(FRAME));
        self.data.slice(off..off + len.min(FRAME))
    }

    /// Frame `i` of a large object of `len` bytes (the last one may be short).
    pub fn frame(&self, seed: u64, len: u64, i: u64) -> Bytes {
        let start = i * FRAME as u64;
        let n = (len - start).min(FRAME as u64) as usize;
        let off = self.offset(seed, i, FRAME);
        self.data.slice(off..off + n)
    }

    /// The frames of bytes `[start, start + n)` of a large object, each `FRAME` long: parts
    /// must start on frame boundaries.
    pub fn frames(&self, seed: u64, len: u64, start: u64, n: u64) -> Vec<Bytes> {
        debug_assert_eq!(start % FRAME as u64, 0);
        let end = (start + n).min(len);
        (start / FRAME as u64..end.div_ceil(FRAME as u64))
            .map(|i| {
                let f = self.frame(seed, len, i);
                let fs = i * FRAME as u64;
                let take = (end - fs).min(f.len() as u64) as usize;
                f.slice(..take)
            })
            .collect()
    }

    /// Whether `got` equals bytes `[at, at + got.len())` of the large object.
    pub fn matches(&self, seed: u64, len: u64, at: u64, got: &[u8]) -> bool {
        if at + got.len() as u64 > len {
            return false;
        }
        let mut pos = at;
        let mut rest = got;
        while !rest.is_empty() {
            let i = pos / FRAME as u64;
            let within = (pos % FRAME as u64) as usize;
            let f = self.frame(seed, len, i);
            let n = (f.len() - within).min(rest.len());
            if f[within..within + n] != rest[..n] {
                return false;
            }
            pos += n as u64;
            rest = &rest[n..];
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_distinct_and_checkable() {
        let p = Pool::new(7);
        let len = 5 * FRAME as u64 + 123;
        let all: Vec<u8> = p.frames(1, len, 0, len).concat();
        assert_eq!(all.len() as u64, len);
        assert!(p.matches(1, len, 0, &all));
        assert!(p.matches(1, len, 1_500_000, &all[1_500_000..3_000_000]));
        assert!(!p.matches(2, len, 0, &all[..4096]));
        assert_ne!(p.frame(1, len, 0), p.frame(1, len, 1));
        assert_ne!(p.small(1, 0, 4096), p.small(1, 1, 4096));
    }
}
