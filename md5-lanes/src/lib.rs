//! MD5 block compression (RFC 1321 §3.4) for several independent messages at once: one
//! message per SIMD lane, 16 lanes with AVX-512, 8 with AVX2. A single message goes through
//! the `md-5` crate's compressor; these kernels only pay off when several messages are being
//! hashed at the same time, which `gatehouse_store`'s hashing thread arranges.
//!
//! The only `unsafe` of the workspace lives here: the kernels load message words with gathers
//! from raw addresses. `compress_lanes` is the safe door: it checks that every slice holds the
//! blocks the kernel will read and that the CPU has the instructions.

/// One MD5 block.
pub const BLOCK: usize = 64;

/// The chaining value of one message.
pub type State = [u32; 4];

/// RFC 1321's table: `K[i] = floor(2^32 * |sin(i + 1)|)`.
const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// The 64 steps of one block: `$step!(ops, m, function, a, b, c, d, message word, shift,
/// step)`, in the order of RFC 1321 §3.4, `ops` naming the kernel's vector operations and `m`
/// its message words. Every kernel expands this, so the schedule has one home.
#[cfg(target_arch = "x86_64")]
macro_rules! md5_steps {
    ($step:ident, $ops:ident, $m:ident, $a:ident, $b:ident, $c:ident, $d:ident) => {
        $step!($ops, $m, f, $a, $b, $c, $d, 0, 7, 0);
        $step!($ops, $m, f, $d, $a, $b, $c, 1, 12, 1);
        $step!($ops, $m, f, $c, $d, $a, $b, 2, 17, 2);
        $step!($ops, $m, f, $b, $c, $d, $a, 3, 22, 3);
        $step!($ops, $m, f, $a, $b, $c, $d, 4, 7, 4);
        $step!($ops, $m, f, $d, $a, $b, $c, 5, 12, 5);
        $step!($ops, $m, f, $c, $d, $a, $b, 6, 17, 6);
        $step!($ops, $m, f, $b, $c, $d, $a, 7, 22, 7);
        $step!($ops, $m, f, $a, $b, $c, $d, 8, 7, 8);
        $step!($ops, $m, f, $d, $a, $b, $c, 9, 12, 9);
        $step!($ops, $m, f, $c, $d, $a, $b, 10, 17, 10);
        $step!($ops, $m, f, $b, $c, $d, $a, 11, 22, 11);
        $step!($ops, $m, f, $a, $b, $c, $d, 12, 7, 12);
        $step!($ops, $m, f, $d, $a, $b, $c, 13, 12, 13);
        $step!($ops, $m, f, $c, $d, $a, $b, 14, 17, 14);
        $step!($ops, $m, f, $b, $c, $d, $a, 15, 22, 15);

        $step!($ops, $m, g, $a, $b, $c, $d, 1, 5, 16);
        $step!($ops, $m, g, $d, $a, $b, $c, 6, 9, 17);
        $step!($ops, $m, g, $c, $d, $a, $b, 11, 14, 18);
        $step!($ops, $m, g, $b, $c, $d, $a, 0, 20, 19);
        $step!($ops, $m, g, $a, $b, $c, $d, 5, 5, 20);
        $step!($ops, $m, g, $d, $a, $b, $c, 10, 9, 21);
        $step!($ops, $m, g, $c, $d, $a, $b, 15, 14, 22);
        $step!($ops, $m, g, $b, $c, $d, $a, 4, 20, 23);
        $step!($ops, $m, g, $a, $b, $c, $d, 9, 5, 24);
        $step!($ops, $m, g, $d, $a, $b, $c, 14, 9, 25);
        $step!($ops, $m, g, $c, $d, $a, $b, 3, 14, 26);
        $step!($ops, $m, g, $b, $c, $d, $a, 8, 20, 27);
        $step!($ops, $m, g, $a, $b, $c, $d, 13, 5, 28);
        $step!($ops, $m, g, $d, $a, $b, $c, 2, 9, 29);
        $step!($ops, $m, g, $c, $d, $a, $b, 7, 14, 30);
        $step!($ops, $m, g, $b, $c, $d, $a, 12, 20, 31);

        $step!($ops, $m, h, $a, $b, $c, $d, 5, 4, 32);
        $step!($ops, $m, h, $d, $a, $b, $c, 8, 11, 33);
        $step!($ops, $m, h, $c, $d, $a, $b, 11, 16, 34);
        $step!($ops, $m, h, $b, $c, $d, $a, 14, 23, 35);
        $step!($ops, $m, h, $a, $b, $c, $d, 1, 4, 36);
        $step!($ops, $m, h, $d, $a, $b, $c, 4, 11, 37);
        $step!($ops, $m, h, $c, $d, $a, $b, 7, 16, 38);
        $step!($ops, $m, h, $b, $c, $d, $a, 10, 23, 39);
        $step!($ops, $m, h, $a, $b, $c, $d, 13, 4, 40);
        $step!($ops, $m, h, $d, $a, $b, $c, 0, 11, 41);
        $step!($ops, $m, h, $c, $d, $a, $b, 3, 16, 42);
        $step!($ops, $m, h, $b, $c, $d, $a, 6, 23, 43);
        $step!($ops, $m, h, $a, $b, $c, $d, 9, 4, 44);
        $step!($ops, $m, h, $d, $a, $b, $c, 12, 11, 45);
        $step!($ops, $m, h, $c, $d, $a, $b, 15, 16, 46);
        $step!($ops, $m, h, $b, $c, $d, $a, 2, 23, 47);

        $step!($ops, $m, i, $a, $b, $c, $d, 0, 6, 48);
        $step!($ops, $m, i, $d, $a, $b, $c, 7, 10, 49);
        $step!($ops, $m, i, $c, $d, $a, $b, 14, 15, 50);
        $step!($ops, $m, i, $b, $c, $d, $a, 5, 21, 51);
        $step!($ops, $m, i, $a, $b, $c, $d, 12, 6, 52);
        $step!($ops, $m, i, $d, $a, $b, $c, 3, 10, 53);
        $step!($ops, $m, i, $c, $d, $a, $b, 10, 15, 54);
        $step!($ops, $m, i, $b, $c, $d, $a, 1, 21, 55);
        $step!($ops, $m, i, $a, $b, $c, $d, 8, 6, 56);
        $step!($ops, $m, i, $d, $a, $b, $c, 15, 10, 57);
        $step!($ops, $m, i, $c, $d, $a, $b, 6, 15, 58);
        $step!($ops, $m, i, $b, $c, $d, $a, 13, 21, 59);
        $step!($ops, $m, i, $a, $b, $c, $d, 4, 6, 60);
        $step!($ops, $m, i, $d, $a, $b, $c, 11, 10, 61);
        $step!($ops, $m, i, $c, $d, $a, $b, 2, 15, 62);
        $step!($ops, $m, i, $b, $c, $d, $a, 9, 21, 63);
    };
}

/// What this CPU can run, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// 16 lanes (AVX-512F), or 8 in 256-bit registers (AVX-512VL) when 8 are enough.
    Avx512,
    /// 8 lanes.
    Avx2,
    /// None: every message is hashed on its own.
    Scalar,
}

impl Kernel {
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
            {
                return Kernel::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Kernel::Avx2;
            }
        }
        Kernel::Scalar
    }

    /// Messages hashed in one pass.
    pub fn lanes(self) -> usize {
        match self {
            Kernel::Avx512 => 16,
            Kernel::Avx2 => 8,
            Kernel::Scalar => 1,
        }
    }
}

/// Compresses the same number of whole blocks into each state: `data[i]` into `states[i]`.
/// At most `kernel.lanes()` messages; every slice is as long as the first and a multiple of
/// `BLOCK`.
#[allow(unsafe_code)] // the three kernel calls below, each behind `detect`
pub fn compress_lanes(kernel: Kernel, states: &mut [State], data: &[&[u8]]) {
    assert_eq!(states.len(), data.len());
    assert!(states.len() <= kernel.lanes());
    let Some(len) = data.first().map(|d| d.len()) else {
        return;
    };
    assert!(len.is_multiple_of(BLOCK) && data.iter().all(|d| d.len() == len));
    let blocks = len / BLOCK;
    match kernel {
        // SAFETY (each arm): `detect` found the kernel's instructions on this CPU, and every
        // slice holds `blocks * BLOCK` bytes (checked above).
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 if (2..=8).contains(&states.len()) => unsafe {
            in_lanes(states, data, blocks, x86::x8vl)
        },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 if states.len() > 1 => unsafe { in_lanes(states, data, blocks, x86::x16) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 if states.len() > 1 => unsafe { in_lanes(states, data, blocks, x86::x8) },
        _ => {
            for (s, d) in states.iter_mut().zip(data) {
                compress(s, d);
            }
        }
    }
}

/// Runs `kernel` over `states.len()` messages (at most `N`), the unused lanes repeating the
/// first message and their results dropped.
///
/// # Safety
/// This CPU has the instructions of `kernel`, and every slice of `data` holds `blocks * BLOCK`
/// bytes.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
unsafe fn in_lanes<const N: usize>(
    states: &mut [State],
    data: &[&[u8]],
    blocks: usize,
    kernel: unsafe fn(&mut [State; N], &[*const u8; N], usize),
) {
    let mut st = [[0u32; 4]; N];
    let mut ptrs = [data[0].as_ptr(); N];
    for (l, (s, d)) in states.iter().zip(data).enumerate() {
        st[l] = *s;
        ptrs[l] = d.as_ptr();
    }
    // SAFETY: the caller's promise; every pointer starts one of the slices.
    unsafe { kernel(&mut st, &ptrs, blocks) };
    states.copy_from_slice(&st[..states.len()]);
}

/// Compresses whole blocks of one message (the `md-5` crate's compressor).
pub fn compress(state: &mut State, data: &[u8]) {
    let (blocks, rest) = data.as_chunks::<BLOCK>();
    debug_assert!(rest.is_empty());
    md5::block_api::compress(state, blocks);
}

/// The digest of a message whose whole blocks are in `state`, given its last partial block
/// and its total length in bytes (RFC 1321 §3.1–3.2 padding).
pub fn finish(mut state: State, tail: &[u8], len: u64) -> [u8; 16] {
    debug_assert!(tail.len() < BLOCK);
    let mut last = [0u8; 2 * BLOCK];
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = 0x80;
    let end = if tail.len() < BLOCK - 8 {
        BLOCK
    } else {
        2 * BLOCK
    };
    last[end - 8..end].copy_from_slice(&len.wrapping_mul(8).to_le_bytes());
    compress(&mut state, &last[..end]);
    let mut out = [0u8; 16];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// MD5's initial chaining value.
pub const INIT: State = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::*;

    use super::{BLOCK, K, State};

    /// One MD5 step on vectors of lanes: `a = b + rotl(a + fun(b, c, d) + K[i] + m[g], s)`.
    macro_rules! step {
        ($ops:ident, $m:ident, $fun:ident, $a:ident, $b:ident, $c:ident, $d:ident, $g:expr, $s:literal, $i:expr) => {
            $a = $ops!(
                add,
                $b,
                $ops!(
                    rotl $s,
                    $ops!(
                        add,
                        $ops!(add, $a, $ops!($fun, $b, $c, $d)),
                        $ops!(add, $ops!(splat, K[$i]), $m[$g])
                    )
                )
            );
        };
    }

    /// A kernel: `$lanes` messages, `blocks` blocks each, lane `l` reading from `ptrs[l]`,
    /// with the vector operations of `$ops`: the skeleton every width shares.
    macro_rules! kernel {
        ($(#[$doc:meta])* $name:ident, $features:literal, $lanes:literal, $ops:ident) => {
            $(#[$doc])*
            #[target_feature(enable = $features)]
            pub(super) unsafe fn $name(
                states: &mut [State; $lanes],
                ptrs: &[*const u8; $lanes],
                blocks: usize,
            ) {
                let mut col = [[0u32; $lanes]; 4];
                for (w, c) in col.iter_mut().enumerate() {
                    for (l, x) in c.iter_mut().enumerate() {
                        *x = states[l][w];
                    }
                }
                // SAFETY: each column is `$lanes` readable words.
                let (mut a, mut b, mut c, mut d) = unsafe {
                    (
                        $ops!(load, col[0]),
                        $ops!(load, col[1]),
                        $ops!(load, col[2]),
                        $ops!(load, col[3]),
                    )
                };
                let addr: [i64; $lanes] = std::array::from_fn(|l| ptrs[l] as i64);
                // SAFETY: `addr` is `$lanes` readable addresses.
                let addr = unsafe { $ops!(addresses, addr) };
                for blk in 0..blocks {
                    let mut m = [$ops!(splat, 0); 16];
                    for (w, mw) in m.iter_mut().enumerate() {
                        // SAFETY: each lane's word `w` of block `blk` lies inside the
                        // `blocks * BLOCK` bytes its pointer starts.
                        *mw = unsafe { $ops!(gather, addr, blk * BLOCK + w * 4) };
                    }
                    let (a0, b0, c0, d0) = (a, b, c, d);
                    md5_steps!(step, $ops, m, a, b, c, d);
                    a = $ops!(add, a, a0);
                    b = $ops!(add, b, b0);
                    c = $ops!(add, c, c0);
                    d = $ops!(add, d, d0);
                }
                for (w, v) in [a, b, c, d].into_iter().enumerate() {
                    let mut out = [0u32; $lanes];
                    // SAFETY: `out` is `$lanes` writable words.
                    unsafe { $ops!(store, out, v) };
                    for (l, s) in states.iter_mut().enumerate() {
                        s[w] = out[l];
                    }
                }
            }
        };
    }

    /// 16 lanes of AVX-512F: ternary logic for the round functions, native rotates. Addresses
    /// are gathered with a null base, so the offsets are the addresses themselves.
    macro_rules! avx512 {
        (add, $x:expr, $y:expr) => {
            _mm512_add_epi32($x, $y)
        };
        (splat, $k:expr) => {
            _mm512_set1_epi32($k as i32)
        };
        (rotl $s:literal, $x:expr) => {
            _mm512_rol_epi32::<$s>($x)
        };
        (f, $x:expr, $y:expr, $z:expr) => {
            _mm512_ternarylogic_epi32::<0xCA>($x, $y, $z)
        };
        (g, $x:expr, $y:expr, $z:expr) => {
            _mm512_ternarylogic_epi32::<0xE4>($x, $y, $z)
        };
        (h, $x:expr, $y:expr, $z:expr) => {
            _mm512_ternarylogic_epi32::<0x96>($x, $y, $z)
        };
        (i, $x:expr, $y:expr, $z:expr) => {
            _mm512_ternarylogic_epi32::<0x39>($x, $y, $z)
        };
        (load, $v:expr) => {
            _mm512_loadu_si512($v.as_ptr().cast())
        };
        (store, $out:expr, $v:expr) => {
            _mm512_storeu_si512($out.as_mut_ptr().cast(), $v)
        };
        (addresses, $a:expr) => {
            (
                _mm512_loadu_si512($a.as_ptr().cast()),
                _mm512_loadu_si512($a[8..].as_ptr().cast()),
            )
        };
        (gather, $a:expr, $off:expr) => {{
            let off = _mm512_set1_epi64($off as i64);
            let lo = _mm512_i64gather_epi32::<1>(_mm512_add_epi64($a.0, off), std::ptr::null());
            let hi = _mm512_i64gather_epi32::<1>(_mm512_add_epi64($a.1, off), std::ptr::null());
            _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
        }};
    }

    /// 8 lanes of AVX2: the round functions and rotates from plain logic and shifts.
    macro_rules! avx2 {
        (add, $x:expr, $y:expr) => {
            _mm256_add_epi32($x, $y)
        };
        (splat, $k:expr) => {
            _mm256_set1_epi32($k as i32)
        };
        (rotl $s:literal, $x:expr) => {{
            let x = $x;
            _mm256_or_si256(
                _mm256_slli_epi32::<$s>(x),
                _mm256_srli_epi32::<{ 32 - $s }>(x),
            )
        }};
        // d ^ (b & (c ^ d))
        (f, $x:expr, $y:expr, $z:expr) => {
            _mm256_xor_si256($z, _mm256_and_si256($x, _mm256_xor_si256($y, $z)))
        };
        // c ^ (d & (b ^ c))
        (g, $x:expr, $y:expr, $z:expr) => {
            _mm256_xor_si256($y, _mm256_and_si256($z, _mm256_xor_si256($x, $y)))
        };
        (h, $x:expr, $y:expr, $z:expr) => {
            _mm256_xor_si256(_mm256_xor_si256($x, $y), $z)
        };
        // c ^ (b | !d)
        (i, $x:expr, $y:expr, $z:expr) => {
            _mm256_xor_si256(
                $y,
                _mm256_or_si256($x, _mm256_xor_si256($z, _mm256_set1_epi32(-1))),
            )
        };
        (load, $v:expr) => {
            _mm256_loadu_si256($v.as_ptr().cast())
        };
        (store, $out:expr, $v:expr) => {
            _mm256_storeu_si256($out.as_mut_ptr().cast(), $v)
        };
        (addresses, $a:expr) => {
            (
                _mm256_loadu_si256($a.as_ptr().cast()),
                _mm256_loadu_si256($a[4..].as_ptr().cast()),
            )
        };
        (gather, $a:expr, $off:expr) => {{
            let off = _mm256_set1_epi64x($off as i64);
            let lo = _mm256_i64gather_epi32::<1>(std::ptr::null(), _mm256_add_epi64($a.0, off));
            let hi = _mm256_i64gather_epi32::<1>(std::ptr::null(), _mm256_add_epi64($a.1, off));
            _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(lo), hi)
        }};
    }

    /// 8 lanes in 256-bit registers with AVX-512VL's ternary logic and rotates.
    macro_rules! avx512vl {
        (rotl $s:literal, $x:expr) => { _mm256_rol_epi32::<$s>($x) };
        (f, $x:expr, $y:expr, $z:expr) => { _mm256_ternarylogic_epi32::<0xCA>($x, $y, $z) };
        (g, $x:expr, $y:expr, $z:expr) => { _mm256_ternarylogic_epi32::<0xE4>($x, $y, $z) };
        (h, $x:expr, $y:expr, $z:expr) => { _mm256_ternarylogic_epi32::<0x96>($x, $y, $z) };
        (i, $x:expr, $y:expr, $z:expr) => { _mm256_ternarylogic_epi32::<0x39>($x, $y, $z) };
        ($($rest:tt)*) => { avx2!($($rest)*) };
    }

    kernel!(
        /// # Safety
        /// The CPU has AVX-512F, and each pointer starts `blocks * BLOCK` readable bytes.
        x16, "avx512f", 16, avx512
    );
    kernel!(
        /// # Safety
        /// The CPU has AVX2, and each pointer starts `blocks * BLOCK` readable bytes.
        x8, "avx2", 8, avx2
    );
    kernel!(
        /// The cheaper form of `x16` when no more than 8 messages are in flight.
        ///
        /// # Safety
        /// The CPU has AVX2 and AVX-512VL, and each pointer starts `blocks * BLOCK` readable
        /// bytes.
        x8vl, "avx2,avx512f,avx512vl", 8, avx512vl
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest as _;

    fn bytes(seed: u64, n: usize) -> Vec<u8> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect()
    }

    fn whole(data: &[u8]) -> [u8; 16] {
        let cut = data.len() / BLOCK * BLOCK;
        let mut st = INIT;
        compress(&mut st, &data[..cut]);
        finish(st, &data[cut..], data.len() as u64)
    }

    #[test]
    fn padding_matches_the_crate_at_every_tail_length() {
        for n in 0..300 {
            let d = bytes(n as u64, n);
            assert_eq!(whole(&d), <[u8; 16]>::from(md5::Md5::digest(&d)), "{n}");
        }
    }

    #[test]
    fn every_kernel_matches_the_crate_in_every_lane() {
        let here = Kernel::detect();
        for kernel in [Kernel::Avx512, Kernel::Avx2, Kernel::Scalar] {
            if kernel.lanes() > here.lanes() {
                continue; // this CPU cannot run it
            }
            for lanes in 1..=kernel.lanes() {
                let msgs: Vec<Vec<u8>> = (0..lanes)
                    .map(|l| bytes(l as u64 * 31 + 5, 3 * BLOCK + l))
                    .collect();
                let mut states = vec![INIT; lanes];
                // Two calls, to see the chaining value carried across.
                for part in [0..BLOCK, BLOCK..3 * BLOCK] {
                    let data: Vec<&[u8]> = msgs.iter().map(|m| &m[part.clone()]).collect();
                    compress_lanes(kernel, &mut states, &data);
                }
                for (l, (st, m)) in states.iter().zip(&msgs).enumerate() {
                    let got = finish(*st, &m[3 * BLOCK..], m.len() as u64);
                    let want = <[u8; 16]>::from(md5::Md5::digest(m));
                    assert_eq!(got, want, "{kernel:?} lane {l} of {lanes}");
                }
            }
        }
    }
}
